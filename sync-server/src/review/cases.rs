//! 接诉即办 case board: the area's cases by stage with their deadline light (正常 / 黄灯 / 红灯 /
//! 超期, from [`workflow::deadline_status`]), requests waiting to be claimed, and a case page whose
//! buttons are the workflow actions open to the supervisor (分派, 督办 with a card level, 催办,
//! 批准延期, 督查验证, 归档 ...), each appended through [`super::write::case_action`].

use std::collections::BTreeMap;

use askama::Template;
use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};

use super::session::Q;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use gridbook_core::doc;
use gridbook_core::domain::{Case, CaseKind};
use gridbook_core::parse_history;
use gridbook_core::workflow::{self, CaseClass, CaseState, DeadlineLevel, ParamType, Transition};
use gridbook_core::{RuleBook, RulePins, Rules, default_rules};
use serde::{Deserialize, Serialize};

use super::i18n::{deadline_class, deadline_key};
use super::{Area, Lang, Layout, PageError, PageResult, Viewer, html, invalid, not_found, run, urlencode};
use crate::error::{ApiError, ApiResult};
use crate::http::AppState;
use crate::storage::Storage;

/// Rows per page of the board.
pub const PAGE_SIZE: usize = 50;

/// A case on the board.
#[derive(Debug, Clone, Serialize)]
pub struct BoardRow {
    /// Record id.
    pub id: String,
    /// `incident` or `request`.
    pub kind: String,
    /// Title.
    pub title: String,
    /// Grid id.
    pub grid_id: String,
    /// Grid name.
    pub grid_name: String,
    /// Category key.
    pub category: String,
    /// State key.
    pub state: String,
    /// Stage key.
    pub stage: Option<String>,
    /// Deadline of the current stage.
    pub deadline: Option<DateTime<Utc>>,
    /// Its light.
    pub level: Option<DeadlineLevel>,
    /// Highest supervision card.
    pub card: Option<String>,
    /// 催办 count.
    pub urges: u32,
    /// Department dispatched to.
    pub department: Option<String>,
    /// Pending extension days.
    pub pending_extension: Option<u32>,
    /// When it happened.
    pub occurred_at: String,
    /// Whether the state is terminal under the case's own workflow version.
    #[serde(skip)]
    pub closed: bool,
}

/// Board filters.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BoardQuery {
    /// Org node.
    pub node: Option<String>,
    /// Stage key.
    pub stage: Option<String>,
    /// State key.
    pub state: Option<String>,
    /// Deadline light: on_time / yellow / red / overdue.
    pub level: Option<String>,
    /// `incident` / `request`.
    pub kind: Option<String>,
    /// Page from 1.
    pub page: Option<String>,
    /// Language.
    pub lang: Option<String>,
}

/// The board: a page of cases and the counts per stage and light.
#[derive(Debug, Clone, Serialize)]
pub struct Board {
    /// Rows of the page.
    pub rows: Vec<BoardRow>,
    /// Matching rows.
    pub total: usize,
    /// Page.
    pub page: usize,
    /// Pages.
    pub pages: usize,
    /// Open cases per stage key.
    pub by_stage: BTreeMap<String, usize>,
    /// Open cases per light key.
    pub by_level: BTreeMap<String, usize>,
    /// Requests waiting to be claimed.
    pub claims: Vec<BoardRow>,
}

/// The rules a case document pins, as the server holds them (see `gridbook_core::RulePins`).
pub fn doc_rules(book: &RuleBook, doc: &automerge::AutoCommit) -> Rules {
    book.rules_for(RulePins::of_doc(doc).unwrap_or_default())
}

fn state_of(bytes: &[u8], book: &RuleBook) -> Option<(Case, CaseState, Rules)> {
    let doc = automerge::AutoCommit::load(bytes).ok()?;
    let case: Case = serde_json::from_value(doc::body::read(&doc).unwrap_or_default()).ok()?;
    let transitions = parse_history(&doc::history::read(&doc));
    let rules = doc_rules(book, &doc);
    let state = workflow::fold(&rules.definition, &transitions);
    Some((case, state, rules))
}

