//! `gridbook-server admin erase-person --person ID --reason TEXT` (issue 9) as a separate
//! process beside a running server: bad input is refused with its code and changes nothing; an
//! erasure destroys the key, is in the audit log like one made through the HTTP endpoint, and
//! reaches a phone at its next sync.

use std::process::Command;

use gridbook_core::domain::Person;
use rusqlite::{Connection, OpenFlags};

use super::admin_cli::{admin, text};
use super::kill::{phone, spawn};

fn server_db(data: &std::path::Path) -> Connection {
    Connection::open_with_flags(data.join("gridbook.sqlite3"), OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

fn server_has_key(data: &std::path::Path, id: &str) -> bool {
    server_db(data)
        .query_row("SELECT count(*) FROM person_keys WHERE person_id = ?1", [id], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap()
        > 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erase_person_from_the_shell_beside_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = spawn(&data, 0);
    let url = format!("http://127.0.0.1:{}", server.port);
    let (mut store, client) = phone(dir.path(), "a.sqlite3", &url).await;
    client.sync(&mut store).await.unwrap();
    // A demo person of the phone's grid, readable there with its key.
    let id: String = store
        .connection()
        .query_row(
            "SELECT p.id FROM persons p JOIN person_keys k ON k.person_id = p.id ORDER BY p.id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("the phone holds a person with its key");
    assert!(store.get::<Person>(&id).is_ok());
    assert!(server_has_key(&data, &id));

    // Bad input: typed codes, nothing erased.
    let out = admin(&data, &["erase-person", "--person", &id, "--reason", "   "]);
    assert!(!out.status.success());
    assert!(text(&out).contains("invalid_reason"), "{}", text(&out));
    assert!(text(&out).contains("擦除须填写原因"), "{}", text(&out));
    let out = admin(&data, &["erase-person", "--person", &id]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("--reason"),
        "the reason is required: {}",
        text(&out)
    );
    let out = admin(
        &data,
        &["erase-person", "--person", "no-such-person", "--reason", "迁出"],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("not_found"), "{}", text(&out));
    assert!(server_has_key(&data, &id));

    // The erasure.
    let out = admin(
        &data,
        &["erase-person", "--person", &id, "--reason", "已迁出本区，本人申请删除"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("已擦除"), "{}", text(&out));
    assert!(!server_has_key(&data, &id), "the server's key is gone");
    let (actor, detail): (String, String) = server_db(&data)
        .query_row(
            "SELECT actor, detail FROM audit_log WHERE action = 'erasure' AND target = ?1",
            [format!("person:{id}")],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("one audit entry");
    let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(actor, "cli");
    assert_eq!(detail["reason"], "已迁出本区，本人申请删除");
    assert_eq!(detail["seq"], 1);
    assert_eq!(detail["via"], "cli");
    let verify = Command::new(env!("CARGO_BIN_EXE_gridbook-server"))
        .args(["audit", "verify", "--data"])
        .arg(&data)
        .env("GRIDBOOK_LOG", "warn")
        .output()
        .unwrap();
    assert!(verify.status.success(), "the audit chain still verifies");

    // The running server tells the phone at its next sync.
    client.sync(&mut store).await.unwrap();
    assert_eq!(store.get::<Person>(&id).unwrap_err().code(), "sensitive_unavailable");
    assert_eq!(store.erasure_cursor().unwrap(), 1);
    let keys: i64 = store
        .connection()
        .query_row("SELECT count(*) FROM person_keys WHERE person_id = ?1", [&id], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(keys, 0, "the phone dropped its key");

    server.child.kill().unwrap();
    server.child.wait().unwrap();
}
