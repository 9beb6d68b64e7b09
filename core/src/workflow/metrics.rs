//! 考核指标: 响应率, 按期处置率, 办结率, 满意率 and counts, for an org node and a period, over
//! plain [`CaseRow`]s from the query table (a phone has its grid's rows, the server the
//! district's). The exact definitions are in `docs/metrics.md`; the code follows them line by
//! line.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::WorkCalendar;
use super::definition::Satisfaction;
use super::error::WorkflowError;
use super::fold::CaseState;
use super::limits::{CaseClass, TimeLimits, stage_deadline};
use crate::domain::CaseKind;

/// One case as a row of the query table: what metrics need, nothing personal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseRow {
    /// Record id.
    pub id: String,
    /// Incident or request.
    pub kind: CaseKind,
    /// First-level category key.
    pub category: String,
    /// Second-level category key.
    pub subcategory: Option<String>,
    /// Scale key.
    pub scale: String,
    /// Org path of the case's grid, ids from the top joined by `/`
    /// (`district/sub_district/community/grid`).
    pub org_path: String,
    /// The grid id (last segment of `org_path`).
    pub grid_id: String,
    /// Current workflow state.
    pub state: String,
    /// Timed stage of the current state.
    pub stage: Option<String>,
    /// 上报 / 群众点单 time (anchored).
    pub reported_at: Option<DateTime<Utc>>,
    /// First response (受理, 不予受理, 自办自结, 发布抢单).
    pub responded_at: Option<DateTime<Utc>>,
    /// 受理
    pub accepted_at: Option<DateTime<Utc>>,
    /// 办结 (latest; cleared by a failed verification).
    pub handled_at: Option<DateTime<Utc>>,
    /// Reached a terminal state (归档 or 不予受理).
    pub closed_at: Option<DateTime<Utc>>,
    /// Deadline of the response stage.
    pub response_deadline: Option<DateTime<Utc>>,
    /// Deadline of the handling stage (extensions and pauses included).
    pub deadline: Option<DateTime<Utc>>,
    /// 不予受理: closed without being handled.
    pub rejected: bool,
    /// Latest 二次走访 satisfaction.
    pub satisfaction: Option<Satisfaction>,
}

/// The record fields a row needs besides the folded history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseFacts<'a> {
    /// Record id.
    pub id: &'a str,
    /// Incident or request.
    pub kind: CaseKind,
    /// First-level category key.
    pub category: &'a str,
    /// Second-level category key.
    pub subcategory: Option<&'a str>,
    /// Scale key.
    pub scale: &'a str,
    /// Org path of the grid.
    pub org_path: &'a str,
    /// Grid id.
    pub grid_id: &'a str,
}

impl CaseRow {
    /// Build the row of a case from its record fields and folded state. `now` matters only
    /// while an extension request is pending (the deadline then moves with time: refresh it).
    pub fn from_state(
        facts: &CaseFacts<'_>,
        state: &CaseState,
        limits: &TimeLimits,
        calendar: &WorkCalendar,
        now: DateTime<Utc>,
    ) -> Result<CaseRow, WorkflowError> {
        let class = CaseClass {
            category: facts.category,
            subcategory: facts.subcategory,
            scale: facts.scale,
        };
        let response = stage_deadline(limits, calendar, state, &class, &limits.response_stage, now)?;
        let handling = stage_deadline(limits, calendar, state, &class, &limits.handling_stage, now)?;
        Ok(CaseRow {
            id: facts.id.to_string(),
            kind: facts.kind,
            category: facts.category.to_string(),
            subcategory: facts.subcategory.map(str::to_string),
            scale: facts.scale.to_string(),
            org_path: facts.org_path.to_string(),
            grid_id: facts.grid_id.to_string(),
            state: state.state.clone(),
            stage: state.stage.clone(),
            reported_at: state.times.reported_at,
            responded_at: state.times.responded_at,
            accepted_at: state.times.accepted_at,
            handled_at: state.times.handled_at,
            closed_at: state.times.closed_at,
            response_deadline: response.map(|d| d.deadline),
            deadline: handling.map(|d| d.deadline),
            rejected: state.times.closed_at.is_some() && state.times.handled_at.is_none(),
            satisfaction: state.satisfaction,
        })
    }
}

