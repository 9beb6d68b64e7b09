//! Crypto-shredding (issue 9, docs/adr/0004-crypto-shredding.md): a person's sensitive fields
//! travel and rest sealed with a per-person key; erasing the person on the server destroys the
//! key there and, at their next sync, on every device. Real server on 127.0.0.1, real phone
//! stores in files (plain SQLite here, so that the raw-bytes search sees what is written).
//! Sealed: name, ID number, phone, birth date, and each label's key, family and responsible
//! person (ADR 0004, amended).

use std::path::Path;

use chrono::NaiveDate;
use gridbook_core::domain::ids::id_check_char;
use gridbook_core::domain::{AttentionLevel, LabelCategory, Person, PersonLabel};
use gridbook_core::shred::{self, PersonKey};
use gridbook_tests::web::{get, login as web_login, post};
use gridbook_tests::{Phone, TestServer, fast_client, household};
use rusqlite::Connection;

const NAME: &str = "欧阳淑珍";
const PHONE: &str = "13905371234";
/// Unique markers: no demo person is born before 1940, no other label has this responsible
/// person or this key (the known keys such as `community_correction` are also in the checklist
/// template, so a unique key is what the raw-bytes search can look for).
const BIRTH: &str = "1936-07-19";
const RESPONSIBLE: &str = "包案人司马明远";
const MARKER_LABEL: &str = "erasure_marker_special_group";

/// The erased person's labels: a known special-group label (it makes visits due) and one whose
/// key is unique.
fn labels() -> Vec<PersonLabel> {
    let start = NaiveDate::from_ymd_opt(2026, 2, 1).unwrap();
    vec![
        PersonLabel {
            label: "community_correction".into(),
            category: LabelCategory::Special,
            start,
            end: None,
            attention: AttentionLevel::Key,
            responsible: Some(RESPONSIBLE.into()),
        },
        PersonLabel {
            label: MARKER_LABEL.into(),
            category: LabelCategory::Special,
            start,
            end: None,
            attention: AttentionLevel::Attention,
            responsible: None,
        },
    ]
}

/// The resident every test here erases: name, ID number, phone, birth date and labels all
/// carry markers searched for in raw bytes.
fn resident(grid: &str, household_id: String) -> Person {
    Person {
        household_id,
        grid_id: grid.to_string(),
        name: NAME.into(),
        id_number: Some(id_number()),
        phone: Some(PHONE.into()),
        relation: "户主".into(),
        birth_date: Some(BIRTH.parse().unwrap()),
        labels: labels(),
    }
}

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

