//! Rules (issue 11): a published checklist template v2 reaches a phone at its next sync; new
//! house calls use v2, old ones still read as v1. A bad template is refused before anything
//! is stored.

use std::collections::BTreeMap;

use chrono::Utc;
use gridbook_core::domain::{AnswerType, ChecklistTemplate, HouseCall, TemplateItem};
use gridbook_sync_server::admin::rules;
use gridbook_tests::{Phone, TestServer, fast_client, household};
use serde_json::json;

fn house_call(
    grid: &str,
    household: &str,
    visitor: &str,
    t: &ChecklistTemplate,
    answers: BTreeMap<String, serde_json::Value>,
) -> HouseCall {
    HouseCall {
        grid_id: grid.into(),
        household_id: household.into(),
        person_ids: vec![],
        visitor: visitor.into(),
        companions: vec![],
        started_at: Utc::now() - chrono::Duration::minutes(20),
        ended_at: Utc::now() - chrono::Duration::minutes(5),
        location: None,
        template_id: t.template_id.clone(),
        template_version: t.version,
        answers,
        problems: vec![],
        photos: vec![],
        follow_up_due: None,
        notes: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_template_v2_reaches_the_phone_and_old_house_calls_keep_v1() {
    let server = TestServer::start().await;
    let grid = server.plan.grids[0].clone();
    let mut phone = Phone::login(&server.url, "grid01", &server.password("grid01"), fast_client()).await;
    phone.sync().await;
    let me = phone.info.account_id.clone();
    let v1 = phone.store.active_template().unwrap();
    assert_eq!(v1.version, 1);
    let hh = phone.store.create(&household(&grid, "901")).unwrap();
    let old = phone
        .store
        .create(&house_call(
            &grid,
            &hh,
            &me,
            &v1,
            [("know.situation".to_string(), json!(true))].into(),
        ))
        .unwrap();
    phone.sync().await;

    // A broken template is refused with the core rule's code; nothing is stored.
    let mut broken = ChecklistTemplate::builtin();
    broken.version = 2;
    let dup = broken.sections[0].items[0].clone();
    broken.sections[1].items.push(dup);
    let log = server.state.storage.log_len().unwrap();
    let err = rules::publish_template(
        server.state.storage.as_ref(),
        &serde_json::to_string(&broken).unwrap(),
        "admin",
    )
    .unwrap_err();
    assert_eq!(err.code(), "duplicate_template_item");
    let err = rules::publish_template(server.state.storage.as_ref(), "{not json", "admin").unwrap_err();
    assert_eq!(err.code(), "invalid_template");
    // Version 1 is taken (the shipped template).
    let err =
        rules::publish_template(server.state.storage.as_ref(), rules::shipped_template_json(), "admin").unwrap_err();
    assert_eq!(err.code(), "template_version_not_newer");
    assert_eq!(server.state.storage.log_len().unwrap(), log, "nothing stored");

    // Version 2 adds an item.
    let mut v2 = ChecklistTemplate::builtin();
    v2.version = 2;
    v2.name = "三知四清五报六访 走访清单（2027版）".into();
    v2.sections[0].items.push(TemplateItem {
        id: "know.fraud_awareness".into(),
        label: "防范电信诈骗宣传".into(),
        answer: AnswerType::Bool,
        options: vec![],
        frequency_days: None,
        labels: vec![],
    });
    let published = rules::publish_template(
        server.state.storage.as_ref(),
        &serde_json::to_string(&v2).unwrap(),
        "admin",
    )
    .unwrap();
    assert_eq!(published.version, 2);

    // The phone's next sync brings it; new house calls use it.
    phone.sync().await;
    let active = phone.store.active_template().unwrap();
    assert_eq!((active.version, active.name.as_str()), (2, v2.name.as_str()));
    let new = phone
        .store
        .create(&house_call(
            &grid,
            &hh,
            &me,
            &active,
            [("know.fraud_awareness".to_string(), json!(true))].into(),
        ))
        .unwrap();
    // The new item does not exist in v1: a v1 house call cannot answer it.
    let bad = phone.store.create(&house_call(
        &grid,
        &hh,
        &me,
        &v1,
        [("know.fraud_awareness".to_string(), json!(true))].into(),
    ));
    assert_eq!(bad.unwrap_err().code(), "unknown_template_item");
    let s = phone.sync().await;
    assert_eq!((s.sent, s.rejected), (1, 0), "{s:?}");

    // Old house calls still read as v1, new ones as v2: on the phone and on the server.
    assert_eq!(phone.store.get::<HouseCall>(&old).unwrap().template_version, 1);
    assert_eq!(phone.store.get::<HouseCall>(&new).unwrap().template_version, 2);
    assert_eq!(phone.store.template("3456", 1).unwrap(), v1);
    let db = server.db();
    let version = |id: &str| -> i64 {
        db.query_row("SELECT template_version FROM house_calls WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap()
    };
    assert_eq!((version(&old), version(&new)), (1, 2));
    // A second phone that joins later gets v2 as well.
    let mut other = Phone::login(&server.url, "grid02", &server.password("grid02"), fast_client()).await;
    other.sync().await;
    assert_eq!(other.store.active_template().unwrap().version, 2);
}
