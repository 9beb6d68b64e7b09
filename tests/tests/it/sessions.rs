//! Sessions that end (issue 24): after a logout the device's refresh tokens are refused; after a
//! password change or an admin's password reset every access and refresh token of the account
//! and every dashboard session is; disabling an account and revoking a device still block
//! refreshes; a dashboard cookie is never a `/v1` bearer token. Real server, real HTTP.

use gridbook_sync_server::admin::accounts::{self, HashCost};
use gridbook_tests::{TestServer, post_sync, request, web};
use serde_json::{Value, json};
use uuid::Uuid;

/// Status and JSON body of an answer.
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

async fn post_json(url: &str, path: &str, token: Option<&str>, body: Value) -> Answer {
    let mut r = reqwest::Client::new().post(format!("{url}{path}")).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.expect("send");
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.expect("body");
    Answer {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// A phone's login: (access token, refresh token).
async fn login(url: &str, username: &str, password: &str) -> (String, String) {
    let a = post_json(
        url,
        "/v1/login",
        None,
        json!({"username": username, "password": password, "device_id": Uuid::new_v4()}),
    )
    .await;
    assert_eq!(a.status, 200, "{username} logs in: {}", a.body);
    (
        a.body["token"].as_str().expect("token").to_string(),
        a.body["refresh_token"].as_str().expect("refresh token").to_string(),
    )
}

async fn refresh(url: &str, refresh_token: &str) -> Answer {
    post_json(url, "/v1/refresh", None, json!({"refresh_token": refresh_token})).await
}

/// Status and code of an empty sync with `token`.
async fn sync(url: &str, token: &str) -> (u16, String) {
    let r = post_sync(url, token, &request(vec![])).await;
    (r.status, r.code().to_string())
}

/// What a dashboard page answers with `cookie`: the status, and for a redirect its target.
async fn page(url: &str, cookie: &str) -> (u16, String) {
    let r = web::http()
        .get(format!("{url}/review/ledgers"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("GET");
    let to = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (r.status().as_u16(), to)
}

fn cost() -> HashCost {
    HashCost {
        memory_kib: 256,
        iterations: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_logout_the_devices_refresh_tokens_are_refused() {
    let server = TestServer::start().await;
    let url = &server.url;
    let pw = server.password("grid01");
    let (access, refresh_token) = login(url, "grid01", &pw).await;
    let (other_access, other_refresh) = login(url, "grid01", &pw).await;
    assert_eq!(sync(url, &access).await.0, 200);

    let out = post_json(url, "/v1/logout", Some(&access), json!({})).await;
    assert_eq!(out.status, 204);
    let r = refresh(url, &refresh_token).await;
    assert_eq!((r.status, r.code()), (401, "token_revoked"), "{}", r.body);
    assert!(!r.body["message_zh"].as_str().unwrap_or("").is_empty());
    assert_eq!(sync(url, &access).await, (401, "token_revoked".into()));

    // The account's other phone is not logged out.
    assert_eq!(sync(url, &other_access).await.0, 200);
    let r = refresh(url, &other_refresh).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let renewed = r.body["token"].as_str().unwrap().to_string();
    assert_eq!(sync(url, &renewed).await.0, 200);
    // A refresh token works once: the used one is refused with its own code.
    assert_eq!(refresh(url, &other_refresh).await.code(), "refresh_token_invalid");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_ends_every_session_of_the_account_but_the_changing_device() {
    let server = TestServer::start().await;
    let url = &server.url;
    let old = server.password("community1");
    let (a_access, a_refresh) = login(url, "community1", &old).await;
    let (b_access, b_refresh) = login(url, "community1", &old).await;
    let cookie = web::login(url, "community1", &old).await;
    assert_eq!(page(url, &cookie).await.0, 200, "the dashboard session works");
    // Another account, untouched by the change.
    let (c_access, c_refresh) = login(url, "community2", &server.password("community2")).await;

    let new = "巡查走访-会话-2026";
    let changed = post_json(
        url,
        "/v1/password",
        Some(&a_access),
        json!({"old_password": old, "new_password": new}),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let fresh_access = changed.body["token"].as_str().expect("a new access token").to_string();
    let fresh_refresh = changed.body["refresh_token"]
        .as_str()
        .expect("a new refresh token")
        .to_string();

    // Every old token of the account, of both phones, is refused with its code.
    for (name, token) in [("A", &a_access), ("B", &b_access)] {
        assert_eq!(sync(url, token).await, (401, "token_revoked".into()), "phone {name}");
    }
    for (name, token) in [("A", &a_refresh), ("B", &b_refresh)] {
        let r = refresh(url, token).await;
        assert_eq!((r.status, r.code()), (401, "token_revoked"), "phone {name}: {}", r.body);
    }
    // The dashboard session is over: pages go to the login page, the API says why.
    assert_eq!(page(url, &cookie).await, (303, "/review/login".into()));
    let (status, body) = web::get(&format!("{url}/review/api/ledgers"), &cookie).await;
    assert_eq!(status, 401);
    assert!(body.contains("token_revoked"), "{body}");

    // The device that made the change stays signed in with its new pair.
    assert_eq!(sync(url, &fresh_access).await.0, 200);
    let r = refresh(url, &fresh_refresh).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Someone else's sessions go on.
    assert_eq!(sync(url, &c_access).await.0, 200);
    assert_eq!(refresh(url, &c_refresh).await.status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_password_reset_ends_every_session_of_the_account() {
    let server = TestServer::start().await;
    let url = &server.url;
    let storage = server.state.storage.clone();

    // From the shell: `gridbook-server admin password-reset` calls this library function.
    let pw = server.password("community1");
    let (access, refresh_token) = login(url, "community1", &pw).await;
    let cookie = web::login(url, "community1", &pw).await;
    let s = storage.clone();
    tokio::task::spawn_blocking(move || accounts::reset_password(s.as_ref(), "community1", cost(), "cli"))
        .await
        .unwrap()
        .expect("reset");
    assert_eq!(sync(url, &access).await, (401, "token_revoked".into()));
    let r = refresh(url, &refresh_token).await;
    assert_eq!((r.status, r.code()), (401, "token_revoked"), "{}", r.body);
    assert_eq!(page(url, &cookie).await, (303, "/review/login".into()));

    // From the admin page.
    let pw = server.password("community2");
    let (access, refresh_token) = login(url, "community2", &pw).await;
    let cookie = web::login(url, "community2", &pw).await;
    let admin = web::login(url, "admin", &server.password("admin")).await;
    let (status, body) = web::post(
        &format!("{url}/review/admin/accounts/community2/password"),
        &admin,
        "application/x-www-form-urlencoded",
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("密码已重置"), "{body}");
    assert_eq!(sync(url, &access).await, (401, "token_revoked".into()));
    let r = refresh(url, &refresh_token).await;
    assert_eq!((r.status, r.code()), (401, "token_revoked"), "{}", r.body);
    assert_eq!(page(url, &cookie).await, (303, "/review/login".into()));
    // The admin's own session goes on.
    assert_eq!(page(url, &admin).await.0, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_the_account_and_revoking_the_device_still_block_refresh() {
    let server = TestServer::start().await;
    let url = &server.url;
    let storage = server.state.storage.clone();
    let (_, refresh_token) = login(url, "grid02", &server.password("grid02")).await;
    let s = storage.clone();
    tokio::task::spawn_blocking(move || accounts::set_disabled(s.as_ref(), "grid02", true, "admin"))
        .await
        .unwrap()
        .expect("disable");
    let r = refresh(url, &refresh_token).await;
    assert_eq!((r.status, r.code()), (403, "account_disabled"), "{}", r.body);

    let (access, refresh_token) = login(url, "grid03", &server.password("grid03")).await;
    let device = post_sync(url, &access, &request(vec![])).await;
    assert_eq!(device.status, 200);
    let me = post_json(url, "/v1/logout", None, json!({})).await;
    assert_eq!(me.status, 401, "logout needs a token");
    let devices = storage.devices().unwrap();
    let id = devices
        .iter()
        .find(|d| d.device.account_id == "grid03")
        .expect("grid03's device")
        .device
        .id;
    let revoked = post_json(url, &format!("/v1/devices/{id}/revoke"), Some(&access), json!({})).await;
    assert_eq!(revoked.status, 204);
    let r = refresh(url, &refresh_token).await;
    assert_eq!((r.status, r.code()), (401, "device_revoked"), "{}", r.body);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_cookie_is_not_a_v1_bearer_token() {
    let server = TestServer::start().await;
    let url = &server.url;
    let pw = server.password("community1");
    let cookie = web::login(url, "community1", &pw).await;
    let value = cookie.strip_prefix("gb_session=").expect("cookie value").to_string();
    assert_eq!(sync(url, &value).await, (401, "web_session_token".into()));
    let out = post_json(url, "/v1/logout", Some(&value), json!({})).await;
    assert_eq!((out.status, out.code()), (401, "web_session_token"));
    let change = post_json(
        url,
        "/v1/password",
        Some(&value),
        json!({"old_password": pw, "new_password": "巡查走访-会话-2026"}),
    )
    .await;
    assert_eq!((change.status, change.code()), (401, "web_session_token"));
    // Nothing happened: the password is unchanged and the dashboard session still works.
    let log_in = post_json(
        url,
        "/v1/login",
        None,
        json!({"username": "community1", "password": pw, "device_id": Uuid::new_v4()}),
    )
    .await;
    assert_eq!(log_in.status, 200);
    assert_eq!(page(url, &cookie).await.0, 200);
    // A phone token of the same account syncs (the refusal is the cookie's, not the account's).
    let phone = log_in.body["token"].as_str().unwrap();
    assert_eq!(sync(url, phone).await.0, 200);
    server.stop().await;
}
