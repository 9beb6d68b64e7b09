//! 走访台账: the list (by org node, worker, date range and review state; sorted and paginated
//! in SQL) and the ledger page (house calls with checklist answers, problems solved on the spot
//! or reported, photo placeholders, patrol findings, review history), with approve and return.

use std::collections::BTreeMap;

use askama::Template;
use axum::Json;
use axum::extract::{Path, State};

use super::session::{F, Q};
use super::write;
use axum::response::{IntoResponse, Redirect, Response};
use gridbook_core::doc;
use gridbook_core::domain::{ChecklistTemplate, HouseCall, Patrol};
use gridbook_core::review::{self, ReviewEntry};
use serde::{Deserialize, Serialize};

use super::{Area, Lang, Layout, PageError, PageResult, Viewer, html, invalid, not_found, parse_day, run, urlencode};
use crate::error::{ApiError, ApiResult};
use crate::http::AppState;
use crate::storage::Storage;
pub use crate::storage::review::ledgers::{LEDGER_SORTS, LedgerFilter, LedgerListRow};

/// Rows per page.
pub const PAGE_SIZE: usize = 50;

/// The list's query string (all text, parsed into typed errors).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LedgerQuery {
    /// Org node.
    pub node: Option<String>,
    /// Worker account id.
    pub worker: Option<String>,
    /// First day.
    pub from: Option<String>,
    /// Last day.
    pub to: Option<String>,
    /// Review state.
    pub state: Option<String>,
    /// Sort column.
    pub sort: Option<String>,
    /// `asc` or `desc`.
    pub dir: Option<String>,
    /// Page, from 1.
    pub page: Option<String>,
    /// Language (read by the session).
    pub lang: Option<String>,
}

impl LedgerQuery {
    /// Check the query against the viewer's area.
    pub fn filter(&self, area: &Area) -> ApiResult<LedgerFilter> {
        let grids = area.grids_under(self.node.as_deref())?;
        let worker = self.worker.clone().filter(|w| !w.is_empty());
        if let Some(w) = &worker {
            area.check_worker(w)?;
        }
        let from = parse_day("from", self.from.as_deref())?;
        let to = parse_day("to", self.to.as_deref())?;
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(invalid("invalid_range", "to", "the range ends before it starts"));
        }
        let state = self.state.clone().filter(|s| !s.is_empty());
        if let Some(s) = &state
            && !["draft", "submitted", "approved", "returned"].contains(&s.as_str())
        {
            return Err(invalid(
                "invalid_state",
                "state",
                "draft, submitted, approved or returned",
            ));
        }
        let sort_key = self
            .sort
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "day".into());
        let sort = LEDGER_SORTS
            .iter()
            .find(|(k, _)| *k == sort_key)
            .map(|(_, c)| *c)
            .ok_or_else(|| invalid("invalid_sort", "sort", "unknown sort column"))?;
        let desc = match self.dir.as_deref() {
            None | Some("") | Some("desc") => true,
            Some("asc") => false,
            Some(_) => return Err(invalid("invalid_sort", "dir", "asc or desc")),
        };
        let page = match self.page.as_deref().filter(|p| !p.is_empty()) {
            None => 1,
            Some(p) => p
                .parse::<usize>()
                .ok()
                .filter(|p| (1..=100_000).contains(p))
                .ok_or_else(|| invalid("invalid_page", "page", "a page number from 1"))?,
        };
        Ok(LedgerFilter {
            grids,
            worker,
            from: from.map(|d| d.to_string()),
            to: to.map(|d| d.to_string()),
            state,
            sort,
            sort_key,
            desc,
            page,
        })
    }

    /// The query string without page/sort (for links).
    pub fn base_query(&self) -> String {
        let mut q = Vec::new();
        for (k, v) in [
            ("node", &self.node),
            ("worker", &self.worker),
            ("from", &self.from),
            ("to", &self.to),
            ("state", &self.state),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                q.push(format!("{k}={}", urlencode(v)));
            }
        }
        q.join("&")
    }
}

