//! [`Storage`]: everything the server keeps, behind one trait so that a PostgreSQL
//! implementation can follow the embedded SQLite one ([`sqlite::SqliteStorage`]).
//!
//! Contract every implementation keeps (the loopback tests check it):
//! - [`Storage::commit`] is atomic and durable before it returns: log rows, the server's copy
//!   of each document and its query-table rows, all or nothing. Only then is a change acked.
//! - `seq` grows monotonically, and a reader that sees `seq = n` also sees every committed
//!   `seq < n` (log order = commit order). SQLite gets this from its single writer; a
//!   PostgreSQL implementation must serialize log appends (e.g. an advisory lock) or hand out
//!   cursors only up to the lowest in-flight sequence.
//! - [`Storage::pull`] reads from one consistent snapshot and uses a bounded number of queries
//!   per page whatever the number of scopes.
//! - A change hash is stored at most once.

pub mod departments;
pub mod sqlite;

use std::collections::{HashMap, HashSet};

use automerge::AutoCommit;
use gridbook_core::Result;
use gridbook_core::sync::{Cursor, Erasure, PersonKeyEntry, PulledDoc};
use uuid::Uuid;

pub use crate::model::accounts::{Account, Device, DeviceStatus, OrgGrid, RefreshToken, Token};

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
    pub rows: gridbook_core::materialize::Rows,
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
        let rows = gridbook_core::materialize::rows(&id, &mut doc)?;
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
        let rows = gridbook_core::materialize::rows(&id, &mut doc)?;
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

/// Person keys and erasures (crypto-shredding, issue 9, docs/adr/0004-crypto-shredding.md).
pub trait PersonKeys {
    /// Keep keys uploaded by a device. A key is kept unless its person was erased, a key is
    /// held already, or the person's record (if the server has it) is in a scope `may_write`
    /// refuses. Returns the person ids whose held key is the one sent (acknowledged).
    fn put_person_keys(&self, keys: &[PersonKeyEntry], may_write: &dyn Fn(&str) -> bool) -> Result<Vec<String>>;
    /// The held keys of those of `ids` that have one (the persons among a pull page).
    fn person_keys_for(&self, ids: &[String]) -> Result<Vec<PersonKeyEntry>>;
    /// Erasures after sequence number `seq`, in order, at most `limit`.
    fn erasures_after(&self, seq: u64, limit: usize) -> Result<Vec<Erasure>>;
    /// Erase a person: destroy its key (overwritten in the file), record the erasure for the
    /// devices, rebuild the person's query rows, truncate the WAL. Returns the erasure's sequence
    /// number (the same one again for a person already erased); `not_found` unless `person_id`
    /// is a person record.
    fn erase_person(&self, person_id: &str, at: i64) -> Result<u64>;
}

/// Everything the server stores.
pub trait Storage: PersonKeys + Send + Sync + 'static {
    /// Add an account.
    fn create_account(&self, account: &Account) -> Result<()>;
    /// Find an account by login name.
    fn account_by_username(&self, username: &str) -> Result<Option<Account>>;
    /// Find an account by id.
    fn account(&self, id: &str) -> Result<Option<Account>>;
    /// Number of accounts.
    fn account_count(&self) -> Result<u64>;
    /// Register a device (no-op if it exists); returns the stored row.
    fn register_device(&self, device: &Device) -> Result<Device>;
    /// A device.
    fn device(&self, id: Uuid) -> Result<Option<Device>>;
    /// Revoke a device and all its tokens; false if unknown.
    fn revoke_device(&self, id: Uuid, at: i64) -> Result<bool>;
    /// Store a new token.
    fn insert_token(&self, token: &Token) -> Result<()>;
    /// A token by the hash of its value.
    fn token(&self, hash: &str) -> Result<Option<Token>>;
    /// Revoke a token; false if unknown.
    fn revoke_token(&self, hash: &str, at: i64) -> Result<bool>;
    /// Replace an account's password hash; false if unknown.
    fn set_password(&self, account_id: &str, password_hash: &str) -> Result<bool>;
    /// Store a new refresh token.
    fn insert_refresh_token(&self, token: &RefreshToken) -> Result<()>;
    /// A refresh token by the hash of its value.
    fn refresh_token(&self, hash: &str) -> Result<Option<RefreshToken>>;
    /// Exchange a refresh token, in one transaction: mark `hash` used and store `access` and
    /// `refresh`, only if `hash` is still unused, unrevoked and unexpired at `at`. False (and
    /// nothing written) otherwise: a revocation that ran first wins, and one that runs later
    /// finds the new tokens (issue 24).
    fn exchange_refresh_token(&self, hash: &str, at: i64, access: &Token, refresh: &RefreshToken) -> Result<bool>;
    /// Log a device out: revoke its access and refresh tokens (the device itself stays
    /// registered and may sign in again); how many were live.
    fn revoke_device_tokens(&self, device: Uuid, at: i64) -> Result<u64>;
    /// Append an entry to the audit log (hash-chained; appends are serialized).
    fn audit_append(&self, entry: &crate::model::audit::NewEntry) -> Result<crate::model::audit::Entry>;
    /// Every grid and sub-grid with its community and sub-district: the scopes grants are made of.
    fn org_grids(&self) -> Result<Vec<OrgGrid>>;
    /// Which of `hashes` the log holds.
    fn known_changes(&self, hashes: &[String]) -> Result<HashSet<String>>;
    /// The server's saved copies of `ids` (absent ids are left out).
    fn load_docs(&self, ids: &[String]) -> Result<HashMap<String, Vec<u8>>>;
    /// Append accepted changes and save their documents, atomically and durably.
    fn commit(&self, batch: CommitBatch) -> Result<()>;
    /// One page of snapshots and changes after the given cursors.
    fn pull(&self, query: &PullQuery) -> Result<PullPage>;
    /// A cheap round trip to the database (health checks).
    fn ping(&self) -> Result<()>;
    /// Rows in the change log.
    fn log_len(&self) -> Result<u64>;
    /// The database's own consistency check (`ok` when sound).
    fn integrity_check(&self) -> Result<String>;
    /// The server's saved copies of every document of `kind` (administration: imports).
    fn docs_of_kind(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>>;
    /// The rule-set versions the server holds (its `rule_sets` query table), parsed.
    fn rule_book(&self) -> Result<gridbook_core::rules::RuleBook>;
    /// Write a consistent copy of the whole database to `dest` (a new file) while serving,
    /// encrypted with the database's key if it has one.
    fn backup_to(&self, dest: &std::path::Path) -> Result<()>;
    /// The database file and its key, for connections made outside the storage (dashboard,
    /// backups; ADR 0009). None for a storage that is not a local SQLite file.
    fn server_db(&self) -> Option<&crate::server_db::ServerDb> {
        None
    }
    /// Every account, by username.
    fn accounts(&self) -> Result<Vec<Account>>;
    /// Replace an account's row (by id); false if unknown.
    fn update_account(&self, account: &Account) -> Result<bool>;
    /// Revoke every access and refresh token of every device of an account (phones and
    /// dashboard sessions alike); how many were live.
    fn revoke_account_tokens(&self, account_id: &str, at: i64) -> Result<u64>;
    /// Every device with its last sync, newest first.
    fn devices(&self) -> Result<Vec<DeviceStatus>>;
    /// Note that a device synced (cheap when nothing changed within a minute; skipped, not
    /// waited for, while the writer is busy).
    fn record_sync(&self, device: Uuid, at: i64, app_version: Option<&str>) -> Result<()>;
}
