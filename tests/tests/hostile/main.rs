//! Hostile-input corpus (issues 8 and 16): crafted requests against a real server on
//! 127.0.0.1 with its shipped limits. For every input the corpus states
//!
//! - the one answer it must get: an HTTP status and stable `code` (error bodies must also carry
//!   `message` and `message_zh`), or, for a sync request, `200` and what became of each pushed
//!   change (`acked N` / `rejected <code>`);
//! - which server tables it may change, and how: every table of the database is snapshotted
//!   before and after (row count and a digest of its rows; tables listed from `sqlite_master`,
//!   so a table added later is covered without naming it). Anything not listed must be
//!   unchanged. Refused inputs list nothing; an accepted record lists its log row, document
//!   and query rows; a login lists its device, tokens and audit entry.
//!
//! Changes are crafted here as raw Automerge bytes and pushed with a real device's token (the
//! phone's store would refuse most of them before they leave); JSON bodies are built by hand.
//! Pull inputs also check that nothing outside the device's scopes comes back. Afterwards the
//! server still syncs normally and its database passes `PRAGMA integrity_check`. The run prints
//! every input with the answer and the table changes it got.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

mod sessions;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjType, ReadDoc};
use gridbook_core::RuleKind;
use gridbook_core::doc;
use gridbook_core::sync::client::gzip;
use gridbook_core::sync::{Cursor, PersonKeyEntry, PushChange, SyncRequest, SyncResponse, wire};
use gridbook_tests::{Phone, Raw, TestServer, fast_client, household, post_sync, post_sync_raw, request, web};
use serde_json::{Value as Json, json};

const INJECTIONS: &[&str] = &[
    "'; DROP TABLE docs; --",
    "\" OR \"1\"=\"1",
    "1); DELETE FROM change_log WHERE (1=1",
    "../../../../etc/passwd",
    "..\\..\\windows\\system32",
    "%2e%2e%2f%2e%2e%2fetc%2fshadow",
    "<script>alert(1)</script>",
    "\u{0}null byte",
];

/// What an accepted new household writes: its log row, its document, its query rows.
const NEW_HOUSEHOLD: &[&str] = &[
    "change_log +1",
    "docs +1",
    "household_grids +1",
    "households +1",
    "records +1",
];
/// What an accepted new incident writes.
const NEW_CASE: &[&str] = &["cases +1", "change_log +1", "docs +1", "records +1"];
/// What a successful login of a new device writes: the device, its access and refresh
/// tokens, the audit entry of the registration.
const NEW_DEVICE: &[&str] = &["audit_log +1", "devices +1", "refresh_tokens +1", "tokens +1"];
/// Nothing.
const NONE: &[&str] = &[];

// ------------------------------------------------------------------------------- snapshots

/// Per table: row count and a digest of its rows. `devices.last_sync_at` and `app_version`
/// are left out of the digest: the server notes them after it has answered a sync.
type Snapshot = BTreeMap<String, (i64, u64)>;

fn snapshot(server: &TestServer) -> Snapshot {
    let db = server.db();
    gridbook_tests::table_counts_of(&db)
        .into_iter()
        .map(|(table, count)| {
            let quoted = format!("\"{}\"", table.replace('"', "\"\""));
            let mut stmt = db.prepare(&format!("SELECT * FROM {quoted}")).expect("select");
            let columns: Vec<String> = stmt.column_names().map(String::from).collect();
            let mut h = DefaultHasher::new();
            let mut rows = stmt.query([]).expect("rows");
            while let Some(r) = rows.next().expect("row") {
                for (i, c) in columns.iter().enumerate() {
                    if table == "devices" && (c == "last_sync_at" || c == "app_version") {
                        continue;
                    }
                    match r.get::<_, rusqlite::types::Value>(i).expect("value") {
                        rusqlite::types::Value::Null => 0u8.hash(&mut h),
                        rusqlite::types::Value::Integer(x) => (1u8, x).hash(&mut h),
                        rusqlite::types::Value::Real(x) => (2u8, x.to_bits()).hash(&mut h),
                        rusqlite::types::Value::Text(x) => (3u8, x).hash(&mut h),
                        rusqlite::types::Value::Blob(x) => (4u8, x).hash(&mut h),
                    }
                }
            }
            (table, (count, h.finish()))
        })
        .collect()
}

/// How two snapshots differ: `table +n` / `table -n` for a count that changed, `table ~` for
/// rows changed in place.
fn changes(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let mut tables: Vec<&String> = before.keys().chain(after.keys()).collect();
    tables.sort();
    tables.dedup();
    tables
        .into_iter()
        .filter_map(|t| {
            let (nb, hb) = before.get(t).copied().unwrap_or((0, 0));
            let (na, ha) = after.get(t).copied().unwrap_or((0, 0));
            if na != nb {
                Some(format!("{t} {:+}", na - nb))
            } else if ha != hb {
                Some(format!("{t} ~"))
            } else {
                None
            }
        })
        .collect()
}

// ------------------------------------------------------------------------------- answers

/// One input's verdict.
struct Outcome {
    name: String,
    want: String,
    got: String,
    allowed: Vec<String>,
    changed: Vec<String>,
}

impl Outcome {
    fn ok(&self) -> bool {
        self.want == self.got && self.allowed == self.changed
    }
}

struct Corpus<'a> {
    server: &'a TestServer,
    results: Vec<Outcome>,
}

impl Corpus<'_> {
    fn before(&self) -> Snapshot {
        snapshot(self.server)
    }

    /// Record an input: the answer wanted and got, the table changes allowed and found since
    /// `before`.
    fn record(&mut self, name: impl Into<String>, want: &str, got: String, before: &Snapshot, allowed: &[&str]) {
        let mut allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        allowed.sort();
        self.results.push(Outcome {
            name: name.into(),
            want: want.into(),
            got,
            allowed,
            changed: changes(before, &snapshot(self.server)),
        });
    }
}

