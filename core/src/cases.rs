//! Incidents and requests in the store: the glue between case documents and the workflow
//! engine ([`crate::workflow`]).

use serde_json::{Value as Json, json};

use crate::domain::{Case, RecordKind};

/// What the query table keeps of a case's folded workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseSummary {
    /// Current state.
    pub state: String,
    /// Transitions skipped as invalid at their point.
    pub conflicts: usize,
    /// The folded state as JSON (owner, department, deadlines ...).
    pub json: Json,
}

/// Fold a case's history.
pub fn summarize(_kind: RecordKind, _case: &Case, history: &[Json]) -> CaseSummary {
    let state = history
        .last()
        .and_then(|t| t.get("to"))
        .and_then(Json::as_str)
        .unwrap_or("draft")
        .to_string();
    CaseSummary {
        state,
        conflicts: 0,
        json: json!({}),
    }
}
