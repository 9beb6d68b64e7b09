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
use rusqlite::{Connection, OptionalExtension};
use serde::Deserialize;

use super::session::{F, Q};
use super::{Area, Lang, Layout, PageError, PageResult, Viewer, db_err, html, open_db, run};
use crate::AppState;
use crate::erasure::{self, Via};
use crate::error::{ApiError, ApiResult};

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

const MATCH_SQL: &str = "SELECT p.id, p.name_masked, coalesce(p.id_number_masked, ''), p.relation,
        coalesce(h.address, ''), p.grid_id, EXISTS (SELECT 1 FROM erasures e WHERE e.person_id = p.id)
     FROM persons p LEFT JOIN households h ON h.id = p.household_id";

fn row_to_match(r: &rusqlite::Row<'_>, area: &Area) -> rusqlite::Result<Match> {
    let grid: String = r.get(5)?;
    Ok(Match {
        id: r.get(0)?,
        name: r.get(1)?,
        id_number: r.get(2)?,
        relation: r.get(3)?,
        address: r.get(4)?,
        grid: area.name(&grid).to_string(),
        erased: r.get(6)?,
    })
}

/// Persons whose record id is `q` or whose household address contains it.
fn search(conn: &Connection, area: &Area, q: &str) -> ApiResult<Vec<Match>> {
    let mut stmt = conn
        .prepare(&format!(
            "{MATCH_SQL} WHERE p.id = ?1 OR instr(h.address, ?1) > 0 ORDER BY h.address, p.relation, p.id LIMIT {MAX_MATCHES}"
        ))
        .map_err(db_err)?;
    let rows = stmt
        .query_map([q], |r| row_to_match(r, area))
        .map_err(db_err)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(db_err)?;
    Ok(rows)
}

/// One person by record id; 404 `not_found` for anything else. A deleted person (no query row,
/// its document still in every replica's history) can be erased too and is shown by id only.
fn person(conn: &Connection, area: &Area, id: &str) -> ApiResult<Match> {
    if let Some(m) = conn
        .query_row(&format!("{MATCH_SQL} WHERE p.id = ?1"), [id], |r| row_to_match(r, area))
        .optional()
        .map_err(db_err)?
    {
        return Ok(m);
    }
    let deleted_person = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM erasures WHERE person_id = ?1) FROM docs WHERE id = ?1 AND kind = 'person'",
            [id],
            |r| r.get::<_, bool>(0),
        )
        .optional()
        .map_err(db_err)?;
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
        let conn = open_db(&app)?;
        let area = Area::load(&*app.storage, &viewer)?;
        let q = query.q.trim().to_string();
        let matches = if q.is_empty() {
            vec![]
        } else {
            search(&conn, &area, &q)?
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
        let conn = open_db(&app)?;
        let area = Area::load(&*app.storage, &viewer)?;
        let target = person(&conn, &area, &id)?;
        let l = Layout::new(&viewer, &area, "admin", "/review/admin/erase".into());
        drop(conn);
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
