//! Accounts and devices (issue 9): brute-force logins are slowed and locked, the password
//! policy refuses weak passwords, an expired access token is refreshed by the client, a
//! revoked device is wiped at its next sync. Every check goes over real HTTP to a real server.

use gridbook_core::Store;
use gridbook_core::WIPED_MARKER;
use gridbook_tests::{Answer, Phone, TestServer, fast_client, household, post_sync, request};
use rusqlite::{Connection, OpenFlags};
use uuid::Uuid;

async fn post_json(url: &str, path: &str, token: Option<&str>, body: serde_json::Value) -> Answer {
    let mut r = reqwest::Client::new().post(format!("{url}{path}")).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.expect("send");
    Answer::read(resp).await
}

async fn login(url: &str, username: &str, password: &str) -> Answer {
    post_json(
        url,
        "/v1/login",
        None,
        serde_json::json!({"username": username, "password": password, "device_id": Uuid::new_v4()}),
    )
    .await
}

/// A read-write connection to the server's database (what someone with the disk can do).
fn raw_db(server: &TestServer) -> Connection {
    let c = Connection::open_with_flags(server.state.config.db_path(), OpenFlags::SQLITE_OPEN_READ_WRITE)
        .expect("open server db");
    c.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    c
}

fn audit_count(server: &TestServer, action: &str, target: &str) -> i64 {
    server
        .db()
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = ?1 AND target = ?2",
            [action, target],
            |r| r.get(0),
        )
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brute_force_login_is_slowed_then_locked() {
    // A long first delay, so that "slowed" holds without sleeping in the test.
    let server = TestServer::start_with(|c| c.login_delay_base_ms = 60_000).await;
    let url = &server.url;
    for i in 0..5 {
        let a = login(url, "grid01", &format!("guess-{i}")).await;
        assert_eq!((a.status, a.code()), (401, "bad_credentials"), "try {i}");
    }
    // After 5 failures the next try must wait, even with the right password.
    let a = login(url, "grid01", &server.password("grid01")).await;
    assert_eq!((a.status, a.code()), (429, "login_throttled"));
    let wait = a.retry_after.expect("Retry-After");
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(a.body["message_zh"].as_str().unwrap().contains("秒后再试"));
    assert!(!a.body["message"].as_str().unwrap().is_empty());
    // Another account is not slowed by it.
    assert_eq!(login(url, "grid02", &server.password("grid02")).await.status, 200);
    server.stop().await;

    // No delay, lock at 10 failures for 15 minutes.
    let server = TestServer::start_with(|c| c.login_delay_base_ms = 0).await;
    let url = &server.url;
    for i in 0..10 {
        let a = login(url, "grid03", &format!("guess-{i}")).await;
        assert_eq!((a.status, a.code()), (401, "bad_credentials"), "try {i}");
    }
    let a = login(url, "grid03", &server.password("grid03")).await;
    assert_eq!((a.status, a.code()), (429, "login_locked"));
    let wait = a.retry_after.expect("Retry-After");
    assert!((890..=900).contains(&wait), "{wait}");
    assert_eq!(
        audit_count(&server, "login.locked", "username:grid03"),
        1,
        "the lock is audited"
    );
    // Unknown user names are counted the same way (no hint which names exist).
    for _ in 0..10 {
        assert_eq!(login(url, "nobody-here", "x-guess-x").await.code(), "bad_credentials");
    }
    assert_eq!(login(url, "nobody-here", "x-guess-x").await.code(), "login_locked");
    server.stop().await;

    // Per address: one address trying many accounts is locked (limits × factor).
    let server = TestServer::start_with(|c| {
        c.login_delay_base_ms = 0;
        c.login_lock_after = 3;
        c.login_address_factor = 2;
    })
    .await;
    let url = &server.url;
    for i in 0..6 {
        assert_eq!(
            login(url, &format!("user{i}"), "x-guess-x").await.code(),
            "bad_credentials"
        );
    }
    let a = login(url, "grid04", &server.password("grid04")).await;
    assert_eq!(
        (a.status, a.code()),
        (429, "login_locked"),
        "the address is locked, whatever account it tries"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_policy_refuses_weak_passwords() {
    let server = TestServer::start().await;
    let url = &server.url;
    let old = server.password("community1");
    let token = login(url, "community1", &old).await.body["token"]
        .as_str()
        .unwrap()
        .to_string();
    let change = |new: &str| serde_json::json!({"old_password": old, "new_password": new});
    for (weak, code) in [
        ("short-1", "password_too_short"),
        ("Community1!", "password_is_username"),
        ("password123", "password_too_common"),
        ("woaini1314", "password_too_common"),
    ] {
        let a = post_json(url, "/v1/password", Some(&token), change(weak)).await;
        assert_eq!((a.status, a.code()), (422, code), "{weak}");
        assert!(!a.body["message_zh"].as_str().unwrap().is_empty());
    }
    let wrong_old = serde_json::json!({"old_password": "not-it-at-all", "new_password": "巡查走访-安全-2026"});
    assert_eq!(
        post_json(url, "/v1/password", Some(&token), wrong_old).await.code(),
        "bad_credentials"
    );
    // The device that changed it stays signed in with a new pair (issue 24).
    assert_eq!(
        post_json(url, "/v1/password", Some(&token), change("巡查走访-安全-2026"))
            .await
            .status,
        200
    );
    assert_eq!(login(url, "community1", &old).await.code(), "bad_credentials");
    assert_eq!(login(url, "community1", "巡查走访-安全-2026").await.status, 200);
    assert_eq!(audit_count(&server, "account.password_change", "account:community1"), 1);
    // The demo accounts were created through the policy, and audited.
    assert_eq!(audit_count(&server, "account.create", "account:grid01"), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_access_token_is_refreshed_by_the_client() {
    let server = TestServer::start().await;
    let grid = server.plan.grids[0].clone();
    let mut p = Phone::login(&server.url, "grid01", &server.password("grid01"), fast_client()).await;
    let first_access = p.client.token().unwrap();
    let first_refresh = p.client.refresh_token().expect("a refresh token");
    assert!(p.info.expires_at.timestamp_millis() - chrono::Utc::now().timestamp_millis() <= 3_600_000);
    // The access token runs out (moved into the past on the server).
    raw_db(&server)
        .execute(
            "UPDATE tokens SET expires_at = 0 WHERE hash = ?1",
            [gridbook_sync_server::auth::token_hash(&first_access)],
        )
        .unwrap();
    assert_eq!(
        post_sync(&server.url, &first_access, &request(vec![])).await.code(),
        "token_expired"
    );
    // The client refreshes transparently and the sync goes through.
    p.sync().await;
    p.store.create(&household(&grid, "501")).unwrap();
    let summary = p.client.sync(&mut p.store).await.expect("sync");
    assert_eq!(summary.sent, 1);
    raw_db(&server)
        .execute(
            "UPDATE tokens SET expires_at = 0 WHERE hash = ?1",
            [gridbook_sync_server::auth::token_hash(&p.client.token().unwrap())],
        )
        .unwrap();
    p.store.create(&household(&grid, "502")).unwrap();
    let summary = p.client.sync(&mut p.store).await.expect("sync after refresh");
    assert_eq!(summary.sent, 1);
    let (access, refresh) = (p.client.token().unwrap(), p.client.refresh_token().unwrap());
    assert_ne!(access, first_access);
    assert_ne!(refresh, first_refresh, "refresh tokens rotate");
    // A refresh token works once.
    let again = post_json(
        &server.url,
        "/v1/refresh",
        None,
        serde_json::json!({"refresh_token": first_refresh}),
    )
    .await;
    assert_eq!((again.status, again.code()), (401, "refresh_token_invalid"));
    let garbage = post_json(
        &server.url,
        "/v1/refresh",
        None,
        serde_json::json!({"refresh_token": "x"}),
    )
    .await;
    assert_eq!(garbage.code(), "refresh_token_invalid");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_is_wiped_at_its_next_sync() {
    let server = TestServer::start().await;
    let grid = server.plan.grids[0].clone();
    let mut p = Phone::login(&server.url, "grid01", &server.password("grid01"), fast_client()).await;
    p.sync().await;
    p.store.create(&household(&grid, "601")).unwrap();
    p.sync().await;
    let device = p.store.device_id();
    let admin = login(&server.url, "admin", &server.password("admin")).await;
    let admin_token = admin.body["token"].as_str().unwrap();
    let r = post_json(
        &server.url,
        &format!("/v1/devices/{device}/revoke"),
        Some(admin_token),
        serde_json::Value::Null,
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(audit_count(&server, "device.revoke", &format!("device:{device}")), 1);

    // Unsynced work on the lost phone; then it reaches the server.
    p.store.create(&household(&grid, "602")).unwrap();
    let hash = p.store.outbox(1).unwrap()[0].hash.clone();
    let refresh = p.client.refresh_token().unwrap();
    let e = p.client.sync(&mut p.store).await.unwrap_err();
    assert_eq!(e.code(), "device_wiped", "{e}");
    assert_eq!(server.log_count(&hash), 0, "its push was refused");
    // The store file is gone: only the marker is left, nothing readable.
    let bytes = std::fs::read(&p.path).unwrap();
    assert_eq!(bytes, WIPED_MARKER);
    for side in ["-wal", "-shm"] {
        let mut s = p.path.as_os_str().to_owned();
        s.push(side);
        assert!(!std::path::Path::new(&s).exists(), "{side} deleted");
    }
    assert!(p.store.outbox_len().is_err(), "the wiped store answers nothing");
    let e = Store::open(&p.path, p.info.identity()).unwrap_err();
    assert_eq!(e.code(), "store_wiped");
    // Its refresh token is dead too.
    let r = post_json(
        &server.url,
        "/v1/refresh",
        None,
        serde_json::json!({"refresh_token": refresh}),
    )
    .await;
    assert_eq!((r.status, r.code()), (401, "device_revoked"));
    assert_eq!(p.client.token(), None, "the client forgot its tokens");
    server.stop().await;
}