fn board_row(
    id: String,
    grid_name: String,
    case: &Case,
    state: &CaseState,
    rules: &Rules,
    now: DateTime<Utc>,
) -> BoardRow {
    let class = CaseClass {
        category: &case.category,
        subcategory: case.subcategory.as_deref(),
        scale: &case.scale,
    };
    let dl = workflow::deadline_status(&rules.limits, &rules.calendar, state, &class, now)
        .ok()
        .flatten();
    BoardRow {
        id,
        kind: match case.case_kind {
            CaseKind::Incident => "incident".into(),
            CaseKind::Request => "request".into(),
        },
        title: case.title.clone(),
        grid_id: case.grid_id.clone(),
        grid_name,
        category: case.category.clone(),
        state: state.state.clone(),
        stage: state.stage.clone(),
        deadline: dl.as_ref().map(|d| d.deadline),
        level: dl.as_ref().map(|d| d.level),
        card: state
            .supervision
            .iter()
            .map(|s| s.card)
            .max()
            .map(|c| c.as_str().to_string()),
        urges: state.urge_count,
        department: state.department.clone(),
        pending_extension: state.pending_extension.as_ref().map(|p| p.days),
        occurred_at: super::fmt_cn(case.occurred_at),
        closed: rules.definition.is_terminal(&state.state),
    }
}

/// Rows folded per batch: the batch is spread over the cores, then handed on in order, so
/// memory stays bounded whatever the number of cases.
const SCAN_CHUNK: usize = 1024;

type Folded = Option<(BoardRow, Case)>;

fn fold_chunk(chunk: &[(String, String, Vec<u8>)], now: DateTime<Utc>, book: &RuleBook) -> ApiResult<Vec<Folded>> {
    let one = |(id, grid_name, bytes): &(String, String, Vec<u8>)| {
        state_of(bytes, book).map(|(case, state, rules)| {
            (
                board_row(id.clone(), grid_name.clone(), &case, &state, &rules, now),
                case,
            )
        })
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
    if threads == 1 || chunk.len() < 64 {
        return Ok(chunk.iter().map(one).collect());
    }
    let per = chunk.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = chunk
            .chunks(per)
            .map(|part| s.spawn(move || part.iter().map(one).collect::<Vec<_>>()))
            .collect();
        let mut out = Vec::with_capacity(chunk.len());
        for h in handles {
            out.extend(
                h.join()
                    .map_err(|_| ApiError::Internal("a fold thread panicked".into()))?,
            );
        }
        Ok(out)
    })
}

