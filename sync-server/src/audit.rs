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

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};
use crate::storage::Storage;

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What was done. The string forms are stable (they are hashed and queried).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Action {
    /// An account was created (its role and org node are its grants).
    AccountCreate,
    /// An account's password was changed.
    PasswordChange,
    /// An account's role or org node (its grants) changed.
    GrantChange,
    /// A device was registered to an account.
    DeviceRegister,
    /// A device was revoked (and will be wiped at its next contact).
    DeviceRevoke,
    /// An account was locked after failed logins.
    LoginLocked,
    /// A full ID number or phone was revealed.
    Reveal,
    /// An export was made (masked or not).
    Export,
    /// A person's data was erased (crypto-shredding).
    Erasure,
    /// An account was disabled or enabled again.
    AccountStatus,
    /// An account's password was reset by an admin.
    PasswordReset,
    /// An org node was created, edited or imported.
    OrgChange,
    /// Residents were imported.
    ResidentsImport,
    /// A rules version (checklist template ...) was published.
    RulesPublish,
    /// An online backup was taken.
    Backup,
    /// A backup was restored.
    Restore,
    /// The data folder was initialised (`admin init`: the district and its first admin).
    Init,
}

impl Action {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::AccountCreate => "account.create",
            Action::PasswordChange => "account.password_change",
            Action::GrantChange => "account.grant_change",
            Action::DeviceRegister => "device.register",
            Action::DeviceRevoke => "device.revoke",
            Action::LoginLocked => "login.locked",
            Action::Reveal => "reveal",
            Action::Export => "export",
            Action::Erasure => "erasure",
            Action::AccountStatus => "account.status",
            Action::PasswordReset => "account.password_reset",
            Action::OrgChange => "org.change",
            Action::ResidentsImport => "residents.import",
            Action::RulesPublish => "rules.publish",
            Action::Backup => "backup",
            Action::Restore => "restore",
            Action::Init => "init",
        }
    }
}

/// An entry to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    /// When, ms since the epoch.
    pub at: i64,
    /// Who: an account id, or `system`.
    pub actor: String,
    /// What.
    pub action: Action,
    /// On what: `account:ID`, `device:ID`, `person:ID`, `export:FILE` ...
    pub target: String,
    /// Details (JSON object): reason, filters, fields. No personal data in clear.
    pub detail: serde_json::Value,
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Position, from 1, without gaps.
    pub seq: i64,
    /// When, ms.
    pub at: i64,
    /// Who.
    pub actor: String,
    /// What (stable name).
    pub action: String,
    /// On what.
    pub target: String,
    /// Details, JSON text.
    pub detail: String,
    /// Hash of the previous entry ([`GENESIS`] for the first).
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

/// The hash of an entry: SHA-256 over the previous hash and the entry's fields, each
/// length-prefixed (so that no two different entries encode alike).
pub fn entry_hash(prev_hash: &str, seq: i64, at: i64, actor: &str, action: &str, target: &str, detail: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"gridbook-audit-v1\0");
    let seq = seq.to_string();
    let at = at.to_string();
    for part in [prev_hash, &seq, &at, actor, action, target, detail] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

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

/// SQL of the table (a server migration step).
pub const SCHEMA: &str = "
CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
) STRICT;
CREATE INDEX audit_log_target ON audit_log (target, seq);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
";

/// Append inside an open transaction (the SQLite storage's writer).
pub fn append_sql(conn: &Connection, e: &NewEntry) -> rusqlite::Result<Entry> {
    let last: Option<(i64, String)> = conn
        .query_row("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let (seq, prev_hash) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS.to_string()),
    };
    let detail = e.detail.to_string();
    let action = e.action.as_str();
    let hash = entry_hash(&prev_hash, seq, e.at, &e.actor, action, &e.target, &detail);
    conn.execute(
        "INSERT INTO audit_log (seq, at, actor, action, target, detail, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        rusqlite::params![seq, e.at, e.actor, action, e.target, detail, prev_hash, hash],
    )?;
    Ok(Entry {
        seq,
        at: e.at,
        actor: e.actor.clone(),
        action: action.to_string(),
        target: e.target.clone(),
        detail,
        prev_hash,
        hash,
    })
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every entry chains to the one before.
    Intact {
        /// Entries checked.
        entries: u64,
        /// Hash of the last entry (note it elsewhere to detect a cut-off tail).
        last_hash: String,
    },
    /// The first entry that does not chain.
    Broken {
        /// Its `seq` (where a row is missing: the seq expected there).
        seq: i64,
        /// Why.
        reason: String,
    },
}

