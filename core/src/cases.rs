//! Incidents and requests (事件, 诉求), pure: a case's query-table summary folded from its
//! history with the workflow engine ([`crate::workflow`]), and the views a phone shows. The
//! store's part (reading a case, taking an action, lists) is `store::cases`.
//!
//! Rank 4 of the crate's layers (core/README.md): it uses `rules`, `workflow`, `doc`, `domain`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::doc;
use crate::domain::{Case, CaseKind, RecordKind};
use crate::rules::Rules;
use crate::workflow::{self, CaseFacts, CaseRow, CaseState, ClaimOutcome, DeadlineStatus, Transition};

/// What the query table keeps of a case's folded workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseSummary {
    /// Current state.
    pub state: String,
    /// Transitions skipped as invalid at their point.
    pub conflicts: usize,
    /// The metrics row of the case (org path left empty: it is joined at query time).
    pub json: Json,
}

/// Parse a document's history (see [`doc::history`]); entries that do not parse are dropped
/// here (the server never accepts them, so only a corrupt replica could hold one).
pub fn parse_history(history: &[Json]) -> Vec<Transition> {
    doc::history::parse(history)
}

fn facts<'a>(id: &'a str, case: &'a Case) -> CaseFacts<'a> {
    CaseFacts {
        id,
        kind: case.case_kind,
        category: &case.category,
        subcategory: case.subcategory.as_deref(),
        scale: &case.scale,
        org_path: "",
        grid_id: &case.grid_id,
    }
}

/// Fold a case's history into its query-table summary. Deterministic: "now" is the time of the
/// last transition, never the local clock (a pending extension's moving deadline is refreshed
/// when the case is read, see `Store::case`). `rules` are the case's (see [`crate::rules`]).
pub fn summarize(id: &str, case: &Case, history: &[Json], rules: &Rules) -> CaseSummary {
    let transitions = parse_history(history);
    let state = workflow::fold(&rules.definition, &transitions);
    let as_of = transitions.iter().map(|t| t.at).max().unwrap_or(case.occurred_at);
    let row = CaseRow::from_state(&facts(id, case), &state, &rules.limits, &rules.calendar, as_of).ok();
    CaseSummary {
        state: state.state.clone(),
        conflicts: state.conflicts.len(),
        json: row.and_then(|r| serde_json::to_value(r).ok()).unwrap_or(Json::Null),
    }
}

/// A case as a phone shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseView {
    /// Record id.
    pub id: String,
    /// The record's fields.
    pub case: Case,
    /// The folded workflow.
    pub state: CaseState,
    /// The whole history, in order.
    pub history: Vec<Transition>,
    /// Deadline of the current stage, as of now.
    pub deadline: Option<DeadlineStatus>,
    /// Actions the signed-in account could take now.
    pub available_actions: Vec<String>,
    /// 抢单: whether the signed-in account's claim won.
    pub claim: ClaimOutcome,
}

/// A case in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseListRow {
    /// Record id.
    pub id: String,
    /// `incident` or `request`.
    pub kind: String,
    /// Grid.
    pub grid_id: String,
    /// Category key.
    pub category: String,
    /// Title.
    pub title: String,
    /// Current state.
    pub state: String,
    /// Workflow conflicts awaiting a supervisor.
    pub conflicts: i64,
    /// Deadline of the handling stage, if it has one.
    pub deadline: Option<DateTime<Utc>>,
    /// When it was found or received.
    pub occurred_at: DateTime<Utc>,
}

/// Whether a record kind is a case, and which.
pub fn case_kind(kind: RecordKind) -> Option<CaseKind> {
    match kind {
        RecordKind::Incident => Some(CaseKind::Incident),
        RecordKind::Request => Some(CaseKind::Request),
        _ => None,
    }
}
