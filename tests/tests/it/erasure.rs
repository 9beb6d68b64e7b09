//! Crypto-shredding (issue 9, docs/adr/0004-crypto-shredding.md): a person's sensitive fields
//! travel and rest sealed with a per-person key; erasing the person on the server destroys the
//! key there and, at their next sync, on every device. Real server on 127.0.0.1, real phone
//! stores in files (plain SQLite here, so that the raw-bytes search sees what is written).

use std::path::Path;

use gridbook_core::domain::Person;
use gridbook_core::sensitive::id_check_char;
use gridbook_core::shred::{self, PersonKey};
use gridbook_tests::{Phone, TestServer, fast_client, household};
use rusqlite::Connection;

const NAME: &str = "欧阳淑珍";
const PHONE: &str = "13905371234";

fn id_number() -> String {
    let first17 = "37088319580315442";
    format!("{first17}{}", id_check_char(first17).unwrap())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Which of `needles` occur in the files of the database at `path` (file, WAL).
fn in_files(path: &Path, needles: &[(&str, Vec<u8>)]) -> Vec<String> {
    let mut found = vec![];
    for suffix in ["", "-wal", "-journal"] {
        let file = format!("{}{suffix}", path.display());
        let Ok(raw) = std::fs::read(&file) else { continue };
        for (what, n) in needles {
            if contains(&raw, n) {
                found.push(format!("{what} in {file}"));
            }
        }
    }
    found
}

/// Which of `needles` occur in any stored change or document of a database (phone or server).
fn in_blobs(db: &Connection, needles: &[(&str, Vec<u8>)]) -> Vec<String> {
    let mut found = vec![];
    for (table, col) in [
        ("docs", "bytes"),
        ("outbox", "bytes"),
        ("pending_changes", "bytes"),
        ("change_log", "bytes"),
        ("person_keys", "key"),
    ] {
        let Ok(mut stmt) = db.prepare(&format!("SELECT {col} FROM {table}")) else {
            continue; // the table exists on one side only
        };
        let blobs: Vec<Vec<u8>> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for b in &blobs {
            for (what, n) in needles {
                if contains(b, n) {
                    found.push(format!("{what} in {table}.{col}"));
                }
            }
        }
    }
    found
}

/// The sealed values of the person's document as stored in a database.
fn sealed_values(db: &Connection, id: &str) -> Vec<String> {
    let bytes: Vec<u8> = db
        .query_row("SELECT bytes FROM docs WHERE id = ?1", [id], |r| r.get(0))
        .unwrap();
    let doc = automerge::AutoCommit::load(&bytes).unwrap();
    let body = gridbook_core::doc::root_obj(&doc, "body").unwrap();
    let body = gridbook_core::doc::read_json(&doc, &body);
    ["name", "id_number", "phone"]
        .iter()
        .filter_map(|f| body[*f].as_str().map(str::to_string))
        .collect()
}

fn key_row(db: &Connection, id: &str) -> Option<Vec<u8>> {
    db.query_row("SELECT key FROM person_keys WHERE person_id = ?1", [id], |r| r.get(0))
        .ok()
}

async fn erase(url: &str, token: &str, id: &str, reason: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(format!("{url}/v1/admin/persons/{id}/erase"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "reason": reason }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_persons_fields_are_unreadable_on_every_replica_and_in_every_file() {
    let mut server = TestServer::start().await;
    let (grid, other) = (server.plan.grids[0].clone(), server.plan.grids[1].clone());
    let mut a = Phone::login(&server.url, "grid01", &server.password("grid01"), fast_client()).await;
    let mut b = Phone::login(&server.url, "leader01", &server.password("leader01"), fast_client()).await;
    let mut c = Phone::login(&server.url, "grid02", &server.password("grid02"), fast_client()).await;
    let admin = Phone::login(&server.url, "admin", &server.password("admin"), fast_client()).await;
    for p in [&mut a, &mut b, &mut c] {
        p.sync().await;
    }

    // A worker registers a resident offline, then syncs; the leader of the grid syncs.
    let hh = a.store.create(&household(&grid, "901")).unwrap();
    let person = Person {
        household_id: hh,
        grid_id: grid.clone(),
        name: NAME.into(),
        id_number: Some(id_number()),
        phone: Some(PHONE.into()),
        relation: "户主".into(),
        birth_date: None,
        labels: vec![],
    };
    let id = a.store.create(&person).unwrap();
    let key = key_row(a.store.connection(), &id).expect("the creating phone made a key");
    a.sync().await;
    b.sync().await;
    c.sync().await;
    // The key went to the server and to the device whose scope covers the person, not further.
    assert_eq!(key_row(&server.db(), &id).as_deref(), Some(key.as_slice()));
    assert_eq!(key_row(b.store.connection(), &id).as_deref(), Some(key.as_slice()));
    assert_eq!(
        b.store.get::<Person>(&id).unwrap(),
        person,
        "the leader reads the person"
    );
    assert_eq!(key_row(c.store.connection(), &id), None, "grid02 gets no key of grid01");
    assert!(other != grid);
    // Sealed in the documents everywhere, and they open with the key (so the checks below mean
    // something).
    let sealed = sealed_values(&server.db(), &id);
    assert_eq!(sealed.len(), 3);
    let k = PersonKey::from_bytes(&key).unwrap();
    assert_eq!(shred::open(&k, &id, "name", &sealed[0]).as_deref(), Some(NAME));

    // Bad erase requests are typed errors and change nothing.
    let (status, body) = erase(&server.url, &a.token(), &id, "迁出").await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    let (status, body) = erase(&server.url, &admin.token(), &id, "  ").await;
    assert_eq!((status, body["code"].as_str()), (422, Some("invalid_reason")));
    let (status, body) = erase(&server.url, &admin.token(), &hh_id(&a, &id), "迁出").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("not_found")),
        "a household is not a person"
    );
    assert!(key_row(&server.db(), &id).is_some());

    // The district admin erases the person (moved away).
    let (status, body) = erase(&server.url, &admin.token(), &id, "已迁出本区，本人申请删除").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["seq"], 1);
    assert_eq!(key_row(&server.db(), &id), None, "the server's key is gone");
    let (status, again) = erase(&server.url, &admin.token(), &id, "重复").await;
    assert_eq!((status, again["seq"].clone()), (200, body["seq"].clone()), "idempotent");
    // Each erasure is in the tamper-evident audit log with its reason; the refused ones are not.
    let reasons: Vec<String> = server
        .db()
        .prepare("SELECT json_extract(detail, '$.reason') FROM audit_log WHERE action = 'erasure' AND target = ?1 ORDER BY seq")
        .unwrap()
        .query_map([format!("person:{id}")], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(reasons, ["已迁出本区，本人申请删除", "重复"]);

    for p in [&mut a, &mut b, &mut c] {
        p.sync().await;
    }
    for p in [&a, &b] {
        assert_eq!(p.store.get::<Person>(&id).unwrap_err().code(), "sensitive_unavailable");
        let json = p.store.get_json(&id).unwrap();
        assert_eq!(json["name"], serde_json::Value::Null);
        assert_eq!(
            json[shred::UNAVAILABLE_KEY],
            serde_json::json!(["name", "id_number", "phone"])
        );
        assert_eq!(json["relation"], "户主", "the rest of the record stays");
        let listed: String = p
            .store
            .connection()
            .query_row("SELECT name_masked FROM persons WHERE id = ?1", [&id], |r| r.get(0))
            .unwrap();
        assert_eq!(listed, shred::UNAVAILABLE_TEXT);
        assert_eq!(key_row(p.store.connection(), &id), None, "the device dropped its key");
        assert_eq!(p.store.erasure_cursor().unwrap(), 1);
    }
    let listed: String = server
        .db()
        .query_row("SELECT name_masked FROM persons WHERE id = ?1", [&id], |r| r.get(0))
        .unwrap();
    assert_eq!(listed, shred::UNAVAILABLE_TEXT, "the server's query rows too");
    // Nor can a device write the erased person's fields again.
    assert_eq!(a.store.update(&id, &person).unwrap_err().code(), "person_erased");

    // No key left anywhere opens what every replica still holds in its history.
    let sealed_now: Vec<String> = [a.store.connection(), b.store.connection(), &server.db()]
        .iter()
        .flat_map(|db| sealed_values(db, &id))
        .collect();
    assert!(sealed_now.iter().all(|s| shred::is_sealed(&serde_json::json!(s))));
    for db in [
        a.store.connection(),
        b.store.connection(),
        c.store.connection(),
        &server.db(),
    ] {
        let mut stmt = db.prepare("SELECT key FROM person_keys").unwrap();
        let keys: Vec<Vec<u8>> = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        for k in keys {
            let k = PersonKey::from_bytes(&k).unwrap();
            for (s, field) in sealed_now.iter().zip(["name", "id_number", "phone"].iter().cycle()) {
                assert_eq!(shred::open(&k, &id, field, s), None);
            }
        }
    }

    // The raw bytes: no plaintext and no key in any stored change or snapshot, on any device or
    // the server, nor anywhere in their files.
    let id_number = id_number();
    let needles: Vec<(&str, Vec<u8>)> = vec![
        ("name", NAME.as_bytes().to_vec()),
        ("id number", id_number.as_bytes().to_vec()),
        ("phone", PHONE.as_bytes().to_vec()),
        ("person key", key.clone()),
    ];
    for p in [&a, &b, &c] {
        assert_eq!(in_blobs(p.store.connection(), &needles), Vec::<String>::new());
    }
    assert_eq!(in_blobs(&server.db(), &needles), Vec::<String>::new());
    let mut paths: Vec<std::path::PathBuf> = [&a, &b, &c].iter().map(|p| p.path.clone()).collect();
    paths.push(server.state.config.db_path());
    drop((a, b, c, admin));
    server.shutdown().await;
    for path in &paths {
        assert_eq!(in_files(path, &needles), Vec::<String>::new());
    }
}

/// The household id of the person (a record that is not a person).
fn hh_id(p: &Phone, person: &str) -> String {
    p.store
        .connection()
        .query_row("SELECT household_id FROM persons WHERE id = ?1", [person], |r| r.get(0))
        .unwrap()
}
