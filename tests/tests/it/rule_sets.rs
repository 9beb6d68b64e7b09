//! Rules (issue 11): published versions of the workflow definition, time limits and holiday
//! calendar. They are validated before they are accepted (refusals write nothing), reach a
//! phone at its next sync, are pinned by the cases made after them while older cases keep
//! theirs, and a case that arrives on a device before the version it pins materializes right
//! once the version arrives (equal to a rebuild).

use std::collections::BTreeMap;

use chrono::Utc;
use gridbook_core::Store;
use gridbook_core::domain::Case;
use gridbook_core::{RuleKind, RulePins};
use gridbook_sync_server::admin::rules;
use gridbook_tests::web::{self, login as web_login};
use gridbook_tests::{Phone, TestServer, fast_client};
use serde_json::Value as Json;

fn incident(grid: &str, title: &str) -> Case {
    gridbook_tests::incident(grid, title, "路灯不亮")
}

fn shipped(rule: RuleKind) -> Json {
    serde_json::from_str(rule.shipped_json()).unwrap()
}

/// Time limits v2: accepting a case (受理) gets 8 working hours instead of 4.
fn time_limits_v2() -> String {
    let mut v = shipped(RuleKind::TimeLimits);
    v["version"] = 2.into();
    let rule = v["rules"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r["stage"] == "accept" && r["category"] == "*" && r["scale"] == "*")
        .unwrap();
    assert_eq!(rule["amount"], 4);
    rule["amount"] = 8.into();
    v.to_string()
}

/// Workflow v2: no more 上报升级 (`escalate`).
fn workflow_v2() -> String {
    let mut v = shipped(RuleKind::Workflow);
    v["version"] = 2.into();
    v["actions"].as_array_mut().unwrap().retain(|a| a["name"] != "escalate");
    v.to_string()
}

fn report(phone: &mut Phone, id: &str) -> gridbook_core::CaseView {
    phone
        .store
        .case_action(id, "report", None, BTreeMap::new())
        .unwrap_or_else(|e| panic!("report: {e:?}"))
}

/// The accept-stage deadline a case must have: `hours` working hours after it was reported.
fn expected_deadline(phone: &Phone, view: &gridbook_core::CaseView, hours: u32) -> chrono::DateTime<Utc> {
    let cal = phone.store.rule_book().unwrap().newest().calendar;
    let reported = view.history.last().unwrap().at;
    cal.add_working_hours(reported, hours)
}

