//! [`SqliteStorage`]: the embedded default. One file, WAL, `synchronous=FULL`; one writer
//! connection behind a mutex and a small pool of readers.
//!
//! The file holds the phone's schema (`gridbook_core::query_tables::migrate`: `docs` and the query
//! tables, filled by `gridbook_core::query_tables::record`, so supervisor review can query the
//! same tables as a phone) plus the server's own tables ([`schema`]: `sync-server/migrations/NNN_*.sql`), versioned in
//! `server_meta`.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::Connection;

mod accounts;
pub mod audit;
mod change_log;
pub mod files;
mod keys;
mod operations;
mod org;
mod review;
pub mod schema;
pub mod working_store;

use crate::server_db::ServerDb;
use crate::storage::{Result, StorageError};

/// The embedded SQLite storage.
pub struct SqliteStorage {
    db: ServerDb,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    max_readers: usize,
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

fn poisoned() -> StorageError {
    StorageError::Poisoned
}

impl SqliteStorage {
    /// Open (or create) the plain database file and bring both schemas up to date.
    pub fn open(path: &Path, max_readers: usize) -> gridbook_core::Result<SqliteStorage> {
        SqliteStorage::open_db(&ServerDb::plain(path), max_readers)
    }

    /// Open (or create) the database file with its key, if any (a plain file is encrypted in
    /// place first; a key that does not fit is [`gridbook_core::Error::WrongKey`]), and bring both schemas up
    /// to date. Every connection, writer and readers, gets the key (ADR 0009).
    pub fn open_db(db: &ServerDb, max_readers: usize) -> gridbook_core::Result<SqliteStorage> {
        let mut conn = db.open_writer()?;
        gridbook_core::query_tables::prepare(&conn)?;
        // The server acks only after a commit that survives power loss, whatever the phone's
        // store chose for itself.
        conn.pragma_update(None, "synchronous", "FULL")?;
        gridbook_core::query_tables::migrate(&mut conn)?;
        schema::migrate(&mut conn)?;
        Ok(SqliteStorage {
            db: db.clone(),
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            max_readers,
        })
    }

    fn open_reader(&self) -> Result<Connection> {
        let conn = self.db.open_read_only()?;
        conn.pragma_update(None, "temp_store", 2)?;
        Ok(conn)
    }

    fn read<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let pooled = self.readers.lock().map_err(|_| poisoned())?.pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => self.open_reader()?,
        };
        let out = f(&mut conn);
        let mut pool = self.readers.lock().map_err(|_| poisoned())?;
        if pool.len() < self.max_readers {
            pool.push(conn);
        }
        out
    }

    fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self.writer.lock().map_err(|_| poisoned())?;
        f(&mut conn)
    }

    /// [`Self::write`] for unit tests of other modules.
    #[cfg(test)]
    pub(crate) fn write_for_test<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        self.write(f)
    }
}

