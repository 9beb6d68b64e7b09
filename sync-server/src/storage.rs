//! [`Storage`]: everything the server keeps, behind one trait so that a PostgreSQL
//! implementation can follow the embedded SQLite one ([`sqlite::SqliteStorage`]). Rank 2 of the
//! server: it uses `model`, `error` and `server_db` only, and with `server_db` it is the one
//! place that names rusqlite.
//!
//! The trait is the sum of its roles, one file each: [`Accounts`] (accounts, devices, tokens),
//! [`OrgTree`] (the org tree), [`ChangeLog`] (the change log and the server's copy of every
//! document), [`AuditLog`] (the audit table), [`PersonKeys`] (person keys and erasures),
//! [`ReviewReads`] (the dashboard's queries) and [`Operations`] (health, backups). Every method answers a [`StorageError`].
//!
//! Contract every implementation keeps (the loopback tests check it):
//! - [`ChangeLog::commit`] is atomic and durable before it returns: log rows, the server's copy
//!   of each document and its query-table rows, all or nothing. Only then is a change acked.
//! - `seq` grows monotonically, and a reader that sees `seq = n` also sees every committed
//!   `seq < n` (log order = commit order). SQLite gets this from its single writer; a
//!   PostgreSQL implementation must serialize log appends (e.g. an advisory lock) or hand out
//!   cursors only up to the lowest in-flight sequence.
//! - [`ChangeLog::pull`] reads from one consistent snapshot and uses a bounded number of queries
//!   per page whatever the number of scopes.
//! - A change hash is stored at most once.

mod accounts;
mod audit_log;
mod change_log;
pub mod departments;
mod error;
mod operations;
mod org;
mod person_keys;
pub mod review;
pub mod sqlite;

pub use crate::model::accounts::{Account, Device, DeviceStatus, OrgGrid, RefreshToken, Token};
pub use accounts::Accounts;
pub use audit_log::AuditLog;
pub use change_log::{ChangeLog, CommitBatch, LogEntry, PullPage, PullQuery, SavedDoc};
pub use error::{Result, StorageError};
pub use operations::Operations;
pub use org::OrgTree;
pub use person_keys::PersonKeys;
pub use review::ReviewReads;

/// Everything the server stores: every role, shared between the handlers' threads.
pub trait Storage:
    Accounts + OrgTree + ChangeLog + AuditLog + PersonKeys + ReviewReads + Operations + Send + Sync + 'static
{
}

impl<T> Storage for T where
    T: Accounts + OrgTree + ChangeLog + AuditLog + PersonKeys + ReviewReads + Operations + Send + Sync + 'static
{
}
