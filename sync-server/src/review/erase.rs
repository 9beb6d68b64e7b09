//! 擦除人员信息: the district admin's erase form (crypto-shredding, issue 9, ADR 0004), under
//! `/review/admin/erase`. District admins only: anyone else gets 404.
//!
//! 1. `GET /review/admin/erase?q=…` finds persons by household address (part of it) or record
//!    id, listed masked (the query tables' masked name and ID number).
//! 2. `POST /review/admin/erase` with `person` and `reason` (required) shows a confirmation page:
//!    who (masked), where, the reason, and that it cannot be undone. Nothing is erased yet.
//! 3. The confirmation posts the same fields with `confirm=1`: [`crate::erasure::erase`] runs
//!    (same checks and audit entry as `POST /v1/admin/persons/{id}/erase` and the CLI).

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Deserialize;

use super::session::{F, Q};
use super::{Area, Lang, Layout, PageError, PageResult, Viewer, html, run};
use crate::erasure::{self, Via};
use crate::error::{ApiError, ApiResult};
use crate::http::AppState;
use crate::storage::Storage;
use crate::storage::review::erase::PersonMatch;

/// Most persons a search lists.
const MAX_MATCHES: usize = 50;

/// The erase form's routes (merged into the dashboard's router).
pub fn router() -> Router<AppState> {
    Router::new().route("/review/admin/erase", get(page).post(submit))
}

/// One person as the form lists it (masked, from the query tables).
#[derive(Debug, Clone)]
struct Match {
    id: String,
    name: String,
    id_number: String,
    relation: String,
    address: String,
    grid: String,
    erased: bool,
}

/// The step being confirmed.
#[derive(Debug, Clone)]
struct Confirm {
    person: Match,
    reason: String,
}

#[derive(Template)]
#[template(path = "review/admin_erase.html")]
struct ErasePage {
    l: Layout,
    notice: Option<String>,
    q: String,
    searched: bool,
    matches: Vec<Match>,
    confirm: Option<Confirm>,
}

impl ErasePage {
    fn tr(&self, zh: &'static str, en: &'static str) -> &'static str {
        match self.l.lang {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

fn only_admin(viewer: &Viewer) -> ApiResult<()> {
    if viewer.account.role == gridbook_core::domain::Role::DistrictAdmin {
        Ok(())
    } else {
        Err(ApiError::NotFound("page".into()))
    }
}

fn to_match(r: PersonMatch, area: &Area) -> Match {
    Match {
        grid: area.name(&r.grid_id).to_string(),
        id: r.id,
        name: r.name_masked,
        id_number: r.id_number_masked,
        relation: r.relation,
        address: r.address,
        erased: r.erased,
    }
}

/// Persons whose record id is `q` or whose household address contains it.
fn search(storage: &dyn Storage, area: &Area, q: &str) -> ApiResult<Vec<Match>> {
    Ok(storage
        .erase_search(q, MAX_MATCHES)?
        .into_iter()
        .map(|r| to_match(r, area))
        .collect())
}

/// One person by record id; 404 `not_found` for anything else. A deleted person (no query row,
/// its document still in every replica's history) can be erased too and is shown by id only.
fn person(storage: &dyn Storage, area: &Area, id: &str) -> ApiResult<Match> {
    if let Some(m) = storage.erase_person_row(id)? {
        return Ok(to_match(m, area));
    }
    let deleted_person = storage.deleted_person_erased(id)?;
    match deleted_person {
        Some(erased) => Ok(Match {
            id: id.to_string(),
            name: "—".into(),
            id_number: String::new(),
            relation: String::new(),
            address: String::new(),
            grid: String::new(),
            erased,
        }),
        None => Err(ApiError::NotFound("person".into())),
    }
}

#[derive(Debug, Default, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// `GET /review/admin/erase[?q=…]`: the search form and its matches.
async fn page(
    State(app): State<AppState>,
    super::admin::Admin(viewer): super::admin::Admin,
    Q(query): Q<SearchQuery>,
) -> PageResult {
    let lang = viewer.lang;
    run(move || {
        only_admin(&viewer)?;
        let area = Area::load(&*app.storage, &viewer)?;
        let q = query.q.trim().to_string();
        let matches = if q.is_empty() {
            vec![]
        } else {
            search(&*app.storage, &area, &q)?
        };
        Ok(ErasePage {
            l: Layout::new(&viewer, &area, "admin", "/review/admin/erase".into()),
            notice: None,
            searched: !q.is_empty(),
            q,
            matches,
            confirm: None,
        })
    })
    .await
    .map_err(|e| PageError::new(e, lang))
    .and_then(|p| html(&p, lang))
}

#[derive(Debug, Deserialize)]
struct EraseForm {
    #[serde(default)]
    person: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    confirm: String,
}

/// `POST /review/admin/erase` (form `person`, `reason`, `confirm`): without `confirm=1` the
/// confirmation page; with it, the erasure.
async fn submit(
    State(app): State<AppState>,
    super::admin::Admin(viewer): super::admin::Admin,
    F(form): F<EraseForm>,
) -> PageResult {
    let lang = viewer.lang;
    run(move || {
        only_admin(&viewer)?;
        let reason = erasure::check_reason(&form.reason)?;
        let id = form.person.trim().to_string();
        let area = Area::load(&*app.storage, &viewer)?;
        let target = person(&*app.storage, &area, &id)?;
        let l = Layout::new(&viewer, &area, "admin", "/review/admin/erase".into());
        if form.confirm != "1" {
            return Ok(ErasePage {
                l,
                notice: None,
                q: String::new(),
                searched: false,
                matches: vec![],
                confirm: Some(Confirm { person: target, reason }),
            });
        }
        let device = viewer.device.to_string();
        let seq = erasure::erase(
            app.storage.as_ref(),
            &id,
            &reason,
            &viewer.account.id,
            Some(&device),
            Via::Dashboard,
        )?;
        let notice = match lang {
            Lang::Zh => format!("已擦除：{id}（擦除序号 {seq}）。各设备在下次同步时删除该人员的密钥。"),
            Lang::En => format!("Erased: {id} (erasure seq {seq}). Devices drop the person's key at their next sync."),
        };
        Ok(ErasePage {
            l,
            notice: Some(notice),
            q: String::new(),
            searched: false,
            matches: vec![],
            confirm: None,
        })
    })
    .await
    .map_err(|e| PageError::new(e, lang))
    .and_then(|p| html(&p, lang))
}