/// Every case of `grids` that has left 采集 (drafts stay on the phone), folded as of `now`, in
/// the order of the table (newest first).
pub fn scan(
    storage: &dyn Storage,
    area: &Area,
    grids: &[String],
    now: DateTime<Utc>,
    mut each: impl FnMut(BoardRow, &Case) -> ApiResult<()>,
) -> ApiResult<()> {
    let book = storage.rule_book()?;
    let mut failed = None;
    storage.case_docs(grids, SCAN_CHUNK, &mut |batch| {
        let chunk: Vec<(String, String, Vec<u8>)> = batch
            .into_iter()
            .map(|d| (d.id, area.name(&d.grid_id).to_string(), d.bytes))
            .collect();
        let folded = fold_chunk(&chunk, now, &book).and_then(|rows| {
            for (row, case) in rows.into_iter().flatten() {
                each(row, &case)?;
            }
            Ok(())
        });
        match folded {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    })?;
    failed.map_or(Ok(()), Err)
}

/// The board for a query.
pub fn board(storage: &dyn Storage, area: &Area, q: &BoardQuery, now: DateTime<Utc>) -> ApiResult<Board> {
    let grids = area.grids_under(q.node.as_deref())?;
    let want = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let (stage, state, level, kind) = (want(&q.stage), want(&q.state), want(&q.level), want(&q.kind));
    if let Some(l) = &level
        && !["on_time", "yellow", "red", "overdue"].contains(&l.as_str())
    {
        return Err(invalid("invalid_level", "level", "on_time, yellow, red or overdue"));
    }
    if let Some(k) = &kind
        && !["incident", "request"].contains(&k.as_str())
    {
        return Err(invalid("invalid_kind", "kind", "incident or request"));
    }
    let page = match q.page.as_deref().filter(|p| !p.is_empty()) {
        None => 1,
        Some(p) => p
            .parse::<usize>()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| invalid("invalid_page", "page", "a page number from 1"))?,
    };
    let mut all = Vec::new();
    let mut by_stage = BTreeMap::new();
    let mut by_level = BTreeMap::new();
    let mut claims = Vec::new();
    scan(storage, area, &grids, now, |r, _| {
        if r.closed {
            return Ok(());
        }
        *by_stage
            .entry(r.stage.clone().unwrap_or_else(|| "none".into()))
            .or_insert(0) += 1;
        *by_level.entry(deadline_key(r.level).to_string()).or_insert(0) += 1;
        if r.state == "open_for_claim" {
            claims.push(r.clone());
        }
        let keep = stage.as_ref().is_none_or(|s| r.stage.as_deref() == Some(s.as_str()))
            && state.as_ref().is_none_or(|s| &r.state == s)
            && level.as_ref().is_none_or(|l| deadline_key(r.level) == l)
            && kind.as_ref().is_none_or(|k| &r.kind == k);
        if keep {
            all.push(r);
        }
        Ok(())
    })?;
    // Most urgent first: overdue, red, yellow, on time; then the earliest deadline.
    all.sort_by(|a, b| {
        b.level
            .cmp(&a.level)
            .then_with(|| a.deadline.is_none().cmp(&b.deadline.is_none()))
            .then_with(|| a.deadline.cmp(&b.deadline))
            .then_with(|| a.id.cmp(&b.id))
    });
    let total = all.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = page.min(pages);
    let rows = all.into_iter().skip((page - 1) * PAGE_SIZE).take(PAGE_SIZE).collect();
    Ok(Board {
        rows,
        total,
        page,
        pages,
        by_stage,
        by_level,
        claims,
    })
}

/// Labels of workflow keys: from the given rules (a case's), else the shipped ones.
pub struct Labels {
    lang: Lang,
    rules: Option<Rules>,
}

impl Labels {
    /// Labels in `lang`, from the shipped rules.
    pub fn new(lang: Lang) -> Labels {
        Labels { lang, rules: None }
    }
    /// Labels in `lang`, from `rules` first (a case's pinned versions).
    pub fn for_rules(lang: Lang, rules: Rules) -> Labels {
        Labels {
            lang,
            rules: Some(rules),
        }
    }
    fn rule_sets(&self) -> impl Iterator<Item = &Rules> {
        self.rules.iter().chain(std::iter::once(default_rules()))
    }
    /// A state's label.
    pub fn state(&self, key: &str) -> String {
        self.rule_sets().find_map(|r| r.definition.state(key)).map_or_else(
            || key.to_string(),
            |s| self.lang.pick(&s.label_zh, &s.label_en).to_string(),
        )
    }
    /// A stage's label.
    pub fn stage(&self, key: &str) -> String {
        self.rule_sets().find_map(|r| r.limits.stage(key)).map_or_else(
            || key.to_string(),
            |s| self.lang.pick(&s.label_zh, &s.label_en).to_string(),
        )
    }
    /// A category's label.
    pub fn category(&self, key: &str) -> String {
        self.rule_sets().find_map(|r| r.limits.category(key)).map_or_else(
            || key.to_string(),
            |s| self.lang.pick(&s.label_zh, &s.label_en).to_string(),
        )
    }
    /// An action's label.
    pub fn action(&self, key: &str) -> String {
        self.rule_sets().find_map(|r| r.definition.action(key)).map_or_else(
            || key.to_string(),
            |a| self.lang.pick(&a.label_zh, &a.label_en).to_string(),
        )
    }
    /// A card level's label.
    pub fn card(&self, key: &str) -> &'static str {
        let (zh, en) = match key {
            "normal" => ("普通督办", "supervised"),
            "yellow" => ("黄牌督办", "yellow card"),
            "red" => ("红牌督办", "red card"),
            _ => ("—", "—"),
        };
        self.lang.pick(zh, en)
    }
}