/// Walk the chain of an open database.
pub fn verify(conn: &Connection) -> rusqlite::Result<Verdict> {
    let mut stmt =
        conn.prepare("SELECT seq, at, actor, action, target, detail, prev_hash, hash FROM audit_log ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    let mut expected_seq = 1i64;
    let mut prev = GENESIS.to_string();
    let mut n = 0u64;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let (at, actor, action, target, detail): (i64, String, String, String, String) =
            (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?);
        let (prev_hash, hash): (String, String) = (r.get(6)?, r.get(7)?);
        if seq != expected_seq {
            return Ok(Verdict::Broken {
                seq: expected_seq,
                reason: format!("entry {expected_seq} is missing (next entry is {seq})"),
            });
        }
        if prev_hash != prev {
            return Ok(Verdict::Broken {
                seq,
                reason: "its prev_hash is not the hash of the entry before".into(),
            });
        }
        if entry_hash(&prev_hash, seq, at, &actor, &action, &target, &detail) != hash {
            return Ok(Verdict::Broken {
                seq,
                reason: "its content does not match its hash (edited)".into(),
            });
        }
        prev = hash;
        expected_seq += 1;
        n += 1;
    }
    Ok(Verdict::Intact {
        entries: n,
        last_hash: prev,
    })
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
    let conn = db.open_read_only().map_err(|e| db.explain(e))?;
    verify(&conn).map_err(|e| ApiError::Internal(format!("{}: {e}", path.display())))
}

/// The last `limit` entries about `target` (newest first).
pub fn entries_for(conn: &Connection, target: &str, limit: i64) -> rusqlite::Result<Vec<Entry>> {
    let mut stmt = conn.prepare(
        "SELECT seq, at, actor, action, target, detail, prev_hash, hash FROM audit_log WHERE target = ?1 ORDER BY seq DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(rusqlite::params![target, limit], |r| {
        Ok(Entry {
            seq: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            target: r.get(4)?,
            detail: r.get(5)?,
            prev_hash: r.get(6)?,
            hash: r.get(7)?,
        })
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(SCHEMA).unwrap();
        c
    }

    fn entry(target: &str) -> NewEntry {
        NewEntry {
            at: 1_700_000_000_000,
            actor: "admin".into(),
            action: Action::DeviceRevoke,
            target: target.into(),
            detail: serde_json::json!({"reason": "lost"}),
        }
    }

    #[test]
    fn a_chain_verifies_and_an_edit_is_named() {
        let c = db();
        assert_eq!(
            verify(&c).unwrap(),
            Verdict::Intact {
                entries: 0,
                last_hash: GENESIS.into()
            }
        );
        for i in 0..5 {
            append_sql(&c, &entry(&format!("device:{i}"))).unwrap();
        }
        assert!(matches!(verify(&c).unwrap(), Verdict::Intact { entries: 5, .. }));
        // The triggers refuse edits and deletes ...
        assert!(c.execute("UPDATE audit_log SET actor = 'x' WHERE seq = 3", []).is_err());
        assert!(c.execute("DELETE FROM audit_log WHERE seq = 3", []).is_err());
        // ... and without them an edit is found.
        c.execute_batch("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
            .unwrap();
        c.execute("UPDATE audit_log SET actor = 'x' WHERE seq = 3", []).unwrap();
        assert!(matches!(verify(&c).unwrap(), Verdict::Broken { seq: 3, .. }));
        c.execute("UPDATE audit_log SET actor = 'admin' WHERE seq = 3", [])
            .unwrap();
        assert!(matches!(verify(&c).unwrap(), Verdict::Intact { entries: 5, .. }));
        c.execute("DELETE FROM audit_log WHERE seq = 2", []).unwrap();
        assert!(matches!(verify(&c).unwrap(), Verdict::Broken { seq: 2, .. }));
    }
}
