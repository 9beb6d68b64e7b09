//! The workflow history of a record's document (流转记录): the append-only `transitions` list
//! of incidents, requests and ledgers. The one reader of that list, for the phone's store, its
//! query tables and the server.
//!
//! The list is only ever appended to ([`append`]): concurrent appends from two replicas both
//! survive the merge, and the fold settles their order the same way everywhere.
//!
//! Part of `doc` (rank 1): it knows the document's layout, not what an entry means (the
//! workflow engine and the ledger review parse the entries into their own types).

use automerge::AutoCommit;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use crate::error::Result;

/// The root key of the history list.
pub const KEY: &str = "transitions";

/// The entries of the history, in order, as JSON (empty when the document has none).
pub fn read(doc: &AutoCommit) -> Vec<Json> {
    super::root_obj(doc, KEY)
        .map(|o| super::read_json(doc, &o))
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

/// The entries that parse as `T`, in order; others are dropped (the server never accepts them,
/// so only a corrupt replica could hold one).
pub fn parse<T: DeserializeOwned>(entries: &[Json]) -> Vec<T> {
    entries
        .iter()
        .filter_map(|t| serde_json::from_value(t.clone()).ok())
        .collect()
}

/// Append `entry` to the history (the list is made if the document has none yet).
pub fn append(doc: &mut AutoCommit, entry: &Json) -> Result<()> {
    super::append_to_root_list(doc, KEY, entry)
}
