//! 统计报表: per org node and period (日会商 day, 周例会 week, 月研判 month, 季通报 quarter) the
//! metrics of `docs/metrics.md` ([`workflow::compute_metrics`] over the `cases` query table's
//! `CaseRow`s, org paths joined from the tree), grids compared, a daily trend and the 月考评
//! figures of each worker. Charts use the vendored chart.js; without it the tables remain.

use std::collections::BTreeMap;

use askama::Template;
use axum::Json;
use axum::extract::State;

use super::session::Q;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Utc};
use gridbook_core::workflow::{self, CaseRow, Metrics, MetricsQuery, Ratio};
use serde::{Deserialize, Serialize};

use super::cases::Labels;
use super::{Area, Layout, PageError, PageResult, Viewer, html, invalid, parse_day, run, today_cn, urlencode};
use crate::error::ApiResult;
use crate::http::AppState;
use crate::storage::Storage;

/// Report query.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReportQuery {
    /// Org node (default: the viewer's).
    pub node: Option<String>,
    /// `day`, `week`, `month` (default) or `quarter`.
    pub period: Option<String>,
    /// A day inside the period (default: today).
    pub date: Option<String>,
    /// Language.
    pub lang: Option<String>,
}

/// A rate for display.
#[derive(Debug, Clone, Serialize)]
pub struct RateView {
    /// Label key.
    pub key: &'static str,
    /// numerator.
    pub numerator: u32,
    /// denominator.
    pub denominator: u32,
    /// Percent text (`—` when the denominator is 0).
    pub pct: String,
}

fn rate(key: &'static str, r: Ratio) -> RateView {
    RateView {
        key,
        numerator: r.numerator,
        denominator: r.denominator,
        pct: r
            .rate()
            .map_or_else(|| "—".to_string(), |v| format!("{:.1}%", v * 100.0)),
    }
}

/// The four rates of a metrics value.
pub fn rates(m: &Metrics) -> Vec<RateView> {
    vec![
        rate("response_rate", m.response),
        rate("on_time_rate", m.on_time_handling),
        rate("completion_rate", m.completion),
        rate("satisfaction_rate", m.satisfaction),
    ]
}

/// One grid's figures.
#[derive(Debug, Clone, Serialize)]
pub struct GridFigures {
    /// Grid id.
    pub grid_id: String,
    /// Grid name.
    pub name: String,
    /// Cases.
    pub total: u32,
    /// Rates.
    pub rates: Vec<RateView>,
    /// Overdue and open.
    pub overdue_open: u32,
}

/// 月考评: one worker's figures in the period.
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    /// Account id.
    pub worker: String,
    /// Name.
    pub name: String,
    /// Grid name.
    pub grid: String,
    /// House calls made in the period.
    pub visits_done: i64,
    /// Visits due now (grid).
    pub visits_due: i64,
    /// Cases the worker reported in the period.
    pub cases_reported: i64,
    /// On-time handling of the grid's cases.
    pub on_time: String,
    /// Ledgers of the period now returned.
    pub ledgers_returned: i64,
    /// Ledgers of the period approved.
    pub ledgers_approved: i64,
    /// Satisfaction of the grid's cases.
    pub satisfaction: String,
}

/// A whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Node id.
    pub node: String,
    /// Node name.
    pub node_name: String,
    /// Period key.
    pub period: String,
    /// First day.
    pub from: NaiveDate,
    /// Last day (inclusive).
    pub to: NaiveDate,
    /// As of.
    pub as_of: DateTime<Utc>,
    /// Metrics of the node.
    pub metrics: Metrics,
    /// Its rates.
    pub rates: Vec<RateView>,
    /// Per grid.
    pub grids: Vec<GridFigures>,
    /// Cases reported per day.
    pub trend: Vec<(String, u32)>,
    /// Worker figures.
    pub assessment: Vec<Assessment>,
}

/// `[from, to]` days of the period containing `date`.
pub fn period_days(period: &str, date: NaiveDate) -> ApiResult<(NaiveDate, NaiveDate)> {
    let first_of_month = date.with_day(1).unwrap_or(date);
    let (from, to_excl) = match period {
        "day" => (date, date + Days::new(1)),
        "week" => {
            let from = date - Days::new(u64::from(date.weekday().num_days_from_monday()));
            (from, from + Days::new(7))
        }
        "month" => (first_of_month, first_of_month + Months::new(1)),
        "quarter" => {
            let q0 = (date.month0() / 3) * 3 + 1;
            let from = NaiveDate::from_ymd_opt(date.year(), q0, 1).unwrap_or(first_of_month);
            (from, from + Months::new(3))
        }
        _ => return Err(invalid("invalid_period", "period", "day, week, month or quarter")),
    };
    Ok((from, to_excl - Days::new(1)))
}

