//! Hostile-input corpus (issue 8): crafted requests and payloads against a real server on
//! 127.0.0.1. Each input gets its typed answer (HTTP status and stable code, or a per-change
//! rejection code); afterwards the server still syncs normally and its database passes
//! `PRAGMA integrity_check`. The run prints, per input, the status and code received.

mod sessions;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjType};
use gridbook_core::doc;
use gridbook_core::sync::client::gzip;
use gridbook_core::sync::{Cursor, PushChange, wire};
use gridbook_tests::{Phone, TestServer, fast_client, household, post_sync, post_sync_raw, request};
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

/// A forged record change made with `actor`, as raw Automerge (no local validation).
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
        let t = d.put_object(automerge::ROOT, "transitions", ObjType::List).unwrap();
        let _ = t;
    }
    d.commit();
    let c = d.get_last_local_change().unwrap();
    PushChange {
        doc_id: id.into(),
        hash: c.hash().to_string(),
        bytes: c.raw_bytes().to_vec(),
    }
}

fn uuid() -> String {
    uuid::Uuid::now_v7().to_string()
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

struct Outcome {
    name: String,
    got: String,
    ok: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_get_typed_answers_and_the_server_keeps_serving() {
    let server = TestServer::start_with(|c| c.max_body_bytes = 256 * 1024).await;
    let url = server.url.clone();
    let mut p = Phone::login(&url, "grid01", &server.password("grid01"), fast_client()).await;
    p.sync().await;
    let token = p.token();
    let grid = server.plan.grids[0].clone();
    let other_grid = server.plan.grids[5].clone();
    let me = ActorId::from(p.store.device_id().as_bytes().as_slice());
    let stranger = ActorId::from(uuid::Uuid::new_v4().as_bytes().as_slice());
    let account = p.info.identity().account_id.clone();
    let http = reqwest::Client::new();
    let mut results: Vec<Outcome> = Vec::new();

    // --- 1. Login bodies.
    let valid_device = p.store.device_id().to_string();
    let mut deep = String::new();
    for _ in 0..5000 {
        deep.push('[');
    }
    let long = "网".repeat(10_000);
    let login_cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("login: empty body", vec![], 400, "malformed_body"),
        ("login: truncated JSON", b"{\"username\":".to_vec(), 400, "malformed_body"),
        ("login: wrong types", br#"{"username":1,"password":[],"device_id":{},"device_name":null}"#.to_vec(), 400, "malformed_body"),
        ("login: invalid UTF-8", vec![b'{', 0xff, 0xfe, b'}'], 400, "malformed_body"),
        ("login: deeply nested JSON", deep.into_bytes(), 400, "malformed_body"),
        ("login: device id not a UUID", br#"{"username":"grid01","password":"x","device_id":"../../etc","device_name":"p"}"#.to_vec(), 400, "malformed_body"),
        ("login: unknown user", json!({"username":"nobody","password":"x","device_id":uuid(),"device_name":"p"}).to_string().into_bytes(), 401, "bad_credentials"),
        ("login: wrong password", json!({"username":"grid01","password":"wrong","device_id":uuid(),"device_name":"p"}).to_string().into_bytes(), 401, "bad_credentials"),
        ("login: SQL injection as username", json!({"username":"' OR '1'='1' --","password":"x","device_id":uuid(),"device_name":"p"}).to_string().into_bytes(), 401, "bad_credentials"),
        ("login: SQL injection as password", json!({"username":"grid01","password":"' OR '1'='1","device_id":uuid(),"device_name":"p"}).to_string().into_bytes(), 401, "bad_credentials"),
        ("login: path traversal as username", json!({"username":"../../../etc/passwd","password":"x","device_id":uuid(),"device_name":"p"}).to_string().into_bytes(), 401, "bad_credentials"),
        ("login: 10,000-character username", json!({"username":long,"password":"x","device_id":uuid(),"device_name":"p"}).to_string().into_bytes(), 401, "bad_credentials"),
        ("login: another account's device id", json!({"username":"grid02","password":server.password("grid02"),"device_id":valid_device,"device_name":"p"}).to_string().into_bytes(), 409, "device_taken"),
    ];
    for (name, body, status, code) in login_cases {
        let r = http
            .post(format!("{url}/v1/login"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let st = r.status().as_u16();
        let v: Json = r.json().await.unwrap_or(Json::Null);
        let got_code = v["code"].as_str().unwrap_or("").to_string();
        let typed = v["message"].as_str().is_some_and(|m| !m.is_empty())
            && v["message_zh"].as_str().is_some_and(|m| !m.is_empty());
        results.push(Outcome {
            name: name.into(),
            got: format!("{st} {got_code}"),
            ok: st == status && got_code == code && typed,
        });
    }

    // --- 2. Tokens.
    let body = gzip(&wire::encode(&request(vec![])));
    let token_cases: Vec<(&str, Option<String>, u16, &str)> = vec![
        ("sync: no token", None, 401, "unauthorized"),
        ("sync: empty token", Some(String::new()), 401, "unauthorized"),
        (
            "sync: made-up token",
            Some("0123456789abcdef".into()),
            401,
            "unauthorized",
        ),
        (
            "sync: SQL injection as token",
            Some("' OR 1=1 --".into()),
            401,
            "unauthorized",
        ),
        (
            "sync: path traversal as token",
            Some("../../../../etc/passwd".into()),
            401,
            "unauthorized",
        ),
        ("sync: 64 KiB token", Some("a".repeat(64 * 1024)), 401, "unauthorized"),
    ];
    for (name, t, status, code) in token_cases {
        let r = post_sync_raw(&url, t.as_deref(), body.clone(), true).await;
        results.push(Outcome {
            name: name.into(),
            got: format!("{} {}", r.status, r.code()),
            ok: r.status == status && r.code() == code,
        });
    }
    for (name, header) in [
        ("sync: Basic auth instead of Bearer", "Basic Z3JpZDAxOng="),
        ("sync: 'Bearer' without a token", "Bearer"),
    ] {
        let r = http
            .post(format!("{url}/v1/sync"))
            .header("authorization", header)
            .header("content-encoding", "gzip")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let st = r.status().as_u16();
        let v: Json = r.json().await.unwrap_or(Json::Null);
        results.push(Outcome {
            name: name.into(),
            got: format!("{st} {}", v["code"]),
            ok: st == 401 && v["code"] == "unauthorized",
        });
    }
    // A token that was logged out.
    let mut q = Phone::login(&url, "grid01", &server.password("grid01"), fast_client()).await;
    let old = q.token();
    let r = http
        .post(format!("{url}/v1/logout"))
        .bearer_auth(&old)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "logout works");
    let r = post_sync_raw(&url, Some(&old), body.clone(), true).await;
    results.push(Outcome {
        name: "sync: logged-out token".into(),
        got: format!("{} {}", r.status, r.code()),
        ok: r.status == 401 && !r.code().is_empty(),
    });
    q.client.set_token("x");

    // --- 3. Sync bodies.
    let cbor = wire::encode(&request(vec![]));
    // CBOR arrays of one element, nested 10,000 deep.
    let mut nested = vec![0x81u8; 10_000];
    nested.push(0x00);
    let bomb = gzip(&vec![0u8; 8 << 20]);
    let body_cases: Vec<(&str, Vec<u8>, bool, u16, &str)> = vec![
        ("sync: empty body", vec![], false, 400, "malformed_body"),
        ("sync: empty gzip-labelled body", vec![], true, 400, "malformed_body"),
        (
            "sync: not gzip but labelled gzip",
            cbor.clone(),
            true,
            400,
            "malformed_body",
        ),
        (
            "sync: truncated gzip",
            body[..body.len() / 2].to_vec(),
            true,
            400,
            "malformed_body",
        ),
        (
            "sync: truncated CBOR",
            cbor[..cbor.len() - 3].to_vec(),
            false,
            400,
            "malformed_body",
        ),
        (
            "sync: JSON instead of CBOR",
            br#"{"v":1,"push":[]}"#.to_vec(),
            false,
            400,
            "malformed_body",
        ),
        (
            "sync: invalid UTF-8 bytes",
            vec![0xff, 0xfe, 0xfd],
            false,
            400,
            "malformed_body",
        ),
        ("sync: deeply nested CBOR", nested, false, 400, "malformed_body"),
        ("sync: empty CBOR map", vec![0xa0], false, 400, "malformed_body"),
        ("sync: gzip bomb (8 MiB of zeros)", bomb, true, 413, "payload_too_large"),
        (
            "sync: oversized plain body",
            vec![0u8; 512 * 1024],
            false,
            413,
            "payload_too_large",
        ),
    ];
    for (name, b, _, _, _) in &body_cases {
        seed_corpus("sync_request", name, b);
    }
    seed_corpus("sync_request", "valid request", &cbor);
    for (name, b, gz, status, code) in body_cases {
        let r = post_sync_raw(&url, Some(&token), b, gz).await;
        results.push(Outcome {
            name: name.into(),
            got: format!("{} {}", r.status, r.code()),
            ok: r.status == status && r.code() == code,
        });
    }
    let versions: Vec<(&str, u32)> = vec![
        ("sync: protocol version 0", 0),
        ("sync: protocol version 2", 2),
        ("sync: protocol version u32::MAX", u32::MAX),
    ];
    for (name, v) in versions {
        let mut req = request(vec![]);
        req.v = v;
        let r = post_sync(&url, &token, &req).await;
        results.push(Outcome {
            name: name.into(),
            got: format!("{} {}", r.status, r.code()),
            ok: r.status == 400 && r.code() == "unsupported_protocol_version",
        });
    }
    let mut ahead = request(vec![]);
    ahead.client_time = i64::MAX;
    let r = post_sync(&url, &token, &ahead).await;
    results.push(Outcome {
        name: "sync: client clock at i64::MAX".into(),
        got: format!("{} {}", r.status, r.code()),
        ok: r.status == 400 && r.code() == "clock_in_future",
    });
    let mut far = request(vec![]);
    far.client_time = chrono::Utc::now().timestamp_millis() + 10 * 24 * 3600 * 1000;
    let r = post_sync(&url, &token, &far).await;
    results.push(Outcome {
        name: "sync: client clock 10 days ahead".into(),
        got: format!("{} {}", r.status, r.code()),
        ok: r.status == 400 && r.code() == "clock_in_future",
    });
    // Cursors for scopes this device may not read: nothing of them comes back.
    for (name, scope, seq) in [
        ("sync: cursor for another grid", other_grid.clone(), 0u64),
        ("sync: cursor with a huge sequence", grid.clone(), u64::MAX),
        ("sync: cursor for a path-traversal scope", "../../etc".to_string(), 0),
        ("sync: cursor for an SQL-injection scope", "' OR 1=1 --".to_string(), 0),
    ] {
        let mut req = request(vec![]);
        req.cursors = vec![Cursor {
            scope: scope.clone(),
            seq,
            snapshot_after: None,
        }];
        let r = post_sync(&url, &token, &req).await;
        let leaked = r.response.as_ref().is_some_and(|resp| {
            resp.snapshots
                .iter()
                .chain(&resp.changes)
                .any(|d| d.scope != grid && d.scope != "district")
        });
        let typed = r.status == 200 || (r.status == 400 || r.status == 403) && !r.code().is_empty();
        results.push(Outcome {
            name: name.into(),
            got: format!("{} {}", r.status, r.code()),
            ok: typed && !leaked,
        });
    }

    // --- 4. Changes: each refused on its own, with its code.
    let hh = |room: &str| serde_json::to_value(household(&grid, room)).unwrap();
    let mut missing = hh("1");
    missing.as_object_mut().unwrap().remove("address");
    let mut bad_date = hh("2");
    bad_date["registered_on"] = json!("+300000-01-01");
    let mut empty_addr = hh("3");
    empty_addr["address"] = json!("   ");
    let person = |id_number: &str| {
        json!({"household_id": uuid(), "grid_id": grid, "name": "王芳", "id_number": id_number, "phone": null,
               "relation": "户主", "birth_date": null, "labels": []})
    };
    let call = |start: &str, end: &str| {
        json!({"grid_id": grid, "household_id": uuid(), "person_ids": [], "visitor": "grid01", "companions": [],
               "started_at": start, "ended_at": end, "location": null, "template_id": "3456", "template_version": 1,
               "answers": {}, "problems": [], "photos": [], "follow_up_due": null, "notes": ""})
    };
    let mut dup_template = serde_json::to_value(gridbook_core::domain::ChecklistTemplate::builtin()).unwrap();
    let first_item = dup_template["sections"][0]["items"][0].clone();
    dup_template["sections"][1]["items"]
        .as_array_mut()
        .unwrap()
        .push(first_item);
    let mut garbage = forge(&me, &uuid(), "household", &grid, &hh("4"));
    garbage.bytes = vec![0x85, 0x6f, 0x4a, 0x83, 0, 1, 2, 3];
    // The fuzzer's 398-byte bundle chunk that made automerge 0.12 grow past 20 GiB.
    let mut bundle = forge(&me, &uuid(), "household", &grid, &hh("4"));
    bundle.bytes = include_bytes!("../../../core/tests/fixtures/automerge_bundle_oom.bin").to_vec();
    let mut wrong_hash = forge(&me, &uuid(), "household", &grid, &hh("5"));
    wrong_hash.hash = "ab".repeat(32);
    let mut wrong_doc = forge(&me, &uuid(), "household", &grid, &hh("6"));
    wrong_doc.doc_id = uuid();
    let mut long_id = forge(&me, &uuid(), "household", &grid, &hh("7"));
    long_id.doc_id = "x".repeat(1000);
    let change_cases: Vec<(&str, PushChange, &str)> = vec![
        ("change: garbage bytes", garbage, "invalid_change"),
        ("change: Automerge bundle chunk (memory bomb)", bundle, "invalid_change"),
        ("change: hash not the change's", wrong_hash, "hash_mismatch"),
        (
            "change: made by another device's actor",
            forge(&stranger, &uuid(), "household", &grid, &hh("8")),
            "actor_mismatch",
        ),
        ("change: pushed under another doc id", wrong_doc, "doc_id_mismatch"),
        ("change: 1,000-character doc id", long_id, "invalid_record"),
        (
            "change: record in another grid (forged scope)",
            forge(
                &me,
                &uuid(),
                "household",
                &other_grid,
                &serde_json::to_value(household(&other_grid, "9")).unwrap(),
            ),
            "out_of_scope",
        ),
        (
            "change: scope differs from the body's grid",
            forge(
                &me,
                &uuid(),
                "household",
                &grid,
                &serde_json::to_value(household("elsewhere", "10")).unwrap(),
            ),
            "scope_mismatch",
        ),
        (
            "change: unknown record kind",
            forge(&me, &uuid(), "spaceship", &grid, &hh("11")),
            "unknown_kind",
        ),
        (
            "change: body missing a required field",
            forge(&me, &uuid(), "household", &grid, &missing),
            "invalid_record",
        ),
        (
            "change: date out of range",
            forge(&me, &uuid(), "household", &grid, &bad_date),
            "invalid_record",
        ),
        (
            "change: blank address",
            forge(&me, &uuid(), "household", &grid, &empty_addr),
            "empty_field",
        ),
        (
            "change: ID number with a bad check digit",
            forge(&me, &uuid(), "person", &grid, &person("110105194912310021")),
            "invalid_id_number",
        ),
        (
            "change: ID number with SQL injection",
            forge(&me, &uuid(), "person", &grid, &person("1' OR '1'='1'--")),
            "invalid_id_number",
        ),
        (
            "change: house call ending before it starts",
            forge(
                &me,
                &uuid(),
                "house_call",
                &grid,
                &call("2026-11-27T10:00:00Z", "2026-11-27T09:00:00Z"),
            ),
            "end_before_start",
        ),
        (
            "change: template with a duplicate item (worker)",
            forge(&me, &uuid(), "template", "district", &dup_template),
            "out_of_scope",
        ),
        (
            "change: district org node by a grid worker",
            forge(
                &me,
                &uuid(),
                "org_node",
                "district",
                &json!({"name":"假网格","level":"grid","code":"370883001002099","parent":null,"effective_from":"2026-01-01","effective_to":null}),
            ),
            "out_of_scope",
        ),
    ];
    for (name, change, _) in &change_cases {
        seed_corpus("change_validator", name, &change.bytes);
    }
    for (name, change, code) in change_cases {
        let r = post_sync(&url, &token, &request(vec![change])).await;
        let got = r
            .response
            .as_ref()
            .and_then(|resp| resp.rejections.first())
            .map(|x| x.code.clone())
            .unwrap_or_else(|| format!("{} {}", r.status, r.code()));
        let stored = r.response.as_ref().is_some_and(|resp| !resp.acks.is_empty());
        results.push(Outcome {
            name: name.into(),
            got: format!("200 rejected {got}"),
            ok: got == code && !stored,
        });
    }
    // Workflow: transitions in someone else's name or role, and a worker approving a ledger.
    let case_id = uuid();
    let case_body = json!({"grid_id": grid, "case_kind": "incident", "category": "other", "subcategory": null, "scale": "individual",
        "title": "t", "description": "", "location": null, "address": "", "reporter": "grid01", "channel": null,
        "resident_name": null, "resident_phone": null, "photos": [], "occurred_at": "2026-11-27T01:00:00Z"});
    let base = forge(&me, &case_id, "incident", &grid, &case_body);
    let r = post_sync(&url, &token, &request(vec![base.clone()])).await;
    assert_eq!(
        r.response.as_ref().map(|x| x.acks.len()),
        Some(1),
        "a valid case is accepted"
    );
    let transition = |actor: &str, role: &str, action: &str| {
        json!({"id": uuid(), "action": action, "from": "draft", "to": "reported", "actor": actor, "role": role,
               "org_node": grid, "at": "2026-11-27T01:00:00Z", "device_time": "2026-11-27T01:00:00Z",
               "reason": null, "params": {}, "attachments": []})
    };
    let with_transition = |t: Json| {
        let mut d = AutoCommit::load(&{
            let mut x: AutoCommit = doc::new_doc(&me);
            x.apply_changes([automerge::Change::from_bytes(base.bytes.clone()).unwrap()])
                .unwrap();
            x.save()
        })
        .unwrap()
        .with_actor(me.clone());
        doc::append_to_root_list(&mut d, "transitions", &t).unwrap();
        d.commit();
        let c = d.get_last_local_change().unwrap();
        PushChange {
            doc_id: case_id.clone(),
            hash: c.hash().to_string(),
            bytes: c.raw_bytes().to_vec(),
        }
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
        let r = post_sync(&url, &token, &request(vec![with_transition(t)])).await;
        let got = r
            .response
            .as_ref()
            .and_then(|resp| resp.rejections.first())
            .map(|x| x.code.clone())
            .unwrap_or_default();
        results.push(Outcome {
            name: name.into(),
            got: format!("200 rejected {got}"),
            ok: got == code,
        });
    }
    // A worker approving a ledger; the district admin publishing a template with a duplicate item.
    let ledger_id = uuid();
    let ledger = forge(
        &me,
        &ledger_id,
        "ledger",
        &grid,
        &json!({"grid_id": grid, "worker": account, "day": "2026-11-27", "notes": ""}),
    );
    let mut d: AutoCommit = doc::new_doc(&me);
    d.apply_changes([automerge::Change::from_bytes(ledger.bytes.clone()).unwrap()])
        .unwrap();
    let entry = json!({"id": uuid(), "action": "approve", "actor": account, "role": "grid_worker", "at": "2026-11-27T10:00:00Z", "comment": null, "base": []});
    doc::append_to_root_list(&mut d, "transitions", &entry).unwrap();
    d.commit();
    let c = d.get_last_local_change().unwrap();
    let approve = PushChange {
        doc_id: ledger_id.clone(),
        hash: c.hash().to_string(),
        bytes: c.raw_bytes().to_vec(),
    };
    let r = post_sync(&url, &token, &request(vec![ledger, approve])).await;
    let got = r
        .response
        .as_ref()
        .and_then(|resp| resp.rejections.first())
        .map(|x| x.code.clone())
        .unwrap_or_default();
    results.push(Outcome {
        name: "workflow: a grid worker approving a ledger".into(),
        got: format!("200 rejected {got}"),
        ok: got == "role_not_allowed",
    });
    let admin = Phone::login(&url, "admin", &server.password("admin"), fast_client()).await;
    let admin_actor = ActorId::from(admin.store.device_id().as_bytes().as_slice());
    let r = post_sync(
        &url,
        &admin.token(),
        &request(vec![forge(
            &admin_actor,
            &uuid(),
            "template",
            "district",
            &dup_template,
        )]),
    )
    .await;
    let got = r
        .response
        .as_ref()
        .and_then(|resp| resp.rejections.first())
        .map(|x| x.code.clone())
        .unwrap_or_default();
    results.push(Outcome {
        name: "change: template with a duplicate item (admin)".into(),
        got: format!("200 rejected {got}"),
        ok: got == "duplicate_template_item",
    });

    // SQL injection and path traversal in every text field of a household: plain text, kept verbatim.
    for (i, s) in INJECTIONS.iter().enumerate() {
        let mut h = household(&grid, s);
        h.building = s.to_string();
        h.unit = s.to_string();
        h.address = format!("{s}{i}");
        match p.store.create(&h) {
            Ok(id) => {
                let sum = p.sync().await;
                let back: gridbook_core::domain::Household = p.store.get(&id).unwrap();
                results.push(Outcome {
                    name: format!("text: {s:?} in every household field"),
                    got: format!("200 acked {}", sum.sent),
                    ok: sum.rejected == 0
                        && back.address == format!("{s}{i}")
                        && server.log_count(&p.store.doc_heads().unwrap()[&id][0]) == 1,
                });
            }
            Err(e) => results.push(Outcome {
                name: format!("text: {s:?} in every household field"),
                got: format!("local {}", e.code()),
                ok: e.code() == "too_long",
            }),
        }
    }

    // The report, then the verdict.
    println!("\n{:<58} answer", "input");
    for o in &results {
        println!("{} {:<56} {}", if o.ok { "ok  " } else { "FAIL" }, o.name, o.got);
    }
    let failed: Vec<&Outcome> = results.iter().filter(|o| !o.ok).collect();
    println!("{} passed, {} failed", results.len() - failed.len(), failed.len());
    assert!(results.len() >= 60, "the corpus has {} inputs", results.len());
    assert!(
        failed.is_empty(),
        "unexpected answers: {:?}",
        failed.iter().map(|o| (&o.name, &o.got)).collect::<Vec<_>>()
    );

    // Still serving, still sound.
    p.store.create(&household(&grid, "after")).unwrap();
    let s = p.sync().await;
    assert!(s.sent >= 1 && s.rejected == 0);
    assert_eq!(server.integrity(), "ok");
    server.stop().await;
}
