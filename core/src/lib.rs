//! # gridbook-core
//!
//! The offline record store of a grid worker's phone, shared with the district sync server:
//! the domain ([`domain`]), one Automerge document per record ([`doc`]), SQLite with query
//! tables, and the rules both sides run.
//!
//! Start at [`Store`]. The public API is the list below: a few namespaces (`domain`, `workflow`,
//! `sync`, …) and the items re-exported here; the other modules are private (their ranks are in
//! the crate's README and `tests/tests/layering.rs`).

// ---- Namespaces: modules a user names as such, because they hold many types or because their
// functions read best with the module's name (`review::fold`, `shred::open`). The rest is
// private.

// Record types (户, 人, 走访, 事件, 台账, …), roles and their validation.
pub mod domain;
// The case workflow engine (接诉即办): definitions, the fold of a case's history, deadlines,
// metrics.
pub mod workflow;
// The ledger review fold (台账审核): who may approve or return a ledger, and its state.
pub mod review;
// The sync protocol and the phone's client: wire types, the HTTP client, applying a pull.
pub mod sync;
// One Automerge document per record: loading, the root fields, `doc::history` and
// `doc::body`.
pub mod doc;
// Crypto-shredding of sensitive fields (ADR 0004): person keys, sealing and opening.
pub mod shred;
// SQLCipher at rest (ADR 0003): opening, re-keying and exporting an encrypted database file.
pub mod at_rest;
// Demo data: a generated grid with its people, visits and cases, for the demo and the tests.
pub mod demo;

mod cases;
mod db;
mod error;
mod materialize;
mod rules;
mod sensitive;
mod store;

// ---- The store: opening it, writing records, syncing, and what its queries return.

pub use at_rest::StoreKey;
pub use cases::{CaseListRow, CaseView, parse_history};
pub use error::{Error, Result};
pub use store::queries::{DEFAULT_TEMPLATE_ID, HouseholdRow, LedgerRow, VisitDue};
pub use store::wipe::WIPED_MARKER;
pub use store::{ApplySummary, Clock, DeleteResolution, Identity, OutboxEntry, RecordConflicts, RemoteChange, Store};

// ---- Rules: the versioned rule sets (规则) both sides run, and which versions a record pins.

pub use rules::{MAX_RULE_JSON_BYTES, RuleBook, RuleKind, RulePins, RuleSet, Rules, default_rules};

// ---- Shown the same on the phone and the dashboard: the calendar day in China of a time, and
// the masking of a phone number (脱敏).

pub use materialize::china_day;
pub use sensitive::mask_phone;

/// The server's shared materialization (服务端物化): the sync server keeps the phone's schema and
/// query tables for supervisor review, filled by the same code as the phone's store.
pub mod query_tables {
    pub use crate::db::{SCHEMA_VERSION, migrate, person_keys, prepare};
    pub use crate::materialize::{Rows, needs_key, rows};
    pub use crate::store::query_rows::record;
}