/// The case rows of the area with their org paths.
pub fn case_rows(storage: &dyn Storage, area: &Area, grids: &[String]) -> ApiResult<Vec<(CaseRow, String)>> {
    let mut out = Vec::new();
    for r in storage.case_summaries(grids)? {
        let Ok(mut row) = serde_json::from_str::<CaseRow>(&r.summary_json) else {
            continue;
        };
        row.org_path = area.paths.get(&r.grid_id).cloned().unwrap_or_default();
        out.push((row, r.reporter));
    }
    Ok(out)
}

/// Compute a report.
pub fn report(
    storage: &dyn Storage,
    area: &Area,
    viewer_node: &str,
    q: &ReportQuery,
    now: DateTime<Utc>,
) -> ApiResult<Report> {
    let node = q
        .node
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| viewer_node.to_string());
    let node_path = area.node_path(&node)?;
    let grids = area.grids_under(Some(&node))?;
    let period = q
        .period
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "month".into());
    let date = parse_day("date", q.date.as_deref())?.unwrap_or_else(today_cn);
    let (from, to) = period_days(&period, date)?;
    // Only the calendar's time offset is used here; every case uses the newest calendar.
    let cal = storage.rule_book()?.newest().calendar;
    let from_t = cal.local_midnight(from);
    let to_t = cal.local_midnight(to + Days::new(1));
    let as_of = now.min(to_t);
    let rows = case_rows(storage, area, &grids)?;
    let case_rows: Vec<CaseRow> = rows.iter().map(|(r, _)| r.clone()).collect();
    let mq = |path: String| MetricsQuery {
        org_path: path,
        from: from_t,
        to: to_t,
        as_of,
        kind: None,
    };
    let metrics = workflow::compute_metrics(&case_rows, &mq(node_path));
    let mut grid_metrics = BTreeMap::new();
    let mut grid_figs = Vec::new();
    for g in &grids {
        let m = workflow::compute_metrics(&case_rows, &mq(area.paths[g].clone()));
        grid_figs.push(GridFigures {
            grid_id: g.clone(),
            name: area.name(g).to_string(),
            total: m.total,
            rates: rates(&m),
            overdue_open: m.overdue_open,
        });
        grid_metrics.insert(g.clone(), m);
    }
    // Trend: cases reported per local day of the period.
    let mut trend: BTreeMap<NaiveDate, u32> = BTreeMap::new();
    let mut d = from;
    while d <= to {
        trend.insert(d, 0);
        d = d + Days::new(1);
    }
    let mut reported_by: BTreeMap<&str, i64> = BTreeMap::new();
    for (r, reporter) in &rows {
        if let Some(t) = r.reported_at
            && t >= from_t
            && t < to_t
        {
            if let Some(n) = trend.get_mut(&cal.local_date(t)) {
                *n += 1;
            }
            *reported_by.entry(reporter.as_str()).or_insert(0) += 1;
        }
    }
    // 月考评
    let template =
        super::visits::active_template(storage)?.unwrap_or_else(gridbook_core::domain::ChecklistTemplate::builtin);
    let mut assessment = Vec::new();
    for (worker, name) in &area.workers {
        let grid: Option<String> = storage.account(worker).ok().flatten().map(|a| a.org_node);
        let Some(grid) = grid.filter(|g| grids.contains(g)) else {
            continue;
        };
        let visits_done = storage.worker_visits(worker, &from.to_string(), &to.to_string())?;
        let (visits_due, _) = super::visits::due_counts(storage, &grid, today_cn(), &template)?;
        let (returned, approved) = storage.worker_reviews(worker, &from.to_string(), &to.to_string())?;
        let gm = grid_metrics.get(&grid);
        let pct = |r: Option<Ratio>| {
            r.and_then(Ratio::rate)
                .map_or_else(|| "—".to_string(), |v| format!("{:.1}%", v * 100.0))
        };
        assessment.push(Assessment {
            worker: worker.clone(),
            name: name.clone(),
            grid: area.name(&grid).to_string(),
            visits_done,
            visits_due,
            cases_reported: reported_by.get(worker.as_str()).copied().unwrap_or(0),
            on_time: pct(gm.map(|m| m.on_time_handling)),
            ledgers_returned: returned,
            ledgers_approved: approved,
            satisfaction: pct(gm.map(|m| m.satisfaction)),
        });
    }
    Ok(Report {
        node_name: area.name(&node).to_string(),
        node,
        period,
        from,
        to,
        as_of,
        rates: rates(&metrics),
        metrics,
        grids: grid_figs,
        trend: trend
            .into_iter()
            .map(|(d, n)| (d.format("%m-%d").to_string(), n))
            .collect(),
        assessment,
    })
}

