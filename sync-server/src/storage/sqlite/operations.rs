//! [`Operations`] on SQLite (rank 2, `storage`).

use std::path::Path;

use super::SqliteStorage;
use crate::server_db::ServerDb;
use crate::storage::{Operations, Result};

impl Operations for SqliteStorage {
    fn ping(&self) -> Result<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).map(|_| ())?))
    }

    fn integrity_check(&self) -> Result<String> {
        self.read(|c| Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))?))
    }

    fn backup_to(&self, dest: &Path) -> Result<()> {
        if let Some(key) = self.db.key() {
            // Encrypted (ADR 0009): `VACUUM INTO` would write the copy with SQLCipher's default
            // cipher settings, not ours, so the copy is exported with the same key and settings
            // in one read transaction on a connection of its own (it must create the file);
            // the writer carries on meanwhile (WAL).
            let conn = self.db.open(crate::server_db::Access::Export)?;
            return Ok(gridbook_core::at_rest::export_encrypted(&conn, dest, key)?);
        }
        // `VACUUM INTO` reads one consistent snapshot (a WAL read transaction) on a reader
        // connection: the writer and the other readers carry on while it runs.
        self.read(|c| {
            c.execute("VACUUM INTO ?1", [dest.to_string_lossy()])?;
            Ok(())
        })
    }

    fn server_db(&self) -> Option<&ServerDb> {
        Some(&self.db)
    }
}