/// The sealed values of the person's document as stored in a database, with the field each is
/// sealed as.
fn sealed_values(db: &Connection, id: &str) -> Vec<(&'static str, String)> {
    let bytes: Vec<u8> = db
        .query_row("SELECT bytes FROM docs WHERE id = ?1", [id], |r| r.get(0))
        .unwrap();
    let doc = automerge::AutoCommit::load(&bytes).unwrap();
    let body = gridbook_core::doc::body::read(&doc).unwrap();
    let mut out: Vec<(&'static str, String)> = ["name", "id_number", "phone", "birth_date"]
        .iter()
        .filter_map(|f| body[*f].as_str().map(|v| (*f, v.to_string())))
        .collect();
    for l in body["labels"].as_array().into_iter().flatten() {
        for (f, path) in [
            ("label", "labels/*/label"),
            ("category", "labels/*/category"),
            ("responsible", "labels/*/responsible"),
        ] {
            if let Some(v) = l[f].as_str() {
                out.push((path, v.to_string()));
            }
        }
    }
    out
}

/// (visits due, label rows of the person, birth date column) as the server lists them.
async fn listed_on_server(server: &TestServer, cookie: &str, grid: &str, id: &str) -> (i64, i64, Option<String>) {
    let (status, body) = get(&format!("{}/review/api/visits?node={grid}", server.url), cookie).await;
    assert_eq!(status, 200, "{body}");
    let rows: serde_json::Value = serde_json::from_str(&body).unwrap();
    let due = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["grid_id"] == grid)
        .and_then(|r| r["visits_due"].as_i64())
        .expect("the grid's coverage row");
    let db = server.db();
    let labels: i64 = db
        .query_row("SELECT count(*) FROM person_labels WHERE person_id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap();
    let birth: Option<String> = db
        .query_row("SELECT birth_date FROM persons WHERE id = ?1", [id], |r| r.get(0))
        .unwrap();
    (due, labels, birth)
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
    let person = resident(&grid, hh);
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
    assert_eq!(
        sealed.len(),
        4 + 3 + 2,
        "4 fields, 3 of the first label, 2 of the second"
    );
    let k = PersonKey::from_bytes(&key).unwrap();
    let opened: Vec<String> = sealed
        .iter()
        .map(|(f, s)| shred::open(&k, &id, f, s).expect("opens with the key"))
        .collect();
    for plain in [NAME, PHONE, BIRTH, RESPONSIBLE, MARKER_LABEL, "special"] {
        assert!(opened.iter().any(|o| o == plain), "{plain} sealed");
    }
    // The server lists the labels (they make visits due) and the birth date.
    let cookie = web_login(&server.url, "admin", &server.password("admin")).await;
    let (due_before, labels_before, birth_before) = listed_on_server(&server, &cookie, &grid, &id).await;
    assert_eq!((labels_before, birth_before.as_deref()), (2, Some(BIRTH)));

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
            serde_json::json!(["name", "id_number", "phone", "birth_date", "labels"])
        );
        assert_eq!(json["birth_date"], serde_json::Value::Null);
        assert_eq!(json["labels"], serde_json::json!([]), "labels unavailable are absent");
        assert_eq!(json["relation"], "户主", "the rest of the record stays");
        let (listed, birth): (String, Option<String>) = p
            .store
            .connection()
            .query_row(
                "SELECT name_masked, birth_date FROM persons WHERE id = ?1",
                [&id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(listed, shred::UNAVAILABLE_TEXT);
        assert_eq!(birth.as_deref(), Some(shred::UNAVAILABLE_TEXT));
        let label_rows: i64 = p
            .store
            .connection()
            .query_row("SELECT count(*) FROM person_labels WHERE person_id = ?1", [&id], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(label_rows, 0, "no label rows: no visits due from them");
        assert_eq!(key_row(p.store.connection(), &id), None, "the device dropped its key");
        assert_eq!(p.store.erasure_cursor().unwrap(), 1);
    }
    let listed: String = server
        .db()
        .query_row("SELECT name_masked FROM persons WHERE id = ?1", [&id], |r| r.get(0))
        .unwrap();
    assert_eq!(listed, shred::UNAVAILABLE_TEXT, "the server's query rows too");
    // The server's review pages: the labels no longer make visits due, the birth date is
    // unavailable.
    let (due_after, labels_after, birth_after) = listed_on_server(&server, &cookie, &grid, &id).await;
    assert_eq!(
        (labels_after, birth_after.as_deref()),
        (0, Some(shred::UNAVAILABLE_TEXT))
    );
    assert!(
        due_after < due_before,
        "the erased person's special-group visits are no longer due ({due_before} → {due_after})"
    );
    // Nor can a device write the erased person's fields again.
    assert_eq!(a.store.update(&id, &person).unwrap_err().code(), "person_erased");

    // No key left anywhere opens what every replica still holds in its history.
    let sealed_now: Vec<(&str, String)> = [a.store.connection(), b.store.connection(), &server.db()]
        .iter()
        .flat_map(|db| sealed_values(db, &id))
        .collect();
    assert_eq!(sealed_now.len(), 3 * 9);
    assert!(sealed_now.iter().all(|(_, s)| shred::is_sealed(&serde_json::json!(s))));
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
            for (field, s) in &sealed_now {
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
        ("birth date", BIRTH.as_bytes().to_vec()),
        ("label responsible", RESPONSIBLE.as_bytes().to_vec()),
        ("label key", MARKER_LABEL.as_bytes().to_vec()),
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

/// POST an HTML form (`application/x-www-form-urlencoded`, encoded by `url`'s form serializer).
async fn post_form(url: &str, cookie: &str, form: &[(&str, &str)]) -> (u16, String) {
    let encoded = reqwest::Url::parse_with_params("http://form.invalid/", form).unwrap();
    let body = encoded.query().unwrap_or_default().to_string();
    post(url, cookie, "application/x-www-form-urlencoded", body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_erase_form_needs_a_reason_and_a_confirmation() {
    let server = TestServer::start().await;
    let grid = server.plan.grids[0].clone();
    let mut a = Phone::login(&server.url, "grid01", &server.password("grid01"), fast_client()).await;
    a.sync().await;
    let hh = a.store.create(&household(&grid, "977")).unwrap();
    let person = resident(&grid, hh);
    let id = a.store.create(&person).unwrap();
    // A person deleted on the phone: no longer listed, still in every replica's history.
    let gone = a.store.create(&person).unwrap();
    a.store.delete(&gone).unwrap();
    a.sync().await;
    assert!(key_row(&server.db(), &id).is_some());
    let page = format!("{}/review/admin/erase", server.url);
    let admin = web_login(&server.url, "admin", &server.password("admin")).await;

    // Not for supervisors: the page does not exist for them.
    let sup = web_login(&server.url, "community1", &server.password("community1")).await;
    assert_eq!(get(&page, &sup).await.0, 404);
    let (status, _) = post_form(&page, &sup, &[("person", &id), ("reason", "迁出"), ("confirm", "1")]).await;
    assert_eq!(status, 404);

    // Find the person by (part of) the household address: listed masked, with the record id.
    let (status, html) = get(&format!("{page}?q=3栋2单元977"), &admin).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&format!("data-person=\"{id}\"")), "{html}");
    assert!(
        !html.contains(NAME) && !html.contains(&id_number()),
        "masked in the list"
    );
    assert!(html.contains("擦除人员信息"), "zh-CN first");
    let (_, en) = get(&format!("{page}?lang=en"), &admin).await;
    assert!(en.contains("Erase a person") && en.contains("Reason (required"), "{en}");

    // A reason is required: typed error page, nothing erased.
    for reason in ["", "   "] {
        let (status, html) = post_form(&page, &admin, &[("person", &id), ("reason", reason)]).await;
        assert_eq!(status, 422, "{html}");
        assert!(
            html.contains("invalid_reason") && html.contains("擦除须填写原因"),
            "{html}"
        );
    }
    let long = "因".repeat(501);
    assert_eq!(
        post_form(&page, &admin, &[("person", &id), ("reason", &long)]).await.0,
        422
    );
    let (status, html) = post_form(&page, &admin, &[("person", "no-such-person"), ("reason", "迁出")]).await;
    assert_eq!(status, 404, "{html}");
    // First step: the confirmation page, still nothing erased.
    let (status, html) = post_form(&page, &admin, &[("person", &id), ("reason", "已迁出本区")]).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("id=\"erase-confirm-form\"") && html.contains("不可撤销"),
        "{html}"
    );
    assert!(html.contains("已迁出本区") && html.contains(&id));
    assert!(key_row(&server.db(), &id).is_some(), "not before the confirmation");
    // Confirmed: erased, audited like the endpoint (who, whom, why, from which door).
    let (status, html) = post_form(
        &page,
        &admin,
        &[("person", &id), ("reason", "已迁出本区"), ("confirm", "1")],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("已擦除"), "{html}");
    assert_eq!(key_row(&server.db(), &id), None, "the server's key is gone");
    let (actor, detail): (String, String) = server
        .db()
        .query_row(
            "SELECT actor, detail FROM audit_log WHERE action = 'erasure' AND target = ?1",
            [format!("person:{id}")],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(actor, "admin");
    assert_eq!(
        (detail["reason"].as_str(), detail["via"].as_str()),
        (Some("已迁出本区"), Some("dashboard"))
    );
    // A deleted person can be erased too (shown by id only).
    let (status, html) = post_form(&page, &admin, &[("person", &gone), ("reason", "已迁出本区")]).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("id=\"erase-confirm-form\"") && html.contains(&gone),
        "{html}"
    );
    let (status, _) = post_form(
        &page,
        &admin,
        &[("person", &gone), ("reason", "已迁出本区"), ("confirm", "1")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(key_row(&server.db(), &gone), None);
    // The list now says so, and the phone drops the key at its next sync.
    let (_, html) = get(&format!("{page}?q={id}"), &admin).await;
    assert!(
        html.contains("已擦除") && html.contains(shred::UNAVAILABLE_TEXT),
        "{html}"
    );
    a.sync().await;
    assert_eq!(a.store.get::<Person>(&id).unwrap_err().code(), "sensitive_unavailable");
    assert_eq!(key_row(a.store.connection(), &id), None);
}
