//! 分派: the departments a case was dispatched to, read from its document's workflow history
//! (rank 2, `storage`: the storage indexes them in `case_departments`; `sync::validate` checks
//! a department's push against them).

use automerge::AutoCommit;
use gridbook_core::doc;
use serde_json::Value as Json;

/// The departments a case's history dispatched it to (分派 names one in `params.department`).
pub fn departments_of(transitions: &[Json]) -> std::collections::BTreeSet<String> {
    transitions
        .iter()
        .filter_map(|t| t.get("params")?.get("department")?.as_str())
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .collect()
}

/// The departments `doc` (a case) has been dispatched to.
pub fn doc_departments(doc: &AutoCommit) -> Vec<String> {
    departments_of(&doc::history::read(doc)).into_iter().collect()
}
