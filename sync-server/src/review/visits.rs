//! 走访覆盖: visits done, due and overdue per grid and worker, as a table.
//!
//! "Due" follows the phone's rule (`gridbook_core::queries`, `Store::visits_due`): every
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
use gridbook_core::domain::ChecklistTemplate;
use gridbook_core::queries::DEFAULT_TEMPLATE_ID;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Area, Layout, PageError, PageResult, Viewer, db_err, html, open_db, run, today_cn};
use crate::AppState;
use crate::error::ApiResult;

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
pub fn active_template(conn: &Connection) -> ApiResult<Option<ChecklistTemplate>> {
    let json: Option<String> = conn
        .query_row(
            "SELECT json FROM templates WHERE template_id = ?1 ORDER BY version DESC LIMIT 1",
            [DEFAULT_TEMPLATE_ID],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_err)?;
    Ok(json
        .and_then(|j| ChecklistTemplate::from_json(&j).ok())
        .or_else(|| Some(ChecklistTemplate::builtin())))
}

/// (due, overdue) visits of a grid on `today`.
pub fn due_counts(
    conn: &Connection,
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
    {
        let mut stmt = conn
            .prepare_cached(
                "SELECT h.id, h.registered_on, (SELECT max(day) FROM house_calls c WHERE c.household_id = h.id)
                 FROM households h WHERE h.grid_id = ?1",
            )
            .map_err(db_err)?;
        let mut rows = stmt.query([grid]).map_err(db_err)?;
        while let Some(r) = rows.next().map_err(db_err)? {
            let id: String = r.get(0).map_err(db_err)?;
            let registered: String = r.get(1).map_err(db_err)?;
            let last: Option<NaiveDate> = r
                .get::<_, Option<String>>(2)
                .map_err(db_err)?
                .and_then(|d| d.parse().ok());
            if let Some(l) = last {
                last_visit.insert(id.clone(), l);
            }
            let Ok(registered) = registered.parse() else { continue };
            keep(
                (id, String::new(), "household".into()),
                due_from(last, registered, template.household_frequency_days),
            );
        }
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT l.household_id, l.person_id, l.label, l.start_date FROM person_labels l
             JOIN households h ON h.id = l.household_id
             WHERE h.grid_id = ?1 AND l.start_date <= ?2 AND (l.end_date IS NULL OR l.end_date >= ?2)",
        )
        .map_err(db_err)?;
    let mut rows = stmt.query(params![grid, today.to_string()]).map_err(db_err)?;
    while let Some(r) = rows.next().map_err(db_err)? {
        let (hh, person, label, start): (String, String, String, String) = (
            r.get(0).map_err(db_err)?,
            r.get(1).map_err(db_err)?,
            r.get(2).map_err(db_err)?,
            r.get(3).map_err(db_err)?,
        );
        let Ok(start) = start.parse() else { continue };
        let last = last_visit.get(&hh).copied();
        for (item, freq) in by_label.get(label.as_str()).into_iter().flatten() {
            keep(
                (hh.clone(), person.clone(), (*item).to_string()),
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
    conn: &Connection,
    area: &Area,
    node: Option<&str>,
    today: NaiveDate,
    window_days: u64,
) -> ApiResult<Vec<Coverage>> {
    let grids = area.grids_under(node)?;
    let template = active_template(conn)?.unwrap_or_else(ChecklistTemplate::builtin);
    let since = (today - Days::new(window_days)).to_string();
    let mut out = Vec::new();
    for g in grids {
        let households: i64 = conn
            .query_row("SELECT count(*) FROM households WHERE grid_id = ?1", [&g], |r| r.get(0))
            .map_err(db_err)?;
        let (visits_done, households_visited): (i64, i64) = conn
            .query_row(
                "SELECT count(*), count(DISTINCT household_id) FROM house_calls WHERE grid_id = ?1 AND day >= ?2 AND day <= ?3",
                params![g, since, today.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(db_err)?;
        let (visits_due, visits_overdue) = due_counts(conn, &g, today, &template)?;
        let workers: Vec<&str> = area
            .workers
            .iter()
            .filter(|(id, _)| conn_worker_grid(conn, id).as_deref() == Some(g.as_str()))
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

fn conn_worker_grid(conn: &Connection, account: &str) -> Option<String> {
    conn.query_row("SELECT org_node FROM accounts WHERE id = ?1", [account], |r| r.get(0))
        .ok()
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
        let conn = open_db(&app)?;
        let area = Area::load(&*app.storage, &viewer)?;
        let today = today_cn();
        let rows = coverage(&conn, &area, q.node.as_deref(), today, 30)?;
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
        let conn = open_db(&app)?;
        let area = Area::load(&*app.storage, &viewer)?;
        coverage(&conn, &area, q.node.as_deref(), today_cn(), 30)
    })
    .await?;
    Ok(Json(rows).into_response())
}