fn json_list(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::scopes::DEPARTMENT_SCOPE_PREFIX;
    use crate::storage::*;
    use gridbook_core::sync::Cursor;
    use rusqlite::params;
    use std::collections::BTreeSet;

    #[test]
    fn durable_settings_and_an_empty_pull() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(&dir.path().join("db.sqlite3"), 2).unwrap();
        let (sync, journal): (i64, String) = s
            .write(|c| {
                let sync = c.pragma_query_value(None, "synchronous", |r| r.get(0))?;
                let journal = c.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
                Ok((sync, journal))
            })
            .unwrap();
        assert_eq!((sync, journal.as_str()), (2, "wal"), "synchronous=FULL, WAL");
        assert_eq!(s.integrity_check().unwrap(), "ok");
        let page = s
            .pull(&PullQuery {
                cursors: vec![Cursor {
                    scope: "g".into(),
                    seq: 0,
                    snapshot_after: None,
                }],
                exclude_origin: "d".into(),
                max_bytes: 1024,
            })
            .unwrap();
        assert!(!page.more && page.snapshots.is_empty() && page.changes.is_empty());
        // Reopening is a no-op migration.
        drop(s);
        SqliteStorage::open(&dir.path().join("db.sqlite3"), 2).unwrap();
    }

    /// Sub-grids (二级网格) are scopes too, in the community and sub-district of their grid;
    /// a node below a sub-grid (a building) is not.
    #[test]
    fn org_grids_include_sub_grids_in_their_grids_community() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(&dir.path().join("db.sqlite3"), 2).unwrap();
        s.write(|c| {
            for (id, level, parent) in [
                ("d", "district", None),
                ("s1", "sub_district", Some("d")),
                ("c1", "community", Some("s1")),
                ("g1", "grid", Some("c1")),
                ("g1a", "sub_grid", Some("g1")),
                ("b1", "building", Some("g1a")),
            ] {
                c.execute(
                    "INSERT INTO org_nodes (id, name, level, code, parent, effective_from) VALUES (?1, ?1, ?2, '', ?3, '2026-01-01')",
                    params![id, level, parent],
                )?;
            }
            Ok(())
        })
        .unwrap();
        let node = |id: &str| OrgGrid {
            id: id.into(),
            community: Some("c1".into()),
            sub_district: Some("s1".into()),
        };
        assert_eq!(s.org_grids().unwrap(), vec![node("g1"), node("g1a")]);
    }

    /// Bootstrap pages under every byte budget deliver every document of every scope once. A
    /// budget running out exactly between two scopes once marked the next scope bootstrapped
    /// with nothing sent (found by the simulation, seed 0 of the privacy-phone branch).
    #[test]
    fn every_budget_bootstraps_every_scope_completely() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(&dir.path().join("db.sqlite3"), 2).unwrap();
        let dept = format!("{DEPARTMENT_SCOPE_PREFIX}d1");
        let mut expected = BTreeSet::new();
        s.write(|c| {
            let mut seq: i64 = 0;
            for (scope, n) in [("a", 3), ("b", 1), ("c", 4), ("district", 2)] {
                for i in 0..n {
                    seq += 1;
                    let id = format!("{scope}-{i}");
                    let bytes = vec![7u8; 10 + 13 * ((seq as usize * 5) % 7)];
                    c.execute(
                        "INSERT INTO docs (id, kind, scope, bytes, heads) VALUES (?1, 'case', ?2, ?3, '')",
                        params![id, scope, bytes],
                    )?;
                    c.execute(
                        "INSERT INTO change_log (seq, scope, doc_id, hash, bytes, origin_device, received_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, 'other', 0)",
                        params![seq, scope, id, format!("h{seq}"), bytes],
                    )?;
                    expected.insert((scope.to_string(), id.clone()));
                    if scope == "c" {
                        c.execute(
                            "INSERT INTO case_departments (department, doc_id, last_seq) VALUES ('d1', ?1, ?2)",
                            params![id, seq],
                        )?;
                        expected.insert((dept.clone(), id));
                    }
                }
            }
            Ok(())
        })
        .unwrap();
        let scopes = ["a", "b", "c", "district", dept.as_str()];
        for budget in 1..400 {
            let mut cursors: Vec<Cursor> = scopes
                .iter()
                .map(|s| Cursor {
                    scope: s.to_string(),
                    seq: 0,
                    snapshot_after: None,
                })
                .collect();
            let mut got = BTreeSet::new();
            for page_no in 0.. {
                assert!(page_no < 50, "budget {budget}: no end");
                let page = s
                    .pull(&PullQuery {
                        cursors: cursors.clone(),
                        exclude_origin: "me".into(),
                        max_bytes: budget,
                    })
                    .unwrap();
                for d in page.snapshots.iter().chain(&page.changes) {
                    got.insert((d.scope.clone(), d.doc_id.clone()));
                }
                cursors = page.cursors;
                if !page.more {
                    break;
                }
            }
            assert_eq!(got, expected, "budget {budget}");
            assert!(
                cursors.iter().all(|c| c.seq == 10 && c.snapshot_after.is_none()),
                "budget {budget}: {cursors:?}"
            );
        }
    }
}
