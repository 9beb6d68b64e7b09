//! 审计日志: the server's append-only, tamper-evident audit log (issue 9).
//!
//! Every change of accounts, grants, devices (register, revoke), every reveal of a full ID
//! number or phone, every export and every erasure appends one entry to the `audit_log` table
//! of the server database, through [`append`]. Each entry carries the SHA-256 of the previous
//! entry ([`entry_hash`] chains them), so editing, deleting or inserting a row breaks the
//! chain at that row; [`verify_file`] (`gridbook-server audit verify --data DIR`) walks the
//! chain and names the first broken entry. SQLite triggers refuse `UPDATE` and `DELETE` on the
//! table, so the server itself cannot rewrite history; someone with the raw file can drop the
//! triggers, which is what the hash chain is for. Cutting entries off the *end* leaves a valid
//! shorter chain: [`verify_file`] prints the last hash so that an operator can note it
//! elsewhere (a daily anchor) and compare.
//!
//! Entries hold ids, actions and reasons, never a revealed value or a token.
//!
//! ```no_run
//! # use gridbook_sync_server::{audit, storage::Storage};
//! # fn f(storage: &dyn Storage) -> gridbook_sync_server::error::ApiResult<()> {
//! // e.g. the erasure of a person (phone half of issue 9):
//! audit::append(storage, "admin", audit::Action::Erasure, "person:0193…", serde_json::json!({"reason": "moved away"}))?;
//! # Ok(()) }
//! ```

use std::path::Path;

use crate::error::{ApiError, ApiResult};
pub use crate::model::audit::{Action, ChainCheck, Entry, GENESIS, NewEntry, Verdict, entry_hash};
use crate::storage::Storage;

/// Append one entry (blocking; the storage serializes appends). Call it in the same handler as
/// the change it records; for reveals and exports call it *before* anything is shown, so that
/// a failed append refuses the reveal.
pub fn append(
    storage: &dyn Storage,
    actor: &str,
    action: Action,
    target: &str,
    detail: serde_json::Value,
) -> ApiResult<Entry> {
    let entry = NewEntry {
        at: crate::model::clock::now_ms(),
        actor: actor.to_string(),
        action,
        target: target.to_string(),
        detail,
    };
    let stored = storage.audit_append(&entry)?;
    tracing::info!(target: "audit", seq = stored.seq, actor, action = action.as_str(), target = %entry.target, "audit entry");
    Ok(stored)
}

/// Verify the audit log of the plain database file `db` (opened read-only).
pub fn verify_file(db: &Path) -> ApiResult<Verdict> {
    verify_db(&crate::server_db::ServerDb::plain(db))
}

/// Verify the audit log of a database file opened read-only with its key, if any (an
/// encrypted database needs its key: `wrong_key` otherwise).
pub fn verify_db(db: &crate::server_db::ServerDb) -> ApiResult<Verdict> {
    let path = db.path();
    if !path.exists() {
        return Err(ApiError::NotFound(format!("database {}", path.display())));
    }
    crate::storage::sqlite::audit::verify_db(db)
}