/// A page of the list.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerPage {
    /// Rows of this page.
    pub rows: Vec<LedgerListRow>,
    /// Rows matching the filter.
    pub total: usize,
    /// This page (from 1).
    pub page: usize,
    /// Pages.
    pub pages: usize,
}

/// Visit each ledger matching `f` in order (`limit` rows from `offset`; `None`: all), for
/// pages and exports alike.
pub fn query_rows(
    storage: &dyn Storage,
    f: &LedgerFilter,
    limit: Option<usize>,
    offset: usize,
    mut each: impl FnMut(LedgerListRow) -> ApiResult<()>,
) -> ApiResult<()> {
    let mut failed = None;
    storage.ledger_rows(f, limit, offset, &mut |r| match each(r) {
        Ok(()) => true,
        Err(e) => {
            failed = Some(e);
            false
        }
    })?;
    failed.map_or(Ok(()), Err)
}

/// Count the ledgers matching `f`.
pub fn count(storage: &dyn Storage, f: &LedgerFilter) -> ApiResult<usize> {
    Ok(storage.ledger_count(f)?)
}

/// One page of the list.
pub fn list(storage: &dyn Storage, f: &LedgerFilter) -> ApiResult<LedgerPage> {
    let total = count(storage, f)?;
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = f.page.min(pages);
    let mut rows = Vec::with_capacity(PAGE_SIZE);
    query_rows(storage, f, Some(PAGE_SIZE), (page - 1) * PAGE_SIZE, |r| {
        rows.push(r);
        Ok(())
    })?;
    Ok(LedgerPage {
        rows,
        total,
        page,
        pages,
    })
}

#[derive(Template)]
#[template(path = "review/ledgers.html")]
struct ListPage {
    l: Layout,
    q: LedgerQuery,
    base: String,
    sort: String,
    desc: bool,
    nodes: Vec<(String, String)>,
    workers: Vec<(String, String)>,
    data: LedgerPage,
}

impl ListPage {
    fn state_label(&self, s: &str) -> &'static str {
        self.l.lang.review_state(s)
    }
    fn sel(&self, field: Option<&str>, v: &str) -> bool {
        field == Some(v)
    }
    fn sort_href(&self, key: &str) -> String {
        let dir = if self.sort == key && self.desc { "asc" } else { "desc" };
        format!("/review/ledgers?{}&sort={key}&dir={dir}", self.base)
    }
    fn sort_mark(&self, key: &str) -> &'static str {
        match (self.sort == key, self.desc) {
            (true, true) => " ▼",
            (true, false) => " ▲",
            _ => "",
        }
    }
    fn page_href(&self, page: usize) -> String {
        let dir = if self.desc { "desc" } else { "asc" };
        format!("/review/ledgers?{}&sort={}&dir={dir}&page={page}", self.base, self.sort)
    }
    fn export_href(&self, ext: &str) -> String {
        let dir = if self.desc { "desc" } else { "asc" };
        format!(
            "/review/exports/ledgers.{ext}?{}&sort={}&dir={dir}",
            self.base, self.sort
        )
    }
    fn val<'a>(&self, v: Option<&'a str>) -> &'a str {
        v.unwrap_or("")
    }
}

fn here(path: &str, raw: Option<&str>) -> String {
    match raw {
        Some(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_string(),
    }
}

/// `GET /review/ledgers`
pub async fn list_page(
    State(app): State<AppState>,
    viewer: Viewer,
    uri: axum::http::Uri,
    Q(q): Q<LedgerQuery>,
) -> PageResult {
    let lang = viewer.lang;
    run(move || {
        let area = Area::load(&*app.storage, &viewer)?;
        let f = q.filter(&area)?;
        let data = list(&*app.storage, &f)?;
        let page = ListPage {
            l: Layout::new(&viewer, &area, "ledgers", here("/review/ledgers", uri.query())),
            base: q.base_query(),
            sort: f.sort_key.clone(),
            desc: f.desc,
            nodes: area.node_options(),
            workers: area.workers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            q,
            data,
        };
        Ok(page)
    })
    .await
    .map_err(|e| PageError::new(e, lang))
    .and_then(|p| html(&p, lang))
}

/// `GET /review/api/ledgers`
pub async fn list_api(State(app): State<AppState>, viewer: Viewer, Q(q): Q<LedgerQuery>) -> ApiResult<Response> {
    let page = run(move || {
        let area = Area::load(&*app.storage, &viewer)?;
        list(&*app.storage, &q.filter(&area)?)
    })
    .await?;
    Ok(Json(page).into_response())
}

/// A checklist answer with its label.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerView {
    /// Item label.
    pub label: String,
    /// Answer text.
    pub value: String,
}

