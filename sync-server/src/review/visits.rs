//! 走访覆盖: visits done, due and overdue per grid and worker, as a table.
//!
//! "Due" follows the phone's rule (`gridbook_core::Store::visits_due`): every
//! household is due an ordinary visit every `household_frequency_days` of the active 3456
//! template, and each active person label that a 六访 item covers makes a visit due every
//! `frequency_days`; a visit counts from the last house call to the household unless the label
//! began after it; a household never visited is due from the day it was registered. Here the
//! same rule runs over the server's query tables for a whole grid at once.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::Json;
use axum::extract::State;

use super::session::Q;
use axum::response::{IntoResponse, Response};
use chrono::{Days, NaiveDate};
use gridbook_core::DEFAULT_TEMPLATE_ID;
use gridbook_core::domain::ChecklistTemplate;
use serde::{Deserialize, Serialize};

use super::{Area, Layout, PageError, PageResult, Viewer, html, run, today_cn};
use crate::error::ApiResult;
use crate::http::AppState;
use crate::storage::Storage;
use crate::storage::review::visits::GridVisits;

/// Coverage of one grid (and its worker).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Grid id.
    pub grid_id: String,
    /// Grid name.
    pub grid_name: String,
    /// Worker(s) bound to the grid.
    pub workers: String,
    /// Households.
    pub households: i64,
    /// House calls in the window.
    pub visits_done: i64,
    /// Households visited in the window.
    pub households_visited: i64,
    /// Visits due today or earlier.
    pub visits_due: i64,
    /// Of those, due before today (逾期).
    pub visits_overdue: i64,
    /// households_visited / households, percent.
    pub coverage_pct: i64,
}

/// The active template (latest version of the 3456 template).
pub fn active_template(storage: &dyn Storage) -> ApiResult<Option<ChecklistTemplate>> {
    let json = storage.template_json(DEFAULT_TEMPLATE_ID)?;
    Ok(json
        .and_then(|j| ChecklistTemplate::from_json(&j).ok())
        .or_else(|| Some(ChecklistTemplate::builtin())))
}

/// (due, overdue) visits of a grid on `today`.
pub fn due_counts(
    storage: &dyn Storage,
    grid: &str,
    today: NaiveDate,
    template: &ChecklistTemplate,
) -> ApiResult<(i64, i64)> {
    let mut by_label: HashMap<&str, Vec<(&str, u32)>> = HashMap::new();
    for item in template.items() {
        if let Some(freq) = item.frequency_days {
            for l in &item.labels {
                by_label.entry(l.as_str()).or_default().push((item.id.as_str(), freq));
            }
        }
    }
    let due_from = |last: Option<NaiveDate>, anchor: NaiveDate, freq: u32| match last {
        Some(l) if l >= anchor => l + Days::new(u64::from(freq)),
        _ => anchor,
    };
    let mut last_visit: HashMap<String, NaiveDate> = HashMap::new();
    let mut best: BTreeMap<(String, String, String), NaiveDate> = BTreeMap::new();
    let mut keep = |k: (String, String, String), due: NaiveDate| {
        let e = best.entry(k).or_insert(due);
        if due < *e {
            *e = due;
        }
    };
    for h in storage.grid_households(grid)? {
        let last: Option<NaiveDate> = h.last_visit.and_then(|d| d.parse().ok());
        if let Some(l) = last {
            last_visit.insert(h.id.clone(), l);
        }
        let Ok(registered) = h.registered_on.parse() else {
            continue;
        };
        keep(
            (h.id, String::new(), "household".into()),
            due_from(last, registered, template.household_frequency_days),
        );
    }
    for l in storage.active_labels(grid, &today.to_string())? {
        let Ok(start) = l.start_date.parse() else { continue };
        let last = last_visit.get(&l.household_id).copied();
        for (item, freq) in by_label.get(l.label.as_str()).into_iter().flatten() {
            keep(
                (l.household_id.clone(), l.person_id.clone(), (*item).to_string()),
                due_from(last, start, *freq),
            );
        }
    }
    let due = best.values().filter(|d| **d <= today).count() as i64;
    let overdue = best.values().filter(|d| **d < today).count() as i64;
    Ok((due, overdue))
}

/// Coverage of the grids under `node`, over the `window_days` before `today`.
pub fn coverage(
    storage: &dyn Storage,
    area: &Area,
    node: Option<&str>,
    today: NaiveDate,
    window_days: u64,
) -> ApiResult<Vec<Coverage>> {
    let grids = area.grids_under(node)?;
    let template = active_template(storage)?.unwrap_or_else(ChecklistTemplate::builtin);
    let since = (today - Days::new(window_days)).to_string();
    let mut out = Vec::new();
    for g in grids {
        let GridVisits {
            households,
            visits_done,
            households_visited,
        } = storage.grid_visits(&g, &since, &today.to_string())?;
        let (visits_due, visits_overdue) = due_counts(storage, &g, today, &template)?;
        let workers: Vec<&str> = area
            .workers
            .iter()
            .filter(|(id, _)| worker_grid(storage, id).as_deref() == Some(g.as_str()))
            .map(|(_, n)| n.as_str())
            .collect();
        out.push(Coverage {
            grid_name: area.name(&g).to_string(),
            workers: workers.join("、"),
            households,
            visits_done,
            households_visited,
            visits_due,
            visits_overdue,
            coverage_pct: if households > 0 {
                households_visited * 100 / households
            } else {
                0
            },
            grid_id: g,
        });
    }
    Ok(out)
}

fn worker_grid(storage: &dyn Storage, account: &str) -> Option<String> {
    storage.account(account).ok().flatten().map(|a| a.org_node)
}

/// Query of the visits page.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct VisitsQuery {
    /// Org node.
    pub node: Option<String>,
    /// Language.
    pub lang: Option<String>,
}

#[derive(Template)]
#[template(path = "review/visits.html")]
struct VisitsPage {
    l: Layout,
    q: VisitsQuery,
    nodes: Vec<(String, String)>,
    rows: Vec<Coverage>,
    today: String,
}

impl VisitsPage {
    fn sel(&self, v: &str) -> bool {
        self.q.node.as_deref() == Some(v)
    }
}

/// `GET /review/visits`
pub async fn page(State(app): State<AppState>, viewer: Viewer, Q(q): Q<VisitsQuery>) -> PageResult {
    let lang = viewer.lang;
    run(move || {
        let area = Area::load(&*app.storage, &viewer)?;
        let today = today_cn();
        let rows = coverage(&*app.storage, &area, q.node.as_deref(), today, 30)?;
        Ok(VisitsPage {
            l: Layout::new(&viewer, &area, "visits", "/review/visits".into()),
            nodes: area.node_options(),
            q,
            rows,
            today: today.to_string(),
        })
    })
    .await
    .map_err(|e| PageError::new(e, lang))
    .and_then(|p| html(&p, lang))
}

/// `GET /review/api/visits`
pub async fn api(State(app): State<AppState>, viewer: Viewer, Q(q): Q<VisitsQuery>) -> ApiResult<Response> {
    let rows = run(move || {
        let area = Area::load(&*app.storage, &viewer)?;
        coverage(&*app.storage, &area, q.node.as_deref(), today_cn(), 30)
    })
    .await?;
    Ok(Json(rows).into_response())
}
