//! The audit log's table in SQLite (审计日志, issue 9; rank 2, `storage`): its schema step,
//! the append inside the writer's transaction, the chain walk and the reads. The entry types
//! and the hash are `crate::model::audit`; appending from a service is `crate::audit::append`.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::error::{ApiError, ApiResult};
use crate::model::audit::{ChainCheck, Entry, GENESIS, NewEntry, Verdict, entry_hash};
use crate::server_db::ServerDb;

/// SQL of the table (a server migration step).
pub const SCHEMA: &str = include_str!("../../../migrations/005_audit_log.sql");

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

fn entry_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
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
}

/// Walk the chain of an open database.
pub fn verify(conn: &Connection) -> rusqlite::Result<Verdict> {
    let mut stmt =
        conn.prepare("SELECT seq, at, actor, action, target, detail, prev_hash, hash FROM audit_log ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    let mut check = ChainCheck::new();
    while let Some(r) = rows.next()? {
        if let Some(broken) = check.next(&entry_row(r)?) {
            return Ok(broken);
        }
    }
    Ok(check.finish())
}

/// Walk the chain of a database file opened read-only with its key, if any (`wrong_key` for
/// an encrypted file without its key).
pub fn verify_db(db: &ServerDb) -> ApiResult<Verdict> {
    let conn = db.open_read_only().map_err(|e| db.explain(e))?;
    verify(&conn).map_err(|e| ApiError::Internal(format!("{}: {e}", db.path().display())))
}

/// The last `limit` entries about `target` (newest first).
pub fn entries_for(conn: &Connection, target: &str, limit: i64) -> rusqlite::Result<Vec<Entry>> {
    let mut stmt = conn.prepare(
        "SELECT seq, at, actor, action, target, detail, prev_hash, hash FROM audit_log WHERE target = ?1 ORDER BY seq DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(rusqlite::params![target, limit], entry_row)?;
    rows.collect()
}

impl crate::storage::AuditLog for super::SqliteStorage {
    fn audit_append(&self, entry: &NewEntry) -> crate::storage::Result<Entry> {
        self.write(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let e = append_sql(&tx, entry)?;
            tx.commit()?;
            Ok(e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::audit::Action;

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