/// A problem found.
#[derive(Debug, Clone, Serialize)]
pub struct ProblemView {
    /// Kind key.
    pub kind: String,
    /// Description.
    pub description: String,
    /// 当场解决
    pub solved_on_spot: bool,
    /// 上报
    pub reported: bool,
}

/// A person met (masked).
#[derive(Debug, Clone, Serialize)]
pub struct PersonView {
    /// Name, masked.
    pub name: String,
    /// ID number, masked.
    pub id_number: String,
    /// Phone, masked.
    pub phone: String,
    /// Relation.
    pub relation: String,
}

/// A house call of the ledger's day.
#[derive(Debug, Clone, Serialize)]
pub struct CallView {
    /// Record id.
    pub id: String,
    /// Household address.
    pub address: String,
    /// Start–end (China time).
    pub time: String,
    /// Persons met.
    pub persons: Vec<PersonView>,
    /// Answers.
    pub answers: Vec<AnswerView>,
    /// Problems.
    pub problems: Vec<ProblemView>,
    /// Photo hashes.
    pub photos: Vec<String>,
    /// Notes.
    pub notes: String,
}

/// A review step.
#[derive(Debug, Clone, Serialize)]
pub struct StepView {
    /// Action key.
    pub action: String,
    /// Actor.
    pub actor: String,
    /// When (China time).
    pub at: String,
    /// Comment.
    pub comment: String,
    /// Skipped as a conflict.
    pub conflict: bool,
}

/// Everything the ledger page shows.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerDetail {
    /// The list row.
    pub row: LedgerListRow,
    /// Summary notes of the ledger.
    pub notes: String,
    /// House calls that day.
    pub calls: Vec<CallView>,
    /// Patrol findings that day.
    pub patrol_findings: Vec<ProblemView>,
    /// Review history.
    pub steps: Vec<StepView>,
    /// Whether approve / return are open to the viewer.
    pub can_approve: bool,
    /// Whether return is open.
    pub can_return: bool,
}

fn load_json(storage: &dyn Storage, id: &str) -> ApiResult<Option<automerge::AutoCommit>> {
    let bytes = storage.load_docs(&[id.to_string()])?.remove(id);
    bytes
        .map(|b| automerge::AutoCommit::load(&b).map_err(|e| ApiError::Core(e.into())))
        .transpose()
}

