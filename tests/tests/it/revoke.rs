//! Revoked devices, revoked and expired tokens.

use gridbook_core::sync::SyncError;
use gridbook_sync_server::auth;
use gridbook_sync_server::storage::Token;
use gridbook_tests::{Phone, TestServer, fast_client, household, post_sync, request};

fn status_code(e: SyncError) -> (u16, String) {
    match e {
        SyncError::Server { status, code, .. } => (status, code),
        other => panic!("expected a server error, got {other:?}"),
    }
}

async fn post_empty(url: &str, path: &str, token: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.bytes().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_gets_401_and_its_pushes_are_refused() {
    let server = TestServer::start().await;
    let grid = server.plan.grids[0].clone();
    let mut p = Phone::login(&server.url, "grid01", &server.password("grid01"), fast_client()).await;
    p.sync().await;
    let other = Phone::login(&server.url, "grid02", &server.password("grid02"), fast_client()).await;
    let device = p.store.device_id();

    let (status, body) = post_empty(&server.url, &format!("/v1/devices/{device}/revoke"), &other.token()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "another worker may not revoke it"
    );

    let admin = Phone::login(&server.url, "admin", &server.password("admin"), fast_client()).await;
    let (status, _) = post_empty(&server.url, &format!("/v1/devices/{device}/revoke"), &admin.token()).await;
    assert_eq!(status, 204);

    p.store.create(&household(&grid, "401")).unwrap();
    let hash = p.store.outbox(1).unwrap()[0].hash.clone();
    // The server answers 401 device_revoked; the client wipes its store (issue 9, see
    // accounts.rs) and reports device_wiped.
    let raw = post_sync(&server.url, &p.token(), &request(vec![])).await;
    assert_eq!((raw.status, raw.code()), (401, "device_revoked"));
    let err = p.client.sync(&mut p.store).await.unwrap_err();
    assert_eq!(err.code(), "device_wiped");
    assert_eq!(server.log_count(&hash), 0, "its push was not stored");
    // It cannot log in again.
    let again = reqwest::Client::new()
        .post(format!("{}/v1/login", server.url))
        .json(&serde_json::json!({"username": "grid01", "password": server.password("grid01"), "device_id": device}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 401);
    let body: serde_json::Value = again.json().await.unwrap();
    assert_eq!(body["code"], "device_revoked");

    // Logout revokes the token.
    let mut q = Phone::login(&server.url, "grid03", &server.password("grid03"), fast_client()).await;
    q.sync().await;
    let (status, _) = post_empty(&server.url, "/v1/logout", &q.token()).await;
    assert_eq!(status, 204);
    assert_eq!(
        status_code(q.client.sync(&mut q.store).await.unwrap_err()),
        (401, "token_revoked".into())
    );

    // An expired token.
    let (token, hash) = auth::new_token();
    let past = chrono::Utc::now().timestamp_millis() - 1_000;
    server
        .state
        .storage
        .insert_token(&Token {
            hash,
            device_id: q.store.device_id(),
            created_at: past - 10,
            expires_at: past,
            revoked_at: None,
            web: false,
        })
        .unwrap();
    let raw = post_sync(&server.url, &token, &request(vec![])).await;
    assert_eq!((raw.status, raw.code()), (401, "token_expired"));
    // Logging in again gives a working token.
    q.client
        .login(&mut q.store, "grid03", &server.password("grid03"), "again")
        .await
        .unwrap();
    q.sync().await;
    let wrong = q.client.login(&mut q.store, "grid03", "wrong", "x").await.unwrap_err();
    assert_eq!(status_code(wrong), (401, "bad_credentials".into()));
    assert_eq!(server.integrity(), "ok");
    server.stop().await;
}
