//! The server's own schema steps on top of the phone's (rank 2, `storage`): numbered `.sql`
//! files under `sync-server/migrations/` like core's, each run in its own transaction that
//! also bumps `server_meta.schema_version`. A shipped file is never edited: a change is a new
//! step. A database newer than this build is refused (`schema_too_new`).

use gridbook_core::{Error, Result};
use rusqlite::{Connection, OptionalExtension};

/// The server's schema steps; index + 1 = `server_meta.schema_version` after the step.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/001_init.sql"),
    include_str!("../../../migrations/002_case_departments.sql"),
    include_str!("../../../migrations/003_device_sync.sql"),
    include_str!("../../../migrations/004_refresh_tokens.sql"),
    include_str!("../../../migrations/005_audit_log.sql"),
    include_str!("../../../migrations/006_sessions.sql"),
];

/// The server schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The server schema version of an open database (0: none yet).
pub fn version(conn: &Connection) -> Result<i64> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS server_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;")?;
    Ok(conn
        .query_row("SELECT value FROM server_meta WHERE key = 'schema_version'", [], |r| {
            r.get::<_, String>(0)
        })
        .optional()?
        .and_then(|s| s.parse().ok())
        .unwrap_or(0))
}

/// Bring the server's tables of `conn` (whose phone schema is migrated) up to step `upto`,
/// one transaction per step.
pub fn migrate_to(conn: &mut Connection, upto: i64) -> Result<()> {
    let found = version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    let upto = upto.clamp(0, SCHEMA_VERSION) as usize;
    for (i, sql) in MIGRATIONS.iter().enumerate().take(upto).skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO server_meta (key, value) VALUES ('schema_version', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [(i + 1).to_string()],
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// Bring the server's tables of `conn` up to date.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    migrate_to(conn, SCHEMA_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sqlite::SqliteStorage;

    /// Every table, index and trigger (type, name, SQL), the core and the server version.
    type Schema = (Vec<(String, String, Option<String>)>, i64, i64);

    fn schema(path: &std::path::Path) -> Schema {
        let conn = Connection::open(path).unwrap();
        let mut stmt = conn
            .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
            .unwrap();
        let objects = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let core: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        (objects, core, version(&conn).unwrap())
    }

    /// test_all_upgrades (application-services): a database left at each server version from
    /// 1 on and then opened by this build has exactly the schema of a fresh one.
    #[test]
    fn a_database_migrated_from_every_version_equals_a_fresh_one() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh.sqlite3");
        drop(SqliteStorage::open(&fresh, 1).unwrap());
        let expected = schema(&fresh);
        assert_eq!(expected.2, SCHEMA_VERSION);
        assert!(
            expected
                .0
                .iter()
                .any(|(t, n, _)| t == "trigger" && n == "audit_log_no_update")
        );
        for from in 1..=SCHEMA_VERSION {
            let old = dir.path().join(format!("v{from}.sqlite3"));
            {
                let mut conn = Connection::open(&old).unwrap();
                gridbook_core::query_tables::migrate(&mut conn).unwrap();
                migrate_to(&mut conn, from).unwrap();
                assert_eq!(version(&conn).unwrap(), from);
            }
            drop(SqliteStorage::open(&old, 1).unwrap());
            assert_eq!(schema(&old), expected, "migrated from server version {from}");
        }
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        gridbook_core::query_tables::migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        conn.execute(
            "UPDATE server_meta SET value = ?1 WHERE key = 'schema_version'",
            [(SCHEMA_VERSION + 1).to_string()],
        )
        .unwrap();
        assert!(matches!(migrate(&mut conn), Err(Error::SchemaTooNew { .. })));
    }
}