fn answer_text(v: &serde_json::Value, lang: Lang) -> String {
    match v {
        serde_json::Value::Bool(true) => lang.t("yes").into(),
        serde_json::Value::Bool(false) => lang.t("no").into(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "—".into(),
        other => other.to_string(),
    }
}

/// Load one ledger for the viewer (`not_found` outside its area).
pub fn detail(storage: &dyn Storage, area: &Area, viewer: &Viewer, id: &str) -> ApiResult<LedgerDetail> {
    let grid = storage.ledger_grid(id)?;
    let grid = grid.filter(|g| area.has_grid(g)).ok_or_else(|| not_found("ledger"))?;
    let f = LedgerFilter {
        grids: vec![grid],
        worker: None,
        from: None,
        to: None,
        state: None,
        sort: "l.day",
        sort_key: "day".into(),
        desc: true,
        page: 1,
    };
    let mut row = None;
    // The one row of this id: filter by its grid and pick it.
    let sql_row = |storage: &dyn Storage| -> ApiResult<Option<LedgerListRow>> {
        let (worker, day) = storage.ledger_worker_day(id)?;
        let mut found = None;
        let f = LedgerFilter {
            worker: Some(worker),
            from: Some(day.clone()),
            to: Some(day),
            ..f.clone()
        };
        query_rows(storage, &f, None, 0, |r| {
            if r.id == id {
                found = Some(r);
            }
            Ok(())
        })?;
        Ok(found)
    };
    if let Some(r) = sql_row(storage)? {
        row = Some(r);
    }
    let row = row.ok_or_else(|| not_found("ledger"))?;
    let lang = viewer.lang;
    let ledger_doc = load_json(storage, id)?.ok_or_else(|| not_found("ledger"))?;
    let notes = doc::body::read(&ledger_doc)
        .unwrap_or_default()
        .get("notes")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let entries: Vec<ReviewEntry> = doc::history::parse(&doc::history::read(&ledger_doc));
    let folded = review::fold(&entries);
    let steps = entries
        .iter()
        .map(|e| StepView {
            action: e.action.clone(),
            actor: area.worker_name(&e.actor).to_string(),
            at: super::fmt_cn(e.at),
            comment: e.comment.clone().unwrap_or_default(),
            conflict: folded.conflicts.contains(&e.id),
        })
        .collect();
    let role = viewer.account.role;
    let can_approve = review::next(folded.state, "approve", role).is_some();
    let can_return = review::next(folded.state, "return", role).is_some();
    // Templates by (id, version), loaded once.
    let mut templates: BTreeMap<(String, u32), Option<ChecklistTemplate>> = BTreeMap::new();
    let mut calls = Vec::new();
    let ids = storage.house_calls_of(&row.worker, &row.day)?;
    for (cid, address) in ids {
        let Some(d) = load_json(storage, &cid)? else { continue };
        let Ok(call) = serde_json::from_value::<HouseCall>(doc::body::read(&d).unwrap_or_default()) else {
            continue;
        };
        if !area.has_grid(&call.grid_id) {
            continue;
        }
        let key = (call.template_id.clone(), call.template_version);
        if !templates.contains_key(&key) {
            let json = storage.template_version_json(&key.0, key.1)?;
            let builtin = ChecklistTemplate::builtin();
            let t = json
                .and_then(|j| ChecklistTemplate::from_json(&j).ok())
                .or_else(|| (builtin.template_id == key.0 && builtin.version == key.1).then_some(builtin));
            templates.insert(key.clone(), t);
        }
        let template = templates.get(&key).and_then(Option::as_ref);
        let answers = call
            .answers
            .iter()
            .map(|(item, v)| AnswerView {
                label: template
                    .and_then(|t| t.item(item))
                    .map_or_else(|| item.clone(), |i| i.label.clone()),
                value: answer_text(v, lang),
            })
            .collect();
        let mut persons = Vec::new();
        for pid in &call.person_ids {
            let p = storage.masked_person(pid)?.map(|p| PersonView {
                name: p.name,
                id_number: p.id_number,
                phone: p.phone,
                relation: p.relation,
            });
            persons.extend(p);
        }
        calls.push(CallView {
            id: cid,
            address,
            time: format!(
                "{}–{}",
                super::fmt_cn(call.started_at),
                (call.ended_at + chrono::Duration::hours(8)).format("%H:%M")
            ),
            persons,
            answers,
            problems: call
                .problems
                .iter()
                .map(|p| ProblemView {
                    kind: p.kind.clone(),
                    description: p.description.clone(),
                    solved_on_spot: p.solved_on_spot,
                    reported: p.reported,
                })
                .collect(),
            photos: call.photos.clone(),
            notes: call.notes.clone(),
        });
    }
    let mut patrol_findings = Vec::new();
    let patrols = storage.patrols_of(&row.worker, &row.day)?;
    for pid in patrols {
        let Some(d) = load_json(storage, &pid)? else { continue };
        if let Ok(p) = serde_json::from_value::<Patrol>(doc::body::read(&d).unwrap_or_default()) {
            patrol_findings.extend(p.findings.iter().map(|f| ProblemView {
                kind: f.kind.clone(),
                description: f.description.clone(),
                solved_on_spot: f.solved_on_spot,
                reported: f.reported,
            }));
        }
    }
    Ok(LedgerDetail {
        row,
        notes,
        calls,
        patrol_findings,
        steps,
        can_approve,
        can_return,
    })
}

#[derive(Template)]
#[template(path = "review/ledger.html")]
struct DetailPage {
    l: Layout,
    d: LedgerDetail,
    done: Option<String>,
}

impl DetailPage {
    fn state_label(&self, s: &str) -> &'static str {
        self.l.lang.review_state(s)
    }
    fn action_label(&self, s: &str) -> &'static str {
        self.l.lang.review_action(s)
    }
    fn kind_label(&self, s: &str) -> &'static str {
        self.l.lang.problem_kind(s)
    }
    fn handling(&self, p: &ProblemView) -> &'static str {
        if p.solved_on_spot {
            self.l.t("solved_on_spot")
        } else if p.reported {
            self.l.t("reported")
        } else {
            "—"
        }
    }
    fn short(&self, h: &str) -> String {
        h.chars().take(8).collect()
    }
}