#[derive(Template)]
#[template(path = "review/cases.html")]
struct BoardPage {
    l: Layout,
    lb: Labels,
    q: BoardQuery,
    base: String,
    nodes: Vec<(String, String)>,
    stages: Vec<String>,
    b: Board,
}

impl BoardPage {
    fn level_label(&self, l: &Option<DeadlineLevel>) -> &'static str {
        self.l.lang.deadline(*l)
    }
    fn level_class(&self, l: &Option<DeadlineLevel>) -> &'static str {
        deadline_class(*l)
    }
    fn dt(&self, t: &Option<DateTime<Utc>>) -> String {
        t.map(super::fmt_cn).unwrap_or_else(|| "—".into())
    }
    fn sel(&self, field: Option<&str>, v: &str) -> bool {
        field == Some(v)
    }
    fn key_label(&self, k: &str) -> &'static str {
        let level = match k {
            "on_time" => Some(DeadlineLevel::OnTime),
            "yellow" => Some(DeadlineLevel::Yellow),
            "red" => Some(DeadlineLevel::Red),
            "overdue" => Some(DeadlineLevel::Overdue),
            _ => None,
        };
        self.l.lang.deadline(level)
    }
    fn count_stage(&self, s: &str) -> usize {
        self.b.by_stage.get(s).copied().unwrap_or(0)
    }
    fn count_level(&self, s: &str) -> usize {
        self.b.by_level.get(s).copied().unwrap_or(0)
    }
    fn page_href(&self, page: usize) -> String {
        format!("/review/cases?{}&page={page}", self.base)
    }
}

fn base_query(q: &BoardQuery) -> String {
    [
        ("node", &q.node),
        ("stage", &q.stage),
        ("state", &q.state),
        ("level", &q.level),
        ("kind", &q.kind),
    ]
    .iter()
    .filter_map(|(k, v)| {
        v.as_deref()
            .filter(|v| !v.is_empty())
            .map(|v| format!("{k}={}", urlencode(v)))
    })
    .collect::<Vec<_>>()
    .join("&")
}

/// `GET /review/cases`
pub async fn board_page(
    State(app): State<AppState>,
    viewer: Viewer,
    uri: axum::http::Uri,
    Q(q): Q<BoardQuery>,
) -> PageResult {
    let lang = viewer.lang;
    run(move || {
        let area = Area::load(&*app.storage, &viewer)?;
        let b = board(&*app.storage, &area, &q, Utc::now())?;
        let here = match uri.query() {
            Some(qs) => format!("/review/cases?{qs}"),
            None => "/review/cases".into(),
        };
        Ok(BoardPage {
            l: Layout::new(&viewer, &area, "cases", here),
            lb: Labels::new(viewer.lang),
            base: base_query(&q),
            nodes: area.node_options(),
            stages: ["accept", "dispatch", "handle", "verify", "feedback"]
                .map(String::from)
                .to_vec(),
            q,
            b,
        })
    })
    .await
    .map_err(|e| PageError::new(e, lang))
    .and_then(|p| html(&p, lang))
}

/// `GET /review/api/cases`
pub async fn list_api(State(app): State<AppState>, viewer: Viewer, Q(q): Q<BoardQuery>) -> ApiResult<Response> {
    let b = run(move || {
        let area = Area::load(&*app.storage, &viewer)?;
        board(&*app.storage, &area, &q, Utc::now())
    })
    .await?;
    Ok(Json(b).into_response())
}

/// A parameter input of an action form.
#[derive(Debug, Clone, Serialize)]
pub struct ParamInput {
    /// Parameter name.
    pub name: String,
    /// Label.
    pub label: String,
    /// `select`, `number` or `text`.
    pub input: &'static str,
    /// Choices of a select (value, label).
    pub choices: Vec<(String, String)>,
    /// Required.
    pub required: bool,
}

/// An action open to the viewer, as a form.
#[derive(Debug, Clone, Serialize)]
pub struct ActionForm {
    /// Action key.
    pub name: String,
    /// Label.
    pub label: String,
    /// Inputs.
    pub params: Vec<ParamInput>,
    /// A reason is required.
    pub reason_required: bool,
}

