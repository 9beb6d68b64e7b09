//! 分派: the departments a case was dispatched to, read from its document's workflow history
//! (rank 2, `storage`: the storage indexes them in `case_departments`; `sync::validate` checks
//! a department's push against them).

use automerge::AutoCommit;
use gridbook_core::doc;
use serde_json::Value as Json;

/// The workflow transitions of a document (its root `transitions` list), as JSON.
pub fn transitions(doc: &AutoCommit) -> Vec<Json> {
    doc::root_obj(doc, "transitions")
        .and_then(|o| doc::read_json(doc, &o).as_array().cloned())
        .unwrap_or_default()
}

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
    departments_of(&transitions(doc)).into_iter().collect()
}
