//! The rest of the closed loop from the dashboard's API, with a worker's phone in between:
//! 受理 → 自办自结 → (phone) 申请延期 → 批准延期 → 催办 → 办结 → 督查验证 → 反馈 → 归档, each
//! refused when out of turn; the phone ends with the archived case.

use std::collections::BTreeMap;

use gridbook_core::demo::DemoOptions;
use gridbook_core::domain::Role;
use gridbook_core::sync::SyncClient;
use gridbook_core::{Identity, Store};

use super::{Server, http, web_login};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extension_verification_and_archive_from_the_dashboard() {
    let server = Server::start(DemoOptions {
        households: 6,
        days: 5,
        ..DemoOptions::default()
    })
    .await;
    let url = server.url.clone();
    let grid = server.plan.grids[0].clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let nobody = Identity {
        account_id: String::new(),
        role: Role::GridLeader,
        org_node: String::new(),
        grids: vec![],
    };
    let mut store = Store::open(&dir.path().join("phone.sqlite3"), nobody).expect("store");
    let dev = gridbook_core::sync::client::ClientConfig {
        allow_insecure_http: true, // the loopback demo server speaks plain HTTP
        ..Default::default()
    };
    let mut client = SyncClient::with_config(&url, dev).expect("client");
    client
        .login(&mut store, "grid01", "demo-grid01", "phone")
        .await
        .expect("login");
    client.sync(&mut store).await.expect("sync");
    let id = store.cases(Some(&grid), Some("draft")).expect("cases")[0].id.clone();
    store.case_action(&id, "report", None, BTreeMap::new()).expect("report");
    client.sync(&mut store).await.expect("push");

    let cookie = web_login(&url, "community1", "demo-community1").await.expect("login");
    let act = |body: serde_json::Value| {
        let (url, cookie, id) = (url.clone(), cookie.clone(), id.clone());
        async move {
            let r = http()
                .post(format!("{url}/review/api/cases/{id}/action"))
                .header("cookie", cookie)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .expect("post");
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.expect("json"))
        }
    };
    let ok = |(status, v): (u16, serde_json::Value), state: &str| {
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["state"], state);
    };
    // Out of turn: typed refusals, nothing written.
    let (status, v) = act(serde_json::json!({"action": "archive"})).await;
    assert_eq!(status, 409, "{v}");
    let (status, v) = act(serde_json::json!({"action": "reject"})).await;
    assert_eq!((status, v["code"].as_str()), (409, Some("missing_param")), "{v}");
    let (status, v) = act(serde_json::json!({"action": "fly"})).await;
    assert_eq!(status, 409, "{v}");
    ok(act(serde_json::json!({"action": "accept"})).await, "accepted");
    ok(act(serde_json::json!({"action": "self_handle"})).await, "handling");

    // The worker asks for two more working days.
    client.sync(&mut store).await.expect("pull");
    let mut p = BTreeMap::new();
    p.insert("days".to_string(), "2".to_string());
    store
        .case_action(&id, "request_extension", Some("等待配件"), p)
        .expect("request extension");
    client.sync(&mut store).await.expect("push");

    ok(
        act(serde_json::json!({"action": "approve_extension"})).await,
        "handling",
    );
    ok(act(serde_json::json!({"action": "urge"})).await, "handling");
    ok(act(serde_json::json!({"action": "complete"})).await, "handled");
    ok(act(serde_json::json!({"action": "verify_pass"})).await, "verified");
    ok(act(serde_json::json!({"action": "feedback"})).await, "feedback");
    ok(act(serde_json::json!({"action": "archive"})).await, "archived");

    client.sync(&mut store).await.expect("pull");
    let view = store.case(&id).expect("case");
    assert_eq!(view.state.state, "archived");
    assert_eq!(view.state.approved_extension_days, 2);
    assert_eq!(view.state.urge_count, 1);
    assert!(view.state.conflicts.is_empty());
}