/// A history entry.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryView {
    /// Action label.
    pub action: String,
    /// Actor.
    pub actor: String,
    /// When.
    pub at: String,
    /// Reason.
    pub reason: String,
    /// Parameters, rendered.
    pub params: String,
}

/// The case page's content.
#[derive(Debug, Clone, Serialize)]
pub struct CaseDetail {
    /// Board row.
    pub row: BoardRow,
    /// Description.
    pub description: String,
    /// Address.
    pub address: String,
    /// Resident phone, masked.
    pub resident_phone: String,
    /// History.
    pub history: Vec<HistoryView>,
    /// Actions open to the viewer.
    pub actions: Vec<ActionForm>,
    /// The rules the case is handled with (its pinned versions).
    #[serde(skip)]
    pub rules: Rules,
}

/// Load a case for the viewer (`not_found` outside its area).
pub fn detail(
    storage: &dyn Storage,
    area: &Area,
    viewer: &Viewer,
    id: &str,
    now: DateTime<Utc>,
) -> ApiResult<CaseDetail> {
    let found: Option<(String, Vec<u8>)> = storage.case_doc(id).ok().flatten().map(|d| (d.grid_id, d.bytes));
    let (grid, bytes) = found
        .filter(|(g, _)| area.has_grid(g))
        .ok_or_else(|| not_found("case"))?;
    let doc = automerge::AutoCommit::load(&bytes).map_err(|e| ApiError::Core(e.into()))?;
    let case: Case =
        serde_json::from_value(doc::body::read(&doc).unwrap_or_default()).map_err(|_| not_found("case"))?;
    let transitions: Vec<Transition> = parse_history(&doc::history::read(&doc));
    let rules = doc_rules(&storage.rule_book()?, &doc);
    let state = workflow::fold(&rules.definition, &transitions);
    let lb = Labels::for_rules(viewer.lang, rules.clone());
    let lang = viewer.lang;
    let depts = storage.departments()?;
    let dept_name = |id: &str| {
        depts
            .iter()
            .find(|(d, _)| d == id)
            .map_or(id.to_string(), |(_, n)| n.clone())
    };
    let mut row = board_row(id.to_string(), area.name(&grid).to_string(), &case, &state, &rules, now);
    row.department = row.department.as_deref().map(dept_name);
    let role = viewer.account.role;
    let actions = workflow::available_actions(&rules.definition, &state, role, role.level())
        .into_iter()
        .map(|a| ActionForm {
            name: a.name.clone(),
            label: lang.pick(&a.label_zh, &a.label_en).to_string(),
            reason_required: a.reason_required,
            params: a
                .params
                .iter()
                .map(|p| {
                    let (input, choices) = match p.kind {
                        ParamType::Choice => (
                            "select",
                            p.values
                                .iter()
                                .map(|c| {
                                    let label = if p.name == "card" {
                                        lb.card(&c.key).to_string()
                                    } else {
                                        c.label_zh.clone()
                                    };
                                    (c.key.clone(), label)
                                })
                                .collect(),
                        ),
                        _ if p.name == "department" => ("select", depts.clone()),
                        ParamType::Int => ("number", vec![]),
                        _ => ("text", vec![]),
                    };
                    ParamInput {
                        name: p.name.clone(),
                        label: p.label_zh.clone(),
                        input,
                        choices,
                        required: p.required,
                    }
                })
                .collect(),
        })
        .collect();
    let history = transitions
        .iter()
        .map(|t| HistoryView {
            action: lb.action(&t.action),
            actor: t.actor.clone(),
            at: super::fmt_cn(t.at),
            reason: t.reason.clone().unwrap_or_default(),
            params: t
                .params
                .iter()
                .map(|(k, v)| match k.as_str() {
                    "department" => format!("{k}={}", dept_name(v)),
                    "card" => format!("{k}={}", lb.card(v)),
                    _ => format!("{k}={v}"),
                })
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    Ok(CaseDetail {
        row,
        description: case.description.clone(),
        address: case.address.clone(),
        resident_phone: case
            .resident_phone
            .as_deref()
            .map(gridbook_core::mask_phone)
            .unwrap_or_default(),
        history,
        actions,
        rules,
    })
}

#[derive(Template)]
#[template(path = "review/case.html")]
struct DetailPage {
    l: Layout,
    lb: Labels,
    d: CaseDetail,
    done: Option<String>,
}

impl DetailPage {
    fn level_label(&self, l: &Option<DeadlineLevel>) -> &'static str {
        self.l.lang.deadline(*l)
    }
    fn level_class(&self, l: &Option<DeadlineLevel>) -> &'static str {
        deadline_class(*l)
    }
    fn dt(&self, t: &Option<DateTime<Utc>>) -> String {
        t.map(super::fmt_cn).unwrap_or_else(|| "—".into())
    }
    fn opt<'a>(&self, v: Option<&'a str>) -> &'a str {
        v.unwrap_or("—")
    }
}