/// A case's query row: state, response (受理) deadline from its metrics row, pinned versions.
fn case_row(conn: &rusqlite::Connection, id: &str) -> (String, Option<chrono::DateTime<Utc>>, i64, i64) {
    conn.query_row(
        "SELECT state, json_extract(summary_json, '$.response_deadline'), workflow_version, time_limits_version
         FROM cases WHERE id = ?1",
        [id],
        |r| {
            let deadline: Option<String> = r.get(1)?;
            Ok((r.get(0)?, deadline.map(|d| d.parse().unwrap()), r.get(2)?, r.get(3)?))
        },
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_rule_versions_reach_phones_and_new_cases_pin_them_while_old_cases_keep_theirs() {
    let server = TestServer::start().await;
    let grid = server.plan.grids[0].clone();
    let storage = server.state.storage.as_ref();
    let mut phone = Phone::login(&server.url, "grid01", &server.password("grid01"), fast_client()).await;
    phone.sync().await;

    // A case made under the shipped rules (v1).
    let old = phone.store.create(&incident(&grid, "路灯损坏（旧）")).unwrap();
    let old_view = report(&mut phone, &old);
    assert!(old_view.available_actions.contains(&"escalate".to_string()));
    phone.sync().await;

    // Refusals, each with its code; nothing is written.
    let log = storage.log_len().unwrap();
    let refuse = |rule, json: &str, version| {
        rules::publish_rule_set(storage, rule, json, version, "admin")
            .unwrap_err()
            .code()
    };
    assert_eq!(refuse(RuleKind::TimeLimits, "{not json", None), "invalid_rule_set");
    assert_eq!(refuse(RuleKind::TimeLimits, "{not json", Some(2)), "invalid_rule_set");
    assert_eq!(
        refuse(RuleKind::TimeLimits, RuleKind::TimeLimits.shipped_json(), None),
        "rule_version_not_newer"
    );
    assert_eq!(
        refuse(RuleKind::TimeLimits, &time_limits_v2(), Some(3)),
        "rule_version_mismatch"
    );
    let mut no_feedback = shipped(RuleKind::TimeLimits);
    no_feedback["version"] = 2.into();
    no_feedback["stages"]
        .as_array_mut()
        .unwrap()
        .retain(|s| s["key"] != "feedback");
    no_feedback["rules"]
        .as_array_mut()
        .unwrap()
        .retain(|r| r["stage"] != "feedback");
    assert_eq!(
        refuse(RuleKind::TimeLimits, &no_feedback.to_string(), None),
        "rules_inconsistent"
    );
    let mut short_calendar = shipped(RuleKind::Calendar);
    short_calendar["years"].as_array_mut().unwrap().remove(0);
    assert_eq!(
        refuse(RuleKind::Calendar, &short_calendar.to_string(), None),
        "calendar_year_dropped"
    );
    let err = rules::publish_rule_set(storage, RuleKind::Workflow, "[]", None, "admin").unwrap_err();
    assert!(!err.message_zh().is_empty() && err.message_zh() != err.to_string());
    assert_eq!(storage.log_len().unwrap(), log, "refused versions write nothing");

    // Time limits v2 and workflow v2 are published; a second v2 is then refused.
    let p = rules::publish_rule_set(storage, RuleKind::TimeLimits, &time_limits_v2(), None, "admin").unwrap();
    assert_eq!((p.rule.as_str(), p.version), ("time_limits", 2));
    rules::publish_rule_set(storage, RuleKind::Workflow, &workflow_v2(), None, "admin").unwrap();
    assert_eq!(
        refuse(RuleKind::TimeLimits, &time_limits_v2(), None),
        "rule_version_not_newer"
    );
    assert_eq!(
        rules::rule_versions(storage).unwrap(),
        vec![
            (RuleKind::Workflow, 2),
            (RuleKind::TimeLimits, 2),
            (RuleKind::Calendar, 1)
        ]
    );

    // The phone receives them at its next sync.
    assert_eq!(phone.store.rule_book().unwrap().latest(RuleKind::TimeLimits), 1);
    phone.sync().await;
    let book = phone.store.rule_book().unwrap();
    assert_eq!(
        book.pins_for_new(),
        RulePins {
            workflow: 2,
            time_limits: 2
        }
    );

    // A new case pins v2: its deadline follows v2 (8 h), and it has no `escalate`.
    let new = phone.store.create(&incident(&grid, "路灯损坏（新）")).unwrap();
    let new_view = report(&mut phone, &new);
    assert_eq!(
        new_view.deadline.as_ref().unwrap().deadline,
        expected_deadline(&phone, &new_view, 8)
    );
    assert!(!new_view.available_actions.contains(&"escalate".to_string()));
    // The old case keeps v1: 4 h and `escalate`.
    let old_view = phone.store.case(&old).unwrap();
    assert_eq!(
        old_view.deadline.as_ref().unwrap().deadline,
        expected_deadline(&phone, &old_view, 4)
    );
    assert!(old_view.available_actions.contains(&"escalate".to_string()));
    let s = phone.sync().await;
    assert_eq!(s.rejected, 0, "{s:?}");

    // The query rows agree on the phone and the server.
    let server_db = server.db();
    for (id, pins) in [(&old, (1, 1)), (&new, (2, 2))] {
        let on_phone = case_row(phone.store.connection(), id);
        let on_server = case_row(&server_db, id);
        assert_eq!(on_phone, on_server, "{id}");
        assert_eq!((on_phone.2, on_phone.3), pins);
    }
    let deadline = |view: &gridbook_core::CaseView| view.deadline.as_ref().map(|d| d.deadline);
    assert_eq!(case_row(&server_db, &new).1, deadline(&new_view), "v2: 8 working hours");
    assert_eq!(case_row(&server_db, &old).1, deadline(&old_view), "v1: 4 working hours");

    // Another device of the worker: each case keeps its own workflow (v1 still has `escalate`,
    // v2 has not), and the server validates the pushed transition with the old case's v1.
    let mut leader = Phone::login(&server.url, "grid01", &server.password("grid01"), fast_client()).await;
    leader.sync().await;
    let err = leader
        .store
        .case_action(
            &new,
            "escalate",
            None,
            [("level".to_string(), "sub_district".to_string())].into(),
        )
        .unwrap_err();
    assert_eq!(err.code(), "unknown_action");
    let level: BTreeMap<String, String> = [("level".to_string(), "sub_district".to_string())].into();
    leader
        .store
        .case_action(&old, "escalate", Some("需街道协调"), level)
        .unwrap();
    let s = leader.sync().await;
    assert_eq!((s.sent, s.rejected), (1, 0), "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_refuses_cases_pinned_to_versions_it_lacks_and_rule_sets_pushed_by_phones() {
    let server = TestServer::start().await;
    let grid = server.plan.grids[0].clone();
    let mut phone = Phone::login(&server.url, "grid01", &server.password("grid01"), fast_client()).await;
    phone.sync().await;
    // A forged phone state: a time-limits version 9 the server never published, written
    // straight into the phone's query table.
    let mut v9 = shipped(RuleKind::TimeLimits);
    v9["version"] = 9.into();
    phone
        .store
        .connection()
        .execute(
            "INSERT INTO rule_sets (rule, version, json, doc_id) VALUES ('time_limits', 9, ?1, 'forged')",
            [v9.to_string()],
        )
        .unwrap();
    let id = phone.store.create(&incident(&grid, "伪造版本")).unwrap();
    let s = phone.sync().await;
    assert_eq!(s.rejected, 1, "{s:?}");
    let code: String = phone
        .store
        .connection()
        .query_row("SELECT code FROM quarantine WHERE doc_id = ?1", [&id], |r| r.get(0))
        .unwrap();
    assert_eq!(code, "unknown_rule_version");
    let held: i64 = server
        .db()
        .query_row("SELECT count(*) FROM docs WHERE id = ?1", [&id], |r| r.get(0))
        .unwrap();
    assert_eq!(held, 0, "the server stored nothing of it");

    // A district admin's phone may write the district scope, but not a rule-set version.
    let mut admin = Phone::login(&server.url, "admin", &server.password("admin"), fast_client()).await;
    admin.sync().await;
    let mut v2 = shipped(RuleKind::TimeLimits);
    v2["version"] = 2.into();
    let set = gridbook_core::RuleSet {
        rule: RuleKind::TimeLimits,
        version: 2,
        json: v2.to_string(),
    };
    let pushed = admin.store.create(&set).unwrap();
    let s = admin.sync().await;
    assert_eq!(s.rejected, 1, "{s:?}");
    let code: String = admin
        .store
        .connection()
        .query_row("SELECT code FROM quarantine WHERE doc_id = ?1", [&pushed], |r| r.get(0))
        .unwrap();
    assert_eq!(code, "rule_set_admin_only");
    assert_eq!(
        rules::rule_versions(server.state.storage.as_ref()).unwrap()[1],
        (RuleKind::TimeLimits, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_arriving_before_its_rule_version_materializes_right_once_the_version_arrives() {
    let server = TestServer::start().await;
    let grid = server.plan.grids[0].clone();
    rules::publish_rule_set(
        server.state.storage.as_ref(),
        RuleKind::TimeLimits,
        &time_limits_v2(),
        None,
        "admin",
    )
    .unwrap();
    let mut phone = Phone::login(&server.url, "grid01", &server.password("grid01"), fast_client()).await;
    phone.sync().await;
    let id = phone.store.create(&incident(&grid, "先到的案件")).unwrap();
    report(&mut phone, &id);
    let reference = case_row(phone.store.connection(), &id);
    assert_eq!(reference.3, 2);

    // Another device (a real store on its own SQLite file) receives the case's changes first,
    // the rule-set version afterwards.
    let dir = tempfile::tempdir().unwrap();
    let me = phone.store.identity().clone();
    let mut other = Store::open(&dir.path().join("other.sqlite3"), me).unwrap();
    let all = phone.store.changes_since(&BTreeMap::new()).unwrap();
    let rule_doc: String = phone
        .store
        .connection()
        .query_row("SELECT doc_id FROM rule_sets WHERE rule = 'time_limits'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let (rule_changes, rest): (Vec<_>, Vec<_>) = all.into_iter().partition(|c| c.doc_id == rule_doc);
    other.apply_remote_changes(&rest).unwrap();
    let before = case_row(other.connection(), &id);
    assert_eq!(before.3, 2, "the pin is kept");
    assert!(reference.1.is_some());
    assert_ne!(before.1, reference.1, "fallback: v1's deadline until v2 arrives");
    other.apply_remote_changes(&rule_changes).unwrap();
    assert_eq!(case_row(other.connection(), &id), reference);
    let dump = other.query_table_dump().unwrap();
    other.rebuild_query_tables().unwrap();
    assert_eq!(other.query_table_dump().unwrap(), dump, "equal to a rebuild");
}

async fn send(url: &str, cookie: &str, body: Option<String>) -> (u16, String) {
    match body {
        Some(b) => web::post(url, cookie, "application/json", b).await,
        None => web::get(url, cookie).await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_publishes_rule_versions_with_typed_refusals() {
    let server = TestServer::start().await;
    let url = &server.url;
    let api = |rule: &str| format!("{url}/review/api/admin/rules/{rule}");
    let supervisor = web_login(url, "community1", &server.password("community1")).await;
    let (status, _) = send(
        &api("calendar"),
        &supervisor,
        Some(RuleKind::Calendar.shipped_json().into()),
    )
    .await;
    assert_eq!(status, 404, "district admins only");

    let admin = web_login(url, "admin", &server.password("admin")).await;
    let (status, page) = send(&format!("{url}/review/admin"), &admin, None).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("流程与时限规则") && page.contains("id=\"rule-version-calendar\">1<"),
        "{page}"
    );

    let log = server.state.storage.log_len().unwrap();
    let (status, body) = send(&api("calendar"), &admin, Some("{\"years\": 1}".into())).await;
    assert_eq!(status, 422, "{body}");
    let j: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(j["code"], "invalid_rule_set");
    assert_eq!(j["message_zh"], "规则文件无效（格式或内容有误）");
    assert!(j["message"].as_str().unwrap().contains("calendar"), "{body}");
    let (status, body) = send(&api("holidays"), &admin, Some("{}".into())).await;
    assert_eq!(
        (status, serde_json::from_str::<Json>(&body).unwrap()["code"].clone()),
        (422, "unknown_rule".into())
    );
    let (status, body) = send(
        &format!("{}?version=1", api("calendar")),
        &admin,
        Some(RuleKind::Calendar.shipped_json().into()),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        serde_json::from_str::<Json>(&body).unwrap()["code"],
        "rule_version_not_newer"
    );
    assert_eq!(server.state.storage.log_len().unwrap(), log, "refusals write nothing");

    // The calendar's version defaults to one above the newest.
    let (status, body) = send(&api("calendar"), &admin, Some(RuleKind::Calendar.shipped_json().into())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Json>(&body).unwrap()["version"], 2);
    let (_, page) = send(&format!("{url}/review/admin"), &admin, None).await;
    assert!(page.contains("id=\"rule-version-calendar\">2<"));
}

/// Four publishes of one time-limits version at once (four admins clicking "publish"): exactly
/// one lands, the others are refused as not newer, and the server holds one record of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishes_of_one_version_land_once() {
    let server = TestServer::start().await;
    let json = time_limits_v2();
    let outcomes: Vec<Result<u32, String>> = std::thread::scope(|s| {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let storage = server.state.storage.as_ref();
                let json = json.as_str();
                s.spawn(move || {
                    rules::publish_rule_set(storage, RuleKind::TimeLimits, json, None, "admin")
                        .map(|p| p.version)
                        .map_err(|e| e.code().to_string())
                })
            })
            .collect();
        tasks.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "{outcomes:?}");
    for refused in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert_eq!(refused, "rule_version_not_newer");
    }
    let records: i64 = server
        .db()
        .query_row("SELECT count(*) FROM docs WHERE kind = 'rule_set'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(records, 1);
}
