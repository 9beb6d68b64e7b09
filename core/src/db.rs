//! Opening the SQLite file: pragmas and versioned migrations.
//!
//! Each file in `core/migrations/` is one step that moves `PRAGMA user_version` up by one, run
//! in its own transaction. Shipped files are frozen; a change to the schema is a new file.
//!
//! Rank 4 of the crate's layers (core/README.md): the SQL of the phone's store below the store
//! itself lives here: person keys ([`person_keys`]), rule sets ([`rule_sets`]), the query
//! tables ([`query_rows`]). It converts SQLite's errors into the crate's [`Error`] (the error
//! module does not know SQLite).

pub mod person_keys;
pub mod query_rows;
pub mod rule_sets;

use rusqlite::Connection;

use crate::error::{Error, Result};

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Db(Box::new(e))
    }
}

/// The migrations, in order: index + 1 is the schema version after the step.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/001_init.sql"),
    include_str!("../migrations/002_sync_bootstrap.sql"),
    include_str!("../migrations/003_person_keys.sql"),
    include_str!("../migrations/004_rule_sets.sql"),
    include_str!("../migrations/005_fewer_pages.sql"),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Pragmas for a phone: WAL for readers beside the writer, `synchronous=NORMAL` (Android's own
/// default in WAL mode: an app crash loses nothing, a power cut may lose the last commits but
/// never corrupts; see docs/adr/0002-phone-store-durability.md), foreign keys on, temp in memory.
pub fn prepare(conn: &Connection) -> Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", 2)?;
    // Deleted rows are overwritten, not just unlinked: an erased person's key (issue 9) must not
    // survive in a free page or a rewritten cell.
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

/// Checkpoints the WAL from a thread of its own, so that a save on the UI's path never pays
/// for copying the WAL into the database (which would otherwise land on every ~100th save).
pub struct Checkpointer {
    signal: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    writes: u32,
}

impl Checkpointer {
    /// Writes between two checkpoint requests.
    const EVERY: u32 = 32;

    /// Turn off the writer's automatic checkpoints and start the checkpoint thread (which opens
    /// the file again, with the store's key if it is encrypted).
    pub fn start(
        path: &std::path::Path,
        key: Option<&crate::at_rest::StoreKey>,
        writer: &Connection,
    ) -> Result<Checkpointer> {
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        writer.pragma_update(None, "journal_size_limit", 4 * 1024 * 1024)?;
        let (signal, wake) = std::sync::mpsc::sync_channel::<()>(1);
        let (path, key) = (path.to_path_buf(), key.cloned());
        let thread = std::thread::Builder::new()
            .name("gridbook-checkpoint".into())
            .spawn(move || {
                use std::sync::mpsc::RecvTimeoutError;
                // The thread opens its own connection, off the path of `Store::open` (with an
                // encrypted store that is a key set-up and the schema's pages decrypted again).
                let mut conn = None;
                loop {
                    let last = matches!(
                        wake.recv_timeout(std::time::Duration::from_secs(5)),
                        Err(RecvTimeoutError::Disconnected)
                    );
                    if conn.is_none() {
                        match crate::at_rest::open_again(&path, key.as_ref()) {
                            Ok(c) => {
                                let _ = c.busy_timeout(std::time::Duration::from_secs(5));
                                conn = Some(c);
                            }
                            Err(e) => tracing::warn!(error = %e, "checkpoint connection not opened; retried later"),
                        }
                    }
                    if let Some(c) = &conn
                        && let Err(e) = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "checkpoint failed");
                    }
                    if last {
                        break;
                    }
                }
            })
            .map_err(|e| Error::Corrupt {
                id: "checkpoint thread".into(),
                reason: e.to_string(),
            })?;
        Ok(Checkpointer {
            signal: Some(signal),
            thread: Some(thread),
            writes: 0,
        })
    }

    /// Note a committed write; every few writes, wake the thread (never blocks).
    pub fn wrote(&mut self) {
        self.writes += 1;
        if self.writes >= Self::EVERY {
            self.writes = 0;
            if let Some(s) = &self.signal {
                let _ = s.try_send(());
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.signal.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Bring the schema up to [`SCHEMA_VERSION`]; refuse a file from a newer build.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "store schema migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_and_refuses_newer() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        assert_eq!(migrate(&mut conn).unwrap_err().code(), "schema_too_new");
    }

    /// Step 5 rebuilds the outbox without AUTOINCREMENT: unacknowledged changes made under
    /// schema 4 survive in their order, new ones come after them, and no insert touches
    /// `sqlite_sequence` any more (one page less written per save). Labels learn their
    /// person's household.
    #[test]
    fn step_5_keeps_the_outbox_order_stops_sqlite_sequence_and_fills_label_households() {
        let mut conn = Connection::open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        for (i, sql) in MIGRATIONS.iter().take(4).enumerate() {
            tx.execute_batch(sql).unwrap();
            tx.pragma_update(None, "user_version", i as i64 + 1).unwrap();
        }
        tx.commit().unwrap();
        for n in 0..5 {
            conn.execute(
                "INSERT INTO outbox (doc_id, hash, bytes) VALUES (?1, ?2, ?3)",
                rusqlite::params![format!("doc-{n}"), format!("hash-{n}"), vec![n as u8; 3]],
            )
            .unwrap();
        }
        conn.execute("DELETE FROM outbox WHERE hash IN ('hash-0', 'hash-2')", [])
            .unwrap();
        migrate(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO outbox (doc_id, hash, bytes) VALUES ('doc-new', 'hash-new', x'00')",
            [],
        )
        .unwrap();
        let rows: Vec<(i64, String, Vec<u8>)> = conn
            .prepare("SELECT seq, hash, bytes FROM outbox ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let hashes: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
        assert_eq!(hashes, ["hash-1", "hash-3", "hash-4", "hash-new"]);
        assert_eq!(rows[0].0, 2, "seq values are kept");
        assert_eq!(rows[2].2, vec![4u8; 3], "bytes are kept");
        let counted: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_sequence WHERE name = 'outbox'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(counted, 0);
    }
}