/// `?done=`
#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

/// `GET /review/cases/{id}`
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
        let d = detail(&*app.storage, &area, &viewer, &id, Utc::now())?;
        let lb = Labels::for_rules(viewer.lang, d.rules.clone());
        let done = dq
            .done
            .filter(|a| d.rules.definition.action(a).is_some())
            .map(|a| lb.action(&a));
        Ok(DetailPage {
            l: Layout::new(&viewer, &area, "cases", uri.path().to_string()),
            lb,
            d,
            done,
        })
    })
    .await
    .map_err(|e| PageError::new(e, lang))
    .and_then(|p| html(&p, lang))
}

/// `GET /review/api/cases/{id}`
pub async fn detail_api(State(app): State<AppState>, viewer: Viewer, Path(id): Path<String>) -> ApiResult<Response> {
    let d = run(move || {
        let area = Area::load(&*app.storage, &viewer)?;
        detail(&*app.storage, &area, &viewer, &id, Utc::now())
    })
    .await?;
    Ok(Json(d).into_response())
}

/// An action request: `action`, optional `reason`, and parameters as `p_<name>` (form) or
/// `params` (JSON).
#[derive(Debug, Deserialize)]
pub struct ActionRequest {
    /// Action key.
    pub action: String,
    /// Reason.
    #[serde(default)]
    pub reason: Option<String>,
    /// Parameters.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

async fn do_action(app: &AppState, viewer: Viewer, id: String, req: ActionRequest) -> ApiResult<String> {
    if req.action.len() > 64 || req.params.len() > 16 {
        return Err(invalid("unknown_action", "action", "no such action"));
    }
    write::locked_case(app, viewer, id, req).await
}

mod write {
    use super::*;

    pub async fn locked_case(app: &AppState, viewer: Viewer, id: String, req: ActionRequest) -> ApiResult<String> {
        super::super::write::locked(app, move |storage| {
            super::super::write::case_action(storage, &viewer, &id, &req.action, req.reason.as_deref(), req.params)
        })
        .await
    }
}

/// `POST /review/cases/{id}/action` (form: `action`, `reason`, `p_<param>`)
pub async fn action_form(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    form: Result<Form<BTreeMap<String, String>>, FormRejection>,
) -> Result<Redirect, PageError> {
    let lang = viewer.lang;
    let Form(form) = form.map_err(|e| {
        tracing::info!(detail = %e.body_text(), "unreadable action form");
        let e = ApiError::BadBody {
            en: "the form is incomplete or malformed".into(),
            zh: "表单不完整或格式不对".into(),
        };
        PageError::new(e, lang)
    })?;
    let action = form.get("action").cloned().unwrap_or_default();
    let req = ActionRequest {
        action: action.clone(),
        reason: form.get("reason").cloned(),
        params: form
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("p_").map(|k| (k.to_string(), v.clone())))
            .collect(),
    };
    do_action(&app, viewer, id.clone(), req)
        .await
        .map_err(|e| PageError::new(e, lang))?;
    Ok(Redirect::to(&format!(
        "/review/cases/{}?done={}",
        urlencode(&id),
        urlencode(&action)
    )))
}

/// `POST /review/api/cases/{id}/action` (JSON [`ActionRequest`])
pub async fn action_api(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let req: ActionRequest = crate::error::parse_json(&body)?;
    let to = do_action(&app, viewer, id.clone(), req).await?;
    Ok(Json(serde_json::json!({"id": id, "state": to})).into_response())
}