/// Which cases a report covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsQuery {
    /// Org node path; the node and everything below it (empty: everything).
    pub org_path: String,
    /// Period start (inclusive), on `reported_at`.
    pub from: DateTime<Utc>,
    /// Period end (exclusive), on `reported_at`.
    pub to: DateTime<Utc>,
    /// Figures as of this instant: later timestamps count as not yet happened.
    pub as_of: DateTime<Utc>,
    /// Only incidents or only requests (`None`: both).
    pub kind: Option<CaseKind>,
}

/// numerator / denominator, kept exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ratio {
    /// Cases counted as meeting the measure.
    pub numerator: u32,
    /// Cases the measure applies to.
    pub denominator: u32,
}

impl Ratio {
    /// The rate in 0..=1; `None` when nothing is measured.
    pub fn rate(self) -> Option<f64> {
        (self.denominator > 0).then(|| f64::from(self.numerator) / f64::from(self.denominator))
    }

    fn count(&mut self, applies: bool, meets: bool) {
        if applies {
            self.denominator += 1;
            if meets {
                self.numerator += 1;
            }
        }
    }
}

/// Counts of 二次走访 answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SatisfactionCounts {
    /// 满意
    pub satisfied: u32,
    /// 基本满意
    pub basically_satisfied: u32,
    /// 不满意
    pub dissatisfied: u32,
}

/// The figures of one report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Cases reported in the period under the node.
    pub total: u32,
    /// Of which 不予受理.
    pub rejected: u32,
    /// 响应率
    pub response: Ratio,
    /// 按期处置率
    pub on_time_handling: Ratio,
    /// 办结率
    pub completion: Ratio,
    /// 满意率 (满意 + 基本满意 over answers)
    pub satisfaction: Ratio,
    /// The answers.
    pub satisfaction_counts: SatisfactionCounts,
    /// 超期未办结: not handled as of `as_of` and past the handling deadline.
    pub overdue_open: u32,
    /// Cases per first-level category key.
    pub by_category: BTreeMap<String, u32>,
    /// Cases per current stage key (`none` for states without a timed stage).
    pub by_stage: BTreeMap<String, u32>,
    /// Cases per current state.
    pub by_state: BTreeMap<String, u32>,
}

/// Whether a case at `path` is at or below the node `node` (paths joined by `/`).
pub fn path_under(path: &str, node: &str) -> bool {
    node.is_empty()
        || path == node
        || (path.len() > node.len() && path.starts_with(node) && path.as_bytes()[node.len()] == b'/')
}

fn bump(map: &mut BTreeMap<String, u32>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
    }
}

/// Compute the figures of `query` over `rows` (definitions in `docs/metrics.md`).
pub fn compute_metrics(rows: &[CaseRow], query: &MetricsQuery) -> Metrics {
    let mut m = Metrics::default();
    let as_of = query.as_of;
    let by = |t: Option<DateTime<Utc>>| t.filter(|t| *t <= as_of);
    for r in rows {
        let Some(reported) = r.reported_at else {
            continue;
        };
        if reported < query.from
            || reported >= query.to
            || query.kind.is_some_and(|k| k != r.kind)
            || !path_under(&r.org_path, &query.org_path)
        {
            continue;
        }
        m.total += 1;
        bump(&mut m.by_category, &r.category);
        bump(&mut m.by_stage, r.stage.as_deref().unwrap_or("none"));
        bump(&mut m.by_state, &r.state);

        // 响应率
        let responded = by(r.responded_at);
        let response_due = r.response_deadline.is_some_and(|d| d < as_of);
        m.response.count(
            responded.is_some() || response_due,
            responded.is_some_and(|t| r.response_deadline.is_none_or(|d| t <= d)),
        );

        if r.rejected && by(r.closed_at).is_some() {
            m.rejected += 1;
        } else {
            // 按期处置率, 办结率, 超期未办结
            let handled = by(r.handled_at);
            let due = r.deadline.is_some_and(|d| d < as_of);
            m.on_time_handling.count(
                handled.is_some() || due,
                handled.is_some_and(|t| r.deadline.is_none_or(|d| t <= d)),
            );
            m.completion.count(true, handled.is_some());
            if handled.is_none() && due {
                m.overdue_open += 1;
            }
        }

        // 满意率
        if let Some(s) = r.satisfaction {
            m.satisfaction.count(true, s.counts_as_satisfied());
            match s {
                Satisfaction::Satisfied => m.satisfaction_counts.satisfied += 1,
                Satisfaction::BasicallySatisfied => m.satisfaction_counts.basically_satisfied += 1,
                Satisfaction::Dissatisfied => m.satisfaction_counts.dissatisfied += 1,
            }
        }
    }
    m
}
