//! The change log and the server's copy of every document (with its query rows): what sync pushes
//! and pulls. A role of [`crate::storage::Storage`] (rank 2, `storage`).

use std::collections::{HashMap, HashSet};

use automerge::AutoCommit;
use gridbook_core::sync::{Cursor, PulledDoc};

use crate::storage::Result;
use crate::storage::departments;

/// One accepted change for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Change hash (hex).
    pub hash: String,
    /// Record id.
    pub doc_id: String,
    /// Scope of the record.
    pub scope: String,
    /// Change bytes.
    pub bytes: Vec<u8>,
}

/// The server's new copy of one document, reduced to what the writer stores: its saved
/// bytes and its query rows, both computed by [`SavedDoc::new`] on the thread that validated
/// the document, so the single writer only runs inserts.
///
/// The document itself is dropped right after it is saved: a batch never holds documents
/// (measured earlier: 60 KiB per unsaved document, 640 KiB after a compressing `save()`).
pub struct SavedDoc {
    /// Record id.
    pub id: String,
    /// Heads, hex, sorted, comma-separated.
    pub heads: String,
    /// Root `kind`.
    pub kind: Option<String>,
    /// Root `scope`.
    pub scope: Option<String>,
    /// `AutoCommit::save_nocompress()` of the document.
    pub bytes: Vec<u8>,
    /// The document's query rows.
    pub rows: gridbook_core::query_tables::Rows,
    /// The departments a case was dispatched to (分派; empty for other records).
    pub departments: Vec<String>,
}

impl SavedDoc {
    /// [`SavedDoc::new`] for a document whose saved bytes are at hand (administration: the
    /// records a `core` store made): loaded from them and stored as they are, with no second
    /// `save()` (whose buffers, one per document, fragmented a 13,000-document import's heap).
    pub fn from_saved(id: String, bytes: Vec<u8>) -> gridbook_core::Result<SavedDoc> {
        let mut doc = gridbook_core::doc::guard(|| AutoCommit::load(&bytes))?;
        let heads = gridbook_core::doc::heads_hex(&doc.get_heads()).join(",");
        let kind = gridbook_core::doc::root_str(&doc, "kind");
        let scope = gridbook_core::doc::root_str(&doc, "scope");
        let rows = gridbook_core::query_tables::rows(&id, &mut doc)?;
        let departments = match kind.as_deref() {
            Some("incident" | "request") => departments::doc_departments(&doc),
            _ => vec![],
        };
        Ok(SavedDoc {
            id,
            heads,
            kind,
            scope,
            bytes,
            rows,
            departments,
        })
    }

    /// Save a document and compute its query rows, then drop it.
    pub fn new(id: String, mut doc: AutoCommit) -> gridbook_core::Result<SavedDoc> {
        let heads = gridbook_core::doc::heads_hex(&doc.get_heads()).join(",");
        let kind = gridbook_core::doc::root_str(&doc, "kind");
        let scope = gridbook_core::doc::root_str(&doc, "scope");
        let rows = gridbook_core::query_tables::rows(&id, &mut doc)?;
        let departments = match kind.as_deref() {
            Some("incident" | "request") => departments::doc_departments(&doc),
            _ => vec![],
        };
        // Without DEFLATE: compressing a document's columns starts a zlib stream per column,
        // whose set-up (zeroing its windows) was ~10 % of the server's CPU in an upload; the
        // sync response is gzipped anyway, so the wire barely changes (docs/benchmarks.md).
        let bytes = doc.save_nocompress();
        Ok(SavedDoc {
            id,
            heads,
            kind,
            scope,
            bytes,
            rows,
            departments,
        })
    }
}

/// What one accepted push writes.
pub struct CommitBatch {
    /// Device that pushed.
    pub origin_device: String,
    /// Server receipt time, ms.
    pub received_at: i64,
    /// Log rows, in order.
    pub changes: Vec<LogEntry>,
    /// The server's new copy of each touched document.
    pub docs: Vec<SavedDoc>,
}

/// A pull: the device's position in each granted scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullQuery {
    /// One cursor per granted scope (seq 0 = bootstrap from snapshots).
    pub cursors: Vec<Cursor>,
    /// Changes from this device are not sent back.
    pub exclude_origin: String,
    /// Byte budget of the page (at least one item is sent).
    pub max_bytes: u64,
}

/// One page of a pull.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullPage {
    /// Compacted documents of bootstrapping scopes.
    pub snapshots: Vec<PulledDoc>,
    /// Log changes, in log order.
    pub changes: Vec<PulledDoc>,
    /// New cursors, one per queried scope.
    pub cursors: Vec<Cursor>,
    /// More is waiting.
    pub more: bool,
}

/// The change log and the server's copy of every document (with its query rows): what sync pushes and pulls.
pub trait ChangeLog {
    /// Which of `hashes` the log holds.
    fn known_changes(&self, hashes: &[String]) -> Result<HashSet<String>>;

    /// The server's saved copies of `ids` (absent ids are left out).
    fn load_docs(&self, ids: &[String]) -> Result<HashMap<String, Vec<u8>>>;

    /// Append accepted changes and save their documents, atomically and durably.
    fn commit(&self, batch: CommitBatch) -> Result<()>;

    /// One page of snapshots and changes after the given cursors.
    fn pull(&self, query: &PullQuery) -> Result<PullPage>;

    /// Rows in the change log.
    fn log_len(&self) -> Result<u64>;

    /// The server's saved copies of every document of `kind` (administration: imports).
    fn docs_of_kind(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>>;

    /// The rule-set versions the server holds (its `rule_sets` query table), parsed.
    fn rule_book(&self) -> Result<gridbook_core::RuleBook>;
}
