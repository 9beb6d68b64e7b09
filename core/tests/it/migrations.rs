//! The phone store's migrations (`core/migrations/NNN_*.sql`, run by `db::migrate`): a store
//! made by any older build and brought up step by step has the schema of a fresh one
//! (application-services' `test_all_upgrades`). Compared: every table, index (the automatic
//! ones too), trigger and view in `sqlite_master` with its SQL, and the columns of every index.

use std::path::PathBuf;

use gridbook_core::Store;
use gridbook_core::query_tables::{self as db, SCHEMA_VERSION};
use rusqlite::Connection;

use crate::common::admin;

/// The shipped migration files, in order (as `db.rs` includes them).
fn migration_files() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("core/migrations")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .map(|p| {
            let name = p.file_name().expect("file name").to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("read migration"))
        })
        .collect();
    files.sort();
    files
}

/// A database as a build of schema `version` left it: the first `version` steps, each in its
/// own transaction bumping `user_version`, as `db::migrate` runs them.
fn at_version(conn: &mut Connection, version: usize) {
    for (i, (_, sql)) in migration_files().iter().take(version).enumerate() {
        let tx = conn.transaction().unwrap();
        tx.execute_batch(sql).unwrap();
        tx.pragma_update(None, "user_version", i as i64 + 1).unwrap();
        tx.commit().unwrap();
    }
}

/// Everything that makes up the schema, sorted: `sqlite_master` rows and the columns of each
/// index.
fn schema(conn: &Connection) -> Vec<String> {
    let mut out: Vec<String> = conn
        .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
        .unwrap()
        .query_map([], |r| {
            Ok(format!(
                "{} {} on {}: {}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?.unwrap_or_default()
            ))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let indexes: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    for index in indexes {
        let cols: Vec<String> = conn
            .prepare(&format!("PRAGMA index_xinfo(\"{index}\")"))
            .unwrap()
            .query_map([], |r| {
                Ok(format!(
                    "{}:{}:desc={}:key={}",
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(5)?
                ))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        out.push(format!("index {index} columns {}", cols.join(", ")));
    }
    out
}

fn user_version(conn: &Connection) -> i64 {
    conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap()
}

fn fresh() -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    db::migrate(&mut conn).unwrap();
    conn
}

#[test]
fn the_migration_files_are_the_steps_db_runs() {
    let files = migration_files();
    assert_eq!(files.len() as i64, SCHEMA_VERSION, "one file per schema version");
    for (i, (name, _)) in files.iter().enumerate() {
        assert!(name.starts_with(&format!("{:03}_", i + 1)), "{name} is step {}", i + 1);
    }
    assert_eq!(user_version(&fresh()), SCHEMA_VERSION);
}

/// From version 1, and from every later version: migrated step by step equals fresh.
#[test]
fn test_all_upgrades() {
    let expected = schema(&fresh());
    assert!(expected.iter().any(|s| s.starts_with("table docs ")), "{expected:?}");
    assert!(expected.iter().any(|s| s.starts_with("index ")), "{expected:?}");
    for from in 1..=SCHEMA_VERSION as usize {
        let mut conn = Connection::open_in_memory().unwrap();
        at_version(&mut conn, from);
        assert_eq!(user_version(&conn), from as i64);
        db::migrate(&mut conn).unwrap();
        assert_eq!(user_version(&conn), SCHEMA_VERSION, "from version {from}");
        assert_eq!(
            schema(&conn),
            expected,
            "migrated from version {from} differs from a fresh store"
        );
    }
}

/// A version-1 store file opened by this build (`Store::open`: pragmas, migrations, the built-in
/// template) has the schema of a store made by this build.
#[test]
fn a_version_1_store_file_opens_with_the_schema_of_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (dir.path().join("old.db"), dir.path().join("new.db"));
    at_version(&mut Connection::open(&old).unwrap(), 1);
    let old_store = Store::open(&old, admin()).unwrap();
    let new_store = Store::open(&new, admin()).unwrap();
    assert_eq!(user_version(old_store.connection()), SCHEMA_VERSION);
    assert_eq!(schema(old_store.connection()), schema(new_store.connection()));
}