/// `STATUS code` of a JSON error body; marked when the body lacks either message.
fn json_answer(status: u16, body: Option<&Json>) -> String {
    let Some(v) = body else {
        return format!("{status}");
    };
    let code = v["code"].as_str().unwrap_or("");
    let typed =
        v["message"].as_str().is_some_and(|m| !m.is_empty()) && v["message_zh"].as_str().is_some_and(|m| !m.is_empty());
    if code.is_empty() && status < 300 {
        format!("{status}")
    } else if typed {
        format!("{status} {code}")
    } else {
        format!("{status} {code} (no message/message_zh: {v})")
    }
}

/// A sync answer: `200` plus what became of the pushed changes, or the error's status and code.
fn sync_answer(r: &Raw) -> String {
    let Some(resp) = &r.response else {
        return json_answer(r.status, r.error.as_ref());
    };
    let mut s = r.status.to_string();
    if !resp.acks.is_empty() {
        s += &format!(" acked {}", resp.acks.len());
    }
    if !resp.rejections.is_empty() {
        let mut codes: BTreeMap<&str, usize> = BTreeMap::new();
        for x in &resp.rejections {
            *codes.entry(x.code.as_str()).or_default() += 1;
        }
        let list: Vec<String> = codes
            .into_iter()
            .map(|(c, n)| if n == 1 { c.to_string() } else { format!("{c}×{n}") })
            .collect();
        s += &format!(" rejected {}", list.join(","));
    }
    s
}

/// POST a JSON (or any) body; the status and the JSON answer, if any.
async fn post_json(url: &str, path: &str, token: Option<&str>, body: Vec<u8>) -> (u16, Option<Json>) {
    let mut req = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("send");
    let status = r.status().as_u16();
    let bytes = r.bytes().await.expect("body");
    (status, serde_json::from_slice(&bytes).ok())
}

/// The scopes of a response's items, cursors and person keys that are not in `mine` (a person
/// key's scope is its person's on the server).
fn leaks(server: &TestServer, resp: &SyncResponse, mine: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for d in resp.snapshots.iter().chain(&resp.changes) {
        if !mine.contains(&d.scope.as_str()) {
            out.push(format!("doc {} of {}", d.doc_id, d.scope));
        }
    }
    for c in &resp.cursors {
        if !mine.contains(&c.scope.as_str()) {
            out.push(format!("cursor of {}", c.scope));
        }
    }
    let db = server.db();
    for k in &resp.person_keys {
        let scope: Option<String> = db
            .query_row("SELECT scope FROM docs WHERE id = ?1", [&k.person_id], |r| r.get(0))
            .ok();
        if !scope.as_deref().is_some_and(|s| mine.contains(&s)) {
            out.push(format!("key of person {} ({scope:?})", k.person_id));
        }
    }
    out
}

// ------------------------------------------------------------------------------- crafting

/// A new record's first change made with `actor`, as raw Automerge (no local validation).
fn forge(actor: &ActorId, id: &str, kind: &str, scope: &str, body: &Json) -> PushChange {
    let mut d: AutoCommit = doc::new_doc(actor);
    d.put(automerge::ROOT, "id", id).unwrap();
    d.put(automerge::ROOT, "kind", kind).unwrap();
    d.put(automerge::ROOT, "schema", 1).unwrap();
    d.put(automerge::ROOT, "scope", scope).unwrap();
    d.put(automerge::ROOT, "created_at", "2026-11-27T00:00:00Z").unwrap();
    d.put(automerge::ROOT, "created_by", "x").unwrap();
    let b = d.put_object(automerge::ROOT, "body", ObjType::Map).unwrap();
    doc::write_map(&mut d, &b, &Json::Null, body.as_object().unwrap()).unwrap();
    if matches!(kind, "incident" | "request" | "ledger") {
        d.put_object(automerge::ROOT, "transitions", ObjType::List).unwrap();
    }
    d.commit();
    last_change(&mut d, id)
}

fn last_change(d: &mut AutoCommit, id: &str) -> PushChange {
    let c = d.get_last_local_change().unwrap();
    PushChange {
        doc_id: id.into(),
        hash: c.hash().to_string(),
        bytes: c.raw_bytes().to_vec(),
    }
}

/// The document made of `changes` (in order), with `actor` set for the next change.
fn doc_of(changes: &[&PushChange], actor: &ActorId) -> AutoCommit {
    let mut d: AutoCommit = doc::new_doc(actor);
    d.apply_changes(
        changes
            .iter()
            .map(|c| automerge::Change::from_bytes(c.bytes.clone()).unwrap()),
    )
    .unwrap();
    d.with_actor(actor.clone())
}

/// A change by `actor` appending `entry` to the workflow history of the document `changes` make.
fn with_transition(changes: &[&PushChange], actor: &ActorId, entry: &Json) -> PushChange {
    let mut d = doc_of(changes, actor);
    doc::append_to_root_list(&mut d, "transitions", entry).unwrap();
    d.commit();
    last_change(&mut d, &changes[0].doc_id)
}

fn uuid() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn actor_of(p: &Phone) -> ActorId {
    ActorId::from(p.store.device_id().as_bytes().as_slice())
}

