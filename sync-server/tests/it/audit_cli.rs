//! `gridbook-server audit verify --data DIR` (issue 9): an untouched audit log verifies;
//! editing one row with raw SQL on the database file makes verify fail, naming that row.

use std::path::Path;
use std::process::Command;

use gridbook_core::demo::DemoOptions;
use gridbook_sync_server::{AppState, Config, audit, demo};
use rusqlite::Connection;

fn verify(data: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gridbook-server"))
        .args(["audit", "verify", "--data"])
        .arg(data)
        .env("GRIDBOOK_LOG", "warn")
        .output()
        .expect("run gridbook-server audit verify");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn verify_passes_an_untouched_log_and_names_an_edited_row() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        argon2_memory_kib: 256,
        argon2_iterations: 1,
        ..Config::default()
    };
    let state = AppState::open(config.clone()).unwrap();
    let opts = DemoOptions {
        households: 0,
        days: 0,
        ..DemoOptions::default()
    };
    // Seeding creates the demo accounts: one audit entry each.
    let plan = demo::seed(state.storage.as_ref(), opts, 256, 1).unwrap();
    audit::append(
        state.storage.as_ref(),
        "admin",
        audit::Action::Erasure,
        "person:test",
        serde_json::json!({"reason": "moved away"}),
    )
    .unwrap();
    let n = plan.accounts.len() as i64 + 1;
    drop(state);

    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("intact: {n} entries")), "{out}");

    // Someone with the disk edits entry 3 (dropping the append-only trigger first).
    let db = Connection::open(config.db_path()).unwrap();
    let original: String = db
        .query_row("SELECT detail FROM audit_log WHERE seq = 3", [], |r| r.get(0))
        .unwrap();
    assert!(
        db.execute("UPDATE audit_log SET detail = '{}' WHERE seq = 3", [])
            .is_err(),
        "the server's own triggers refuse edits"
    );
    db.execute_batch("DROP TRIGGER audit_log_no_update").unwrap();
    db.execute(
        "UPDATE audit_log SET detail = '{\"role\":\"district_admin\"}' WHERE seq = 3",
        [],
    )
    .unwrap();
    let (code, out) = verify(dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BROKEN at entry 3"), "{out}");

    // Put back: intact again (the check is about content, not about having been touched).
    db.execute("UPDATE audit_log SET detail = ?1 WHERE seq = 3", [original])
        .unwrap();
    assert_eq!(verify(dir.path()).0, 0);
    // A deleted row is named too.
    db.execute_batch("DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 5;")
        .unwrap();
    let (code, out) = verify(dir.path());
    assert_eq!(code, 1);
    assert!(out.contains("BROKEN at entry 5"), "{out}");
    // A missing database is a clear error, not a pass.
    let (code, _) = verify(&dir.path().join("nowhere"));
    assert_eq!(code, 2);
}