/// `?done=` after an action.
#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

/// `GET /review/ledgers/{id}`
pub async fn detail_page(
    State(app): State<AppState>,
    viewer: Viewer,
    uri: axum::http::Uri,
    Path(id): Path<String>,
    Q(dq): Q<DoneQuery>,
) -> PageResult {
    let lang = viewer.lang;
    run(move || {
        let area = Area::load(&*app.storage, &viewer)?;
        let d = detail(&*app.storage, &area, &viewer, &id)?;
        Ok(DetailPage {
            l: Layout::new(&viewer, &area, "ledgers", here(uri.path(), uri.query())),
            d,
            done: dq.done.filter(|d| ["approve", "return"].contains(&d.as_str())),
        })
    })
    .await
    .map_err(|e| PageError::new(e, lang))
    .and_then(|p| html(&p, lang))
}

/// `GET /review/api/ledgers/{id}`
pub async fn detail_api(State(app): State<AppState>, viewer: Viewer, Path(id): Path<String>) -> ApiResult<Response> {
    let d = run(move || {
        let area = Area::load(&*app.storage, &viewer)?;
        detail(&*app.storage, &area, &viewer, &id)
    })
    .await?;
    Ok(Json(d).into_response())
}

/// Approve or return.
#[derive(Debug, Deserialize)]
pub struct ReviewForm {
    /// `approve` or `return`.
    pub action: String,
    /// 退回意见
    #[serde(default)]
    pub comment: Option<String>,
}

async fn do_review(app: &AppState, viewer: Viewer, id: String, form: ReviewForm) -> ApiResult<String> {
    write::locked(app, move |storage| {
        write::review_ledger(storage, &viewer, &id, &form.action, form.comment.as_deref())
            .map(|s| s.as_str().to_string())
    })
    .await
}

/// `POST /review/ledgers/{id}/review` (form)
pub async fn review_form(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    F(form): F<ReviewForm>,
) -> Result<Redirect, PageError> {
    let lang = viewer.lang;
    let action = form.action.clone();
    do_review(&app, viewer, id.clone(), form)
        .await
        .map_err(|e| PageError::new(e, lang))?;
    Ok(Redirect::to(&format!(
        "/review/ledgers/{}?done={}",
        urlencode(&id),
        urlencode(&action)
    )))
}

/// `POST /review/api/ledgers/{id}/review` (JSON `{action, comment}`)
pub async fn review_api(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let form: ReviewForm = crate::error::parse_json(&body)?;
    let state = do_review(&app, viewer, id.clone(), form).await?;
    Ok(Json(serde_json::json!({"id": id, "review_state": state})).into_response())
}