/// With `GRIDBOOK_WRITE_FUZZ_CORPUS=1`, the crafted payloads become the fuzzers' seed corpus
/// (`fuzz/corpus/<target>/`).
fn seed_corpus(target: &str, name: &str, bytes: &[u8]) {
    if std::env::var_os("GRIDBOOK_WRITE_FUZZ_CORPUS").is_none() {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    std::fs::create_dir_all(&dir).expect("corpus dir");
    let file: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    std::fs::write(dir.join(file), bytes).expect("write corpus file");
}

// ------------------------------------------------------------------------------- the corpus

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_get_typed_answers_and_change_only_what_they_may() {
    // The shipped limits: 16 MiB bodies, 5,000 changes per push.
    let server = TestServer::start().await;
    let url = server.url.clone();
    let plan = server.plan.clone();
    let mut p = Phone::login(&url, "grid01", &server.password("grid01"), fast_client()).await;
    p.sync().await;
    let token = p.token();
    let grid = plan.grids[0].clone();
    let other_grid = plan.grids[5].clone();
    let me = actor_of(&p);
    let account = p.info.identity().account_id.clone();
    // Other devices whose ids are registered: grid01's second phone, grid02's phone.
    let mut p2 = Phone::login(&url, "grid01", &server.password("grid01"), fast_client()).await;
    let q = Phone::login(&url, "grid02", &server.password("grid02"), fast_client()).await;
    let admin = Phone::login(&url, "admin", &server.password("admin"), fast_client()).await;
    let dept = Phone::login(&url, "dept1", &server.password("dept1"), fast_client()).await;
    let dept_scope = format!("dept:{}", plan.account("dept1").unwrap().org_node);
    let mut c = Corpus {
        server: &server,
        results: Vec::new(),
    };

    // --- 1. Login bodies (JSON by hand). A failed login changes no table: the failure
    // counters are in memory; only a lock would write an audit entry, and 6 failures from one
    // address stay below every limit.
    let valid_device = p.store.device_id().to_string();
    let deep = "[".repeat(5000);
    let long = "网".repeat(10_000);
    let login = |u: &str, pw: &str| {
        json!({"username": u, "password": pw, "device_id": uuid(), "device_name": "p"})
            .to_string()
            .into_bytes()
    };
    let login_cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("login: empty body", vec![], "400 malformed_body"),
        ("login: truncated JSON", b"{\"username\":".to_vec(), "400 malformed_body"),
        ("login: wrong types", br#"{"username":1,"password":[],"device_id":{},"device_name":null}"#.to_vec(), "400 malformed_body"),
        ("login: invalid UTF-8", vec![b'{', 0xff, 0xfe, b'}'], "400 malformed_body"),
        ("login: deeply nested JSON", deep.into_bytes(), "400 malformed_body"),
        ("login: device id not a UUID", br#"{"username":"grid01","password":"x","device_id":"../../etc","device_name":"p"}"#.to_vec(), "400 malformed_body"),
        ("login: unknown user", login("nobody", "x"), "401 bad_credentials"),
        ("login: wrong password", login("grid01", "wrong"), "401 bad_credentials"),
        ("login: SQL injection as username", login("' OR '1'='1' --", "x"), "401 bad_credentials"),
        ("login: SQL injection as password", login("grid01", "' OR '1'='1"), "401 bad_credentials"),
        ("login: path traversal as username", login("../../../etc/passwd", "x"), "401 bad_credentials"),
        ("login: 10,000-character username", login(&long, "x"), "401 bad_credentials"),
        ("login: another account's device id", json!({"username":"grid02","password":server.password("grid02"),"device_id":valid_device,"device_name":"p"}).to_string().into_bytes(), "409 device_taken"),
    ];
    for (name, body, want) in login_cases {
        let b = c.before();
        let (st, v) = post_json(&url, "/v1/login", None, body).await;
        c.record(name, want, json_answer(st, v.as_ref()), &b, NONE);
    }
    // Accepted logins whose device name is hostile: kept as text (cut to 100 characters).
    for (name, device_name, kept) in [
        (
            "login: SQL injection as device name",
            INJECTIONS[0].to_string(),
            INJECTIONS[0].to_string(),
        ),
        ("login: 10,000-character device name", long.clone(), "网".repeat(100)),
    ] {
        let b = c.before();
        let id = uuid();
        let body =
            json!({"username":"grid03","password":server.password("grid03"),"device_id":id,"device_name":device_name});
        let (st, v) = post_json(&url, "/v1/login", None, body.to_string().into_bytes()).await;
        let stored: Option<String> = server
            .db()
            .query_row("SELECT name FROM devices WHERE id = ?1", [&id], |r| r.get(0))
            .ok();
        let got = if stored.as_deref() == Some(kept.as_str()) {
            format!("{st} name kept")
        } else {
            format!("{st} name stored as {stored:?}")
        };
        c.record(name, "200 name kept", got, &b, NEW_DEVICE);
        let _ = v;
    }

    // --- 2. Tokens.
    let empty = gzip(&wire::encode(&request(vec![])));
    let token_cases: Vec<(&str, Option<String>)> = vec![
        ("sync: no token", None),
        ("sync: empty token", Some(String::new())),
        ("sync: made-up token", Some("0123456789abcdef".into())),
        ("sync: SQL injection as token", Some("' OR 1=1 --".into())),
        ("sync: path traversal as token", Some("../../../../etc/passwd".into())),
        ("sync: 64 KiB token", Some("a".repeat(64 * 1024))),
    ];
    for (name, t) in token_cases {
        let b = c.before();
        let r = post_sync_raw(&url, t.as_deref(), empty.clone(), true).await;
        c.record(name, "401 unauthorized", sync_answer(&r), &b, NONE);
    }
    for (name, header) in [
        ("sync: Basic auth instead of Bearer", "Basic Z3JpZDAxOng="),
        ("sync: 'Bearer' without a token", "Bearer"),
    ] {
        let b = c.before();
        let r = reqwest::Client::new()
            .post(format!("{url}/v1/sync"))
            .header("authorization", header)
            .header("content-encoding", "gzip")
            .body(empty.clone())
            .send()
            .await
            .unwrap();
        let st = r.status().as_u16();
        let v: Option<Json> = r.json().await.ok();
        c.record(name, "401 unauthorized", json_answer(st, v.as_ref()), &b, NONE);
    }
    // Logging out revokes the token in place; the revoked token is then refused.
    let old = p2.token();
    let b = c.before();
    let (st, v) = post_json(&url, "/v1/logout", Some(&old), vec![]).await;
    c.record(
        "logout: a live token",
        "204",
        json_answer(st, v.as_ref()),
        &b,
        // The access token and the device's refresh tokens are revoked in place (issue 24).
        &["refresh_tokens ~", "tokens ~"],
    );
    let b = c.before();
    let r = post_sync_raw(&url, Some(&old), empty.clone(), true).await;
    c.record("sync: logged-out token", "401 token_revoked", sync_answer(&r), &b, NONE);
    p2.client.set_token("x");
    // Refresh tokens (JSON by hand).
    for (name, body, want) in [
        (
            "refresh: SQL injection as refresh token",
            json!({"refresh_token": "' OR 1=1 --"}).to_string(),
            "401 refresh_token_invalid",
        ),
        (
            "refresh: 10,000-character refresh token",
            json!({"refresh_token": "a".repeat(10_000)}).to_string(),
            "401 refresh_token_invalid",
        ),
        (
            "refresh: wrong type",
            r#"{"refresh_token": 7}"#.to_string(),
            "400 malformed_body",
        ),
        (
            "refresh: 1 MiB body",
            json!({"refresh_token": "a".repeat(1 << 20)}).to_string(),
            "413 payload_too_large",
        ),
    ] {
        let b = c.before();
        let (st, v) = post_json(&url, "/v1/refresh", None, body.into_bytes()).await;
        c.record(name, want, json_answer(st, v.as_ref()), &b, NONE);
    }
    // Other JSON endpoints.
    let admin_token = admin.token();
    let q_device = q.store.device_id().to_string();
    let json_cases: Vec<(&str, String, Option<String>, String, &str)> = vec![
        (
            "password: SQL injection as the old password",
            "/v1/password".into(),
            Some(token.clone()),
            json!({"old_password": "' OR '1'='1", "new_password": "a-long-enough-Passw0rd"}).to_string(),
            "401 bad_credentials",
        ),
        (
            "password: 10,000-character new password, wrong old one",
            "/v1/password".into(),
            Some(token.clone()),
            json!({"old_password": "wrong", "new_password": "a".repeat(10_000)}).to_string(),
            "401 bad_credentials",
        ),
        (
            "revoke: path traversal as device id",
            "/v1/devices/..%2F..%2Fetc%2Fpasswd/revoke".into(),
            Some(token.clone()),
            String::new(),
            "404 not_found",
        ),
        (
            "revoke: SQL injection as device id",
            "/v1/devices/'%20OR%201=1%20--/revoke".into(),
            Some(token.clone()),
            String::new(),
            "404 not_found",
        ),
        (
            "revoke: another account's device",
            format!("/v1/devices/{q_device}/revoke"),
            Some(token.clone()),
            String::new(),
            "403 forbidden",
        ),
        (
            "erase: by a grid worker",
            format!("/v1/admin/persons/{}/erase", uuid()),
            Some(token.clone()),
            json!({"reason": "x"}).to_string(),
            "403 forbidden",
        ),
        (
            "erase: SQL injection as person id (admin)",
            "/v1/admin/persons/'%20OR%201=1%20--/erase".into(),
            Some(admin_token.clone()),
            json!({"reason": "moved away"}).to_string(),
            "404 not_found",
        ),
        (
            "erase: 10,000-character reason (admin)",
            format!("/v1/admin/persons/{}/erase", uuid()),
            Some(admin_token.clone()),
            json!({"reason": "a".repeat(10_000)}).to_string(),
            "422 invalid_reason",
        ),
    ];
    for (name, path, t, body, want) in json_cases {
        let b = c.before();
        let (st, v) = post_json(&url, &path, t.as_deref(), body.into_bytes()).await;
        c.record(name, want, json_answer(st, v.as_ref()), &b, NONE);
    }

    // --- 3. Sync bodies.
    let cbor = wire::encode(&request(vec![]));
    // CBOR arrays of one element, nested 10,000 deep.
    let mut nested = vec![0x81u8; 10_000];
    nested.push(0x00);
    // 64 MiB of zeros, 64 KiB gzipped: the server stops decompressing at its 16 MiB limit.
    let bomb = gzip(&vec![0u8; 64 << 20]);
    let body_cases: Vec<(&str, Vec<u8>, bool, &str)> = vec![
        ("sync: empty body", vec![], false, "400 malformed_body"),
        ("sync: empty gzip-labelled body", vec![], true, "400 malformed_body"),
        (
            "sync: not gzip but labelled gzip",
            cbor.clone(),
            true,
            "400 malformed_body",
        ),
        (
            "sync: truncated gzip",
            empty[..empty.len() / 2].to_vec(),
            true,
            "400 malformed_body",
        ),
        (
            "sync: truncated CBOR",
            cbor[..cbor.len() - 3].to_vec(),
            false,
            "400 malformed_body",
        ),
        (
            "sync: JSON instead of CBOR",
            br#"{"v":1,"push":[]}"#.to_vec(),
            false,
            "400 malformed_body",
        ),
        (
            "sync: invalid UTF-8 bytes",
            vec![0xff, 0xfe, 0xfd],
            false,
            "400 malformed_body",
        ),
        ("sync: deeply nested CBOR", nested, false, "400 malformed_body"),
        ("sync: empty CBOR map", vec![0xa0], false, "400 malformed_body"),
        ("sync: gzip bomb (64 MiB of zeros)", bomb, true, "413 payload_too_large"),
        (
            "sync: plain body of 16 MiB + 1 byte",
            vec![0u8; (16 << 20) + 1],
            false,
            "413 payload_too_large",
        ),
    ];
    for (name, b, _, _) in &body_cases {
        if b.len() < 1 << 20 {
            seed_corpus("sync_request", name, b);
        }
    }
    seed_corpus("sync_request", "valid request", &cbor);
    for (name, body, gz, want) in body_cases {
        let b = c.before();
        let r = post_sync_raw(&url, Some(&token), body, gz).await;
        c.record(name, want, sync_answer(&r), &b, NONE);
    }
    for (name, v) in [
        ("sync: protocol version 0", 0),
        ("sync: protocol version 2", 2),
        ("sync: protocol version u32::MAX", u32::MAX),
    ] {
        let mut req = request(vec![]);
        req.v = v;
        let b = c.before();
        let r = post_sync(&url, &token, &req).await;
        c.record(name, "400 unsupported_protocol_version", sync_answer(&r), &b, NONE);
    }
    for (name, at) in [
        ("sync: client clock at i64::MAX", i64::MAX),
        (
            "sync: client clock 10 days ahead",
            chrono::Utc::now().timestamp_millis() + 10 * 24 * 3600 * 1000,
        ),
    ] {
        let mut req = request(vec![]);
        req.client_time = at;
        let b = c.before();
        let r = post_sync(&url, &token, &req).await;
        c.record(name, "400 clock_in_future", sync_answer(&r), &b, NONE);
    }

    // --- 4. Pull cursors: cursors of scopes the device is not granted are ignored (200, nothing
    // of them in the page, no cursor for them, no key of their persons).
    let mine = [grid.as_str(), "district"];
    // A cursor value valid for another account: community 2's supervisor's cursors, taken in
    // the middle of its bootstrap (a one-byte page, so `snapshot_after` is set).
    let community2 = Phone::login(&url, "community2", &server.password("community2"), fast_client()).await;
    let mut boot = request(vec![]);
    boot.max_bytes = 1;
    let theirs = post_sync(&url, &community2.token(), &boot)
        .await
        .response
        .expect("bootstrap page");
    assert!(
        theirs.cursors.iter().any(|c| c.snapshot_after.is_some()),
        "a cursor in mid-bootstrap: {:?}",
        theirs.cursors
    );
    let mut their_cursors = theirs.cursors.clone();
    // The same cursors do carry community 2's records for community 2 (so a leak would show).
    let mut own_use = request(vec![]);
    own_use.cursors = their_cursors.clone();
    let control = post_sync(&url, &community2.token(), &own_use)
        .await
        .response
        .expect("page");
    assert!(
        !leaks(&server, &control, &mine).is_empty(),
        "community 2's cursors give community 2 records outside grid01's scope"
    );
    their_cursors.push(Cursor {
        scope: dept_scope.clone(),
        seq: 0,
        snapshot_after: None,
    });
    let cursor_cases: Vec<(&str, Vec<Cursor>)> = vec![
        (
            "pull: cursor for another grid",
            vec![Cursor {
                scope: other_grid.clone(),
                seq: 0,
                snapshot_after: None,
            }],
        ),
        (
            "pull: cursor with a huge sequence",
            vec![Cursor {
                scope: grid.clone(),
                seq: u64::MAX,
                snapshot_after: None,
            }],
        ),
        (
            "pull: cursor for a path-traversal scope",
            vec![Cursor {
                scope: "../../etc".into(),
                seq: 0,
                snapshot_after: None,
            }],
        ),
        (
            "pull: cursor for an SQL-injection scope",
            vec![Cursor {
                scope: "' OR 1=1 --".into(),
                seq: 0,
                snapshot_after: Some("' OR 1=1 --".into()),
            }],
        ),
        (
            "pull: another account's cursors (community 2, mid-bootstrap, and a department's)",
            their_cursors,
        ),
    ];
    for (name, cursors) in cursor_cases {
        let mut req = request(vec![]);
        req.cursors = cursors;
        let b = c.before();
        let r = post_sync(&url, &token, &req).await;
        let mut got = sync_answer(&r);
        if let Some(resp) = &r.response {
            let l = leaks(&server, resp, &mine);
            if !l.is_empty() {
                got += &format!(" LEAKED {l:?}");
            }
        }
        c.record(name, "200", got, &b, NONE);
    }

    // --- 5. Pushed changes, each alone in a request, refused with its code; nothing stored.
    let hh = |g: &str, room: &str| serde_json::to_value(household(g, room)).unwrap();
    let mut missing = hh(&grid, "1");
    missing.as_object_mut().unwrap().remove("address");
    let mut bad_date = hh(&grid, "2");
    bad_date["registered_on"] = json!("+300000-01-01");
    let mut empty_addr = hh(&grid, "3");
    empty_addr["address"] = json!("   ");
    let mut long_addr = hh(&grid, "3a");
    long_addr["address"] = json!("网".repeat(10_000));
    let mut huge_addr = hh(&grid, "3b");
    huge_addr["address"] = json!("a".repeat(1 << 20));
    let person = |name: &str, id_number: &str| {
        json!({"household_id": uuid(), "grid_id": grid, "name": name, "id_number": id_number, "phone": null,
               "relation": "户主", "birth_date": null, "labels": []})
    };
    let call = |start: &str, end: &str| {
        json!({"grid_id": grid, "household_id": uuid(), "person_ids": [], "visitor": "grid01", "companions": [],
               "started_at": start, "ended_at": end, "location": null, "template_id": "3456", "template_version": 1,
               "answers": {}, "problems": [], "photos": [], "follow_up_due": null, "notes": ""})
    };
    let case = |g: &str, title: &str, description: &str| {
        json!({"grid_id": g, "case_kind": "incident", "category": "other", "subcategory": null, "scale": "individual",
            "title": title, "description": description, "location": null, "address": "", "reporter": "grid01", "channel": null,
            "resident_name": null, "resident_phone": null, "photos": [], "occurred_at": "2026-11-27T01:00:00Z"})
    };
    let template = serde_json::to_value(gridbook_core::domain::ChecklistTemplate::builtin()).unwrap();
    let mut dup_template = template.clone();
    let first_item = dup_template["sections"][0]["items"][0].clone();
    dup_template["sections"][1]["items"]
        .as_array_mut()
        .unwrap()
        .push(first_item);
    let org_node = json!({"name":"假网格","level":"grid","code":"370883001002099","parent":null,"effective_from":"2026-01-01","effective_to":null});
    let rule_set = json!({"rule": "calendar", "version": 2, "json": RuleKind::Calendar.shipped_json()});
    let mut garbage = forge(&me, &uuid(), "household", &grid, &hh(&grid, "4"));
    garbage.bytes = vec![0x85, 0x6f, 0x4a, 0x83, 0, 1, 2, 3];
    // The fuzzer's 398-byte bundle chunk that made automerge 0.12 grow past 20 GiB.
    let mut bundle = forge(&me, &uuid(), "household", &grid, &hh(&grid, "4"));
    bundle.bytes = include_bytes!("../../../core/tests/fixtures/automerge_bundle_oom.bin").to_vec();
    let mut wrong_hash = forge(&me, &uuid(), "household", &grid, &hh(&grid, "5"));
    wrong_hash.hash = "ab".repeat(32);
    let mut wrong_doc = forge(&me, &uuid(), "household", &grid, &hh(&grid, "6"));
    wrong_doc.doc_id = uuid();
    let mut long_id = forge(&me, &uuid(), "household", &grid, &hh(&grid, "7"));
    long_id.doc_id = "x".repeat(1000);
    // A change of grid01's grid that another device made, as the server's log holds it.
    let (log_doc, log_hash, log_bytes): (String, String, Vec<u8>) = server
        .db()
        .query_row(
            "SELECT doc_id, hash, bytes FROM change_log WHERE scope = ?1 ORDER BY seq LIMIT 1",
            [&grid],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("a logged change of grid01");
    let replayed = PushChange {
        doc_id: log_doc,
        hash: log_hash,
        bytes: log_bytes,
    };
    let base_hh = forge(&me, &uuid(), "household", &grid, &hh(&grid, "8"));
    let moved = {
        let mut d = doc_of(&[&base_hh], &me);
        d.put(automerge::ROOT, "scope", other_grid.as_str()).unwrap();
        d.commit();
        last_change(&mut d, &base_hh.doc_id)
    };
    let orphan = {
        // Depends on a change the server never received.
        let unsent = forge(&me, &uuid(), "household", &grid, &hh(&grid, "8a"));
        let mut d = doc_of(&[&unsent], &me);
        d.put(automerge::ROOT, "note", "x").unwrap();
        d.commit();
        last_change(&mut d, &unsent.doc_id)
    };
    let (g01, q_actor, p2_actor, stranger) = (
        grid.as_str(),
        actor_of(&q),
        actor_of(&p2),
        ActorId::from(uuid::Uuid::new_v4().as_bytes().as_slice()),
    );
    let change_cases: Vec<(&str, PushChange, &str)> = vec![
        ("change: garbage bytes", garbage, "invalid_change"),
        ("change: Automerge bundle chunk (memory bomb)", bundle, "invalid_change"),
        ("change: hash not the change's", wrong_hash, "hash_mismatch"),
        (
            "actor: another account's registered device (grid02's phone)",
            forge(&q_actor, &uuid(), "household", g01, &hh(g01, "9")),
            "actor_mismatch",
        ),
        (
            "actor: the same account's other device",
            forge(&p2_actor, &uuid(), "household", g01, &hh(g01, "9a")),
            "actor_mismatch",
        ),
        (
            "actor: an unregistered actor",
            forge(&stranger, &uuid(), "household", g01, &hh(g01, "9b")),
            "actor_mismatch",
        ),
        (
            "actor: another device's change from the log, pushed again",
            replayed,
            "actor_mismatch",
        ),
        ("change: pushed under another doc id", wrong_doc, "doc_id_mismatch"),
        ("change: 1,000-character doc id", long_id, "invalid_record"),
        (
            "change: depends on a change the server lacks",
            orphan,
            "missing_dependency",
        ),
        (
            "change: record in another grid (forged scope)",
            forge(&me, &uuid(), "household", &other_grid, &hh(&other_grid, "10")),
            "out_of_scope",
        ),
        (
            "change: scope differs from the body's grid",
            forge(&me, &uuid(), "household", g01, &hh("elsewhere", "11")),
            "scope_mismatch",
        ),
        (
            "change: unknown record kind",
            forge(&me, &uuid(), "spaceship", g01, &hh(g01, "12")),
            "unknown_kind",
        ),
        (
            "change: body missing a required field",
            forge(&me, &uuid(), "household", g01, &missing),
            "invalid_record",
        ),
        (
            "change: date out of range",
            forge(&me, &uuid(), "household", g01, &bad_date),
            "invalid_record",
        ),
        (
            "change: blank address",
            forge(&me, &uuid(), "household", g01, &empty_addr),
            "empty_field",
        ),
        (
            "text: 10,000-character household address",
            forge(&me, &uuid(), "household", g01, &long_addr),
            "too_long",
        ),
        (
            "text: 1 MiB household address",
            forge(&me, &uuid(), "household", g01, &huge_addr),
            "too_long",
        ),
        (
            "text: 10,000-character incident title",
            forge(&me, &uuid(), "incident", g01, &case(g01, &long, "")),
            "too_long",
        ),
        (
            "text: 10,000-character person name (plain)",
            forge(&me, &uuid(), "person", g01, &person(&long, "11010519491231002X")),
            "too_long",
        ),
        (
            "change: ID number with a bad check digit",
            forge(&me, &uuid(), "person", g01, &person("王芳", "110105194912310021")),
            "invalid_id_number",
        ),
        (
            "change: ID number with SQL injection",
            forge(&me, &uuid(), "person", g01, &person("王芳", "1' OR '1'='1'--")),
            "invalid_id_number",
        ),
        (
            "change: house call ending before it starts",
            forge(
                &me,
                &uuid(),
                "house_call",
                g01,
                &call("2026-11-27T10:00:00Z", "2026-11-27T09:00:00Z"),
            ),
            "end_before_start",
        ),
        (
            "kind: a valid checklist template by a grid worker",
            forge(&me, &uuid(), "template", "district", &template),
            "out_of_scope",
        ),
        (
            "kind: a template with a duplicate item by a grid worker",
            forge(&me, &uuid(), "template", "district", &dup_template),
            "out_of_scope",
        ),
        (
            "kind: a valid org node by a grid worker",
            forge(&me, &uuid(), "org_node", "district", &org_node),
            "out_of_scope",
        ),
        (
            "kind: a valid rule-set version by a grid worker",
            forge(&me, &uuid(), "rule_set", "district", &rule_set),
            "out_of_scope",
        ),
    ];
    for (name, change, _) in &change_cases {
        seed_corpus("change_validator", name, &change.bytes);
    }
    for (name, change, code) in change_cases {
        let b = c.before();
        let r = post_sync(&url, &token, &request(vec![change])).await;
        c.record(name, &format!("200 rejected {code}"), sync_answer(&r), &b, NONE);
    }
    // A record moved to another grid after it was created: the creation is stored, the move is not.
    let b = c.before();
    let r = post_sync(&url, &token, &request(vec![base_hh.clone(), moved])).await;
    c.record(
        "change: a record moved to another grid",
        "200 acked 1 rejected scope_change",
        sync_answer(&r),
        &b,
        NEW_HOUSEHOLD,
    );

    // Record kinds other roles may not write, pushed with their own devices.
    let admin_actor = actor_of(&admin);
    let dept_actor = actor_of(&dept);
    let role_cases: Vec<(&str, &Phone, PushChange, &str)> = vec![
        (
            "kind: a valid rule-set version by the district admin",
            &admin,
            forge(&admin_actor, &uuid(), "rule_set", "district", &rule_set),
            "rule_set_admin_only",
        ),
        (
            "kind: a template with a duplicate item by the district admin",
            &admin,
            forge(&admin_actor, &uuid(), "template", "district", &dup_template),
            "duplicate_template_item",
        ),
        (
            "kind: a valid household by a department, in a grid",
            &dept,
            forge(&dept_actor, &uuid(), "household", g01, &hh(g01, "13")),
            "out_of_scope",
        ),
        (
            "kind: a valid household by a department, in its own scope",
            &dept,
            forge(&dept_actor, &uuid(), "household", &dept_scope, &hh(&dept_scope, "14")),
            "out_of_scope",
        ),
        (
            "kind: a valid incident by a department, in its own scope",
            &dept,
            forge(
                &dept_actor,
                &uuid(),
                "incident",
                &dept_scope,
                &case(&dept_scope, "t", ""),
            ),
            "out_of_scope",
        ),
        (
            "kind: a valid ledger by a department, in its own scope",
            &dept,
            forge(
                &dept_actor,
                &uuid(),
                "ledger",
                &dept_scope,
                &json!({"grid_id": dept_scope, "worker": "dept1", "day": "2026-11-27", "notes": ""}),
            ),
            "out_of_scope",
        ),
    ];
    for (name, phone, change, code) in role_cases {
        seed_corpus("change_validator", name, &change.bytes);
        let b = c.before();
        let r = post_sync(&url, &phone.token(), &request(vec![change])).await;
        c.record(name, &format!("200 rejected {code}"), sync_answer(&r), &b, NONE);
    }

    // Workflow: a valid incident, then transitions in someone else's name or role.
    let case_id = uuid();
    let base = forge(&me, &case_id, "incident", g01, &case(g01, "t", ""));
    let b = c.before();
    let r = post_sync(&url, &token, &request(vec![base.clone()])).await;
    c.record(
        "workflow: a valid incident",
        "200 acked 1",
        sync_answer(&r),
        &b,
        NEW_CASE,
    );
    let transition = |actor: &str, role: &str, action: &str| {
        json!({"id": uuid(), "action": action, "from": "draft", "to": "reported", "actor": actor, "role": role,
               "org_node": grid, "at": "2026-11-27T01:00:00Z", "device_time": "2026-11-27T01:00:00Z",
               "reason": null, "params": {}, "attachments": []})
    };
    for (name, t, code) in [
        (
            "workflow: transition in another account's name",
            transition("community1", "grid_worker", "report"),
            "transition_actor_mismatch",
        ),
        (
            "workflow: transition claiming the supervisor role",
            transition(&account, "community_supervisor", "accept"),
            "transition_role_mismatch",
        ),
        (
            "workflow: a grid worker accepting a case",
            transition(&account, "grid_worker", "accept"),
            "role_not_allowed",
        ),
        (
            "workflow: an action no definition has",
            transition(&account, "grid_worker", "teleport"),
            "unknown_action",
        ),
    ] {
        let b = c.before();
        let r = post_sync(&url, &token, &request(vec![with_transition(&[&base], &me, &t)])).await;
        c.record(name, &format!("200 rejected {code}"), sync_answer(&r), &b, NONE);
    }
    // A department adding a step to a case never dispatched to it.
    let b = c.before();
    let r = post_sync(
        &url,
        &dept.token(),
        &request(vec![with_transition(
            &[&base],
            &dept_actor,
            &transition("dept1", "department", "accept"),
        )]),
    )
    .await;
    c.record(
        "workflow: a department acting on a case not dispatched to it",
        "200 rejected out_of_scope",
        sync_answer(&r),
        &b,
        NONE,
    );
    // A worker creating a ledger and approving it in the same push.
    let ledger = forge(
        &me,
        &uuid(),
        "ledger",
        g01,
        &json!({"grid_id": grid, "worker": account, "day": "2026-11-27", "notes": ""}),
    );
    let approve = with_transition(
        &[&ledger],
        &me,
        &json!({"id": uuid(), "action": "approve", "actor": account, "role": "grid_worker", "at": "2026-11-27T10:00:00Z", "comment": null, "base": []}),
    );
    let b = c.before();
    let r = post_sync(&url, &token, &request(vec![ledger, approve])).await;
    c.record(
        "workflow: a grid worker approving a ledger",
        "200 acked 1 rejected role_not_allowed",
        sync_answer(&r),
        &b,
        &["change_log +1", "docs +1", "ledgers +1", "records +1"],
    );

    // --- 6. Injection strings, pushed raw, are plain text: accepted and kept verbatim.
    for (i, s) in INJECTIONS.iter().enumerate() {
        let mut h = household(&grid, s);
        h.building = s.to_string();
        h.unit = s.to_string();
        h.address = format!("{s}{i}");
        let id = uuid();
        let b = c.before();
        let r = post_sync(
            &url,
            &token,
            &request(vec![forge(
                &me,
                &id,
                "household",
                g01,
                &serde_json::to_value(&h).unwrap(),
            )]),
        )
        .await;
        let kept: Option<(String, String, String, String)> = server
            .db()
            .query_row(
                "SELECT address, building, unit, room FROM households WHERE id = ?1",
                [&id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .ok();
        let verbatim = kept == Some((h.address.clone(), s.to_string(), s.to_string(), s.to_string()));
        let got = format!(
            "{}{}",
            sync_answer(&r),
            if verbatim { ", kept verbatim" } else { ", altered" }
        );
        c.record(
            format!("text: {s:?} in every household text field"),
            "200 acked 1, kept verbatim",
            got,
            &b,
            NEW_HOUSEHOLD,
        );
    }
    // An SQL injection as the record id (64 characters at most are accepted).
    let evil_id = "'; DROP TABLE docs; --";
    let b = c.before();
    let r = post_sync(
        &url,
        &token,
        &request(vec![forge(&me, evil_id, "household", g01, &hh(g01, "15"))]),
    )
    .await;
    let kept = server.heads(&[g01]).contains_key(evil_id);
    c.record(
        "text: SQL injection as the record id",
        "200 acked 1, kept verbatim",
        format!(
            "{}{}",
            sync_answer(&r),
            if kept { ", kept verbatim" } else { ", altered" }
        ),
        &b,
        NEW_HOUSEHOLD,
    );
    // Every injection string in an incident, then shown escaped on the dashboard.
    let xss_case = uuid();
    let all = INJECTIONS.join(" | ");
    let b = c.before();
    let r = post_sync(
        &url,
        &token,
        &request(vec![forge(
            &me,
            &xss_case,
            "incident",
            g01,
            &case(g01, "<script>alert(1)</script>", &all),
        )]),
    )
    .await;
    c.record(
        "text: every injection string in an incident's title and description",
        "200 acked 1",
        sync_answer(&r),
        &b,
        NEW_CASE,
    );
    let cookie = web::login(&url, "community1", &server.password("community1")).await;
    let b = c.before();
    let (st, page) = web::get(&format!("{url}/review/cases/{xss_case}"), &cookie).await;
    // The title is on the page, only as escaped text (askama's HTML escaping).
    let shown: Vec<&str> = page
        .match_indices("alert(1)")
        .filter_map(|(i, _)| page.get(i.saturating_sub(12)..i + 20))
        .collect();
    let escaped = !shown.is_empty() && !page.contains("<script>alert(1)");
    c.record(
        "dashboard: the stored <script> title is shown escaped",
        "200 escaped",
        format!(
            "{st} {}",
            if escaped {
                "escaped".to_string()
            } else {
                format!("NOT escaped: {shown:?}")
            }
        ),
        &b,
        NONE,
    );

    // --- 7. Person keys: a key for another grid's person, and a key that is not 32 bytes, are
    // not kept and not acknowledged.
    let foreign_person: String = server
        .db()
        .query_row(
            "SELECT id FROM docs WHERE kind = 'person' AND scope = ?1 LIMIT 1",
            [&other_grid],
            |r| r.get(0),
        )
        .expect("a person of another grid");
    for (name, entry) in [
        (
            "keys: a key for another grid's person",
            PersonKeyEntry {
                person_id: foreign_person.clone(),
                key: vec![7; 32],
            },
        ),
        (
            "keys: a 1-byte key",
            PersonKeyEntry {
                person_id: uuid(),
                key: vec![7],
            },
        ),
    ] {
        let req = SyncRequest {
            person_keys: vec![entry],
            ..request(vec![])
        };
        let b = c.before();
        let r = post_sync(&url, &token, &req).await;
        let acked = r.response.as_ref().map_or(0, |x| x.key_acks.len());
        c.record(
            name,
            "200 keys acked 0",
            format!("{} keys acked {acked}", sync_answer(&r)),
            &b,
            NONE,
        );
    }
    // By design (docs/protocol.md, "Person keys"): a key for a person the server does not hold
    // yet is kept (it travels before the person's first change); the first key wins.
    let req = SyncRequest {
        person_keys: vec![PersonKeyEntry {
            person_id: uuid(),
            key: vec![7; 32],
        }],
        ..request(vec![])
    };
    let b = c.before();
    let r = post_sync(&url, &token, &req).await;
    let acked = r.response.as_ref().map_or(0, |x| x.key_acks.len());
    c.record(
        "keys: a key for a person the server does not hold yet",
        "200 keys acked 1",
        format!("{} keys acked {acked}", sync_answer(&r)),
        &b,
        &["person_keys +1"],
    );

    // --- 8. Many tiny changes in one request. The protocol allows 5,000 (`docs/protocol.md`,
    // "limits"): 10,000 are refused as a whole with `413 too_many_changes`; exactly 5,000 are
    // accepted.
    let tiny_id = uuid();
    let mut tiny = vec![forge(&me, &tiny_id, "household", g01, &hh(g01, "16"))];
    {
        let mut d = doc_of(&[&tiny[0]], &me);
        let body = match d.get(automerge::ROOT, "body").unwrap() {
            Some((_, id)) => id,
            None => panic!("household has a body"),
        };
        for i in 1..10_000 {
            d.put(&body, "room", format!("{i}")).unwrap();
            d.commit();
            tiny.push(last_change(&mut d, &tiny_id));
        }
    }
    let b = c.before();
    let r = post_sync(&url, &token, &request(tiny.clone())).await;
    c.record(
        "push: 10,000 tiny changes in one request",
        "413 too_many_changes",
        sync_answer(&r),
        &b,
        NONE,
    );
    tiny.truncate(5_000);
    let b = c.before();
    let r = post_sync(&url, &token, &request(tiny)).await;
    c.record(
        "push: 5,000 tiny changes (the limit) in one request",
        "200 acked 5000",
        sync_answer(&r),
        &b,
        &[
            "change_log +5000",
            "docs +1",
            "household_grids +1",
            "households +1",
            "records +1",
        ],
    );

    // The report, then the verdict.
    println!("\n{:<70} {:<34} table changes", "input", "answer");
    for o in &c.results {
        println!(
            "{} {:<68} {:<34} {}",
            if o.ok() { "ok  " } else { "FAIL" },
            o.name,
            o.got,
            if o.changed.is_empty() {
                "none".to_string()
            } else {
                o.changed.join(", ")
            }
        );
        if !o.ok() {
            println!(
                "     wanted {:<63} {:<34} {}",
                "",
                o.want,
                if o.allowed.is_empty() {
                    "none".to_string()
                } else {
                    o.allowed.join(", ")
                }
            );
        }
    }
    let failed: Vec<&Outcome> = c.results.iter().filter(|o| !o.ok()).collect();
    println!("{} passed, {} failed", c.results.len() - failed.len(), failed.len());
    assert!(c.results.len() >= 100, "the corpus has {} inputs", c.results.len());
    assert!(
        failed.is_empty(),
        "unexpected answers or table changes: {:?}",
        failed.iter().map(|o| (&o.name, &o.got, &o.changed)).collect::<Vec<_>>()
    );

    // Still serving, still sound.
    p.store.create(&household(&grid, "after")).unwrap();
    let s = p.sync().await;
    assert!(s.sent >= 1 && s.rejected == 0);
    assert_eq!(server.integrity(), "ok");
    server.stop().await;
}