#[derive(Template)]
#[template(path = "review/reports.html")]
struct ReportPage {
    l: Layout,
    lb: Labels,
    q: ReportQuery,
    nodes: Vec<(String, String)>,
    r: Report,
    chart_json: String,
    export_base: String,
}

impl ReportPage {
    fn sel_node(&self, v: &str) -> bool {
        self.r.node == v
    }
    fn sel_period(&self, v: &str) -> bool {
        self.r.period == v
    }
    fn date(&self) -> &str {
        self.q.date.as_deref().unwrap_or("")
    }
    fn as_of(&self) -> String {
        super::fmt_cn(self.r.as_of)
    }
}

/// Data of the charts, as JSON for the page's script.
pub fn chart_data(r: &Report, lb: &Labels, lang: super::Lang) -> String {
    let esc = |s: String| s.replace("</", "<\\/");
    let v = serde_json::json!({
        "category": {
            "labels": r.metrics.by_category.keys().map(|k| lb.category(k)).collect::<Vec<_>>(),
            "values": r.metrics.by_category.values().collect::<Vec<_>>(),
            "title": lang.t("by_category"),
        },
        "trend": {
            "labels": r.trend.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>(),
            "values": r.trend.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
            "title": lang.t("trend"),
        },
        "grids": {
            "labels": r.grids.iter().map(|g| g.name.clone()).collect::<Vec<_>>(),
            "completion": r.grids.iter().map(|g| pct_value(&g.rates[2])).collect::<Vec<_>>(),
            "on_time": r.grids.iter().map(|g| pct_value(&g.rates[1])).collect::<Vec<_>>(),
            "title": lang.t("by_grid"),
            "completion_label": lang.t("completion_rate"),
            "on_time_label": lang.t("on_time_rate"),
        },
    });
    esc(v.to_string())
}

fn pct_value(r: &RateView) -> f64 {
    if r.denominator == 0 {
        0.0
    } else {
        (f64::from(r.numerator) * 1000.0 / f64::from(r.denominator)).round() / 10.0
    }
}

/// `GET /review/reports`
pub async fn page(
    State(app): State<AppState>,
    viewer: Viewer,
    uri: axum::http::Uri,
    Q(q): Q<ReportQuery>,
) -> PageResult {
    let lang = viewer.lang;
    run(move || {
        let area = Area::load(&*app.storage, &viewer)?;
        let r = report(&*app.storage, &area, &viewer.account.org_node, &q, Utc::now())?;
        let lb = Labels::new(viewer.lang);
        let chart_json = chart_data(&r, &lb, viewer.lang);
        let export_base = format!(
            "node={}&period={}&date={}",
            urlencode(&r.node),
            urlencode(&r.period),
            r.from
        );
        let here = match uri.query() {
            Some(qs) => format!("/review/reports?{qs}"),
            None => "/review/reports".into(),
        };
        Ok(ReportPage {
            l: Layout::new(&viewer, &area, "reports", here),
            lb,
            nodes: area.node_options(),
            q,
            r,
            chart_json,
            export_base,
        })
    })
    .await
    .map_err(|e| PageError::new(e, lang))
    .and_then(|p| html(&p, lang))
}

/// `GET /review/api/reports`
pub async fn api(State(app): State<AppState>, viewer: Viewer, Q(q): Q<ReportQuery>) -> ApiResult<Response> {
    let r = run(move || {
        let area = Area::load(&*app.storage, &viewer)?;
        report(&*app.storage, &area, &viewer.account.org_node, &q, Utc::now())
    })
    .await?;
    Ok(Json(r).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_calendar_units() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(
            period_days("day", d("2026-11-27")).unwrap(),
            (d("2026-11-27"), d("2026-11-27"))
        );
        assert_eq!(
            period_days("week", d("2026-11-27")).unwrap(),
            (d("2026-11-23"), d("2026-11-29"))
        );
        assert_eq!(
            period_days("month", d("2026-02-10")).unwrap(),
            (d("2026-02-01"), d("2026-02-28"))
        );
        assert_eq!(
            period_days("quarter", d("2026-11-27")).unwrap(),
            (d("2026-10-01"), d("2026-12-31"))
        );
        assert_eq!(
            period_days("year", d("2026-11-27")).unwrap_err().code(),
            "invalid_period"
        );
    }
}
