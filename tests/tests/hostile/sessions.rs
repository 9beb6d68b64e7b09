//! Hostile corpus, sessions and forged requests (issue 24): replaying tokens after a logout, a
//! password change and an admin's reset; a dashboard cookie as a bearer token; cross-site
//! dashboard writes and a login CSRF; a non-JSON body to a JSON endpoint. Each gets its typed
//! answer and writes nothing; the run prints, per input, the status and code received.

use gridbook_sync_server::admin::accounts::{self, HashCost};
use gridbook_tests::{TestServer, post_sync, request, web};
use serde_json::{Value, json};

async fn post_json(url: &str, token: Option<&str>, body: Value) -> (u16, String) {
    let mut r = reqwest::Client::new().post(url).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.expect("send");
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    (status, v["code"].as_str().unwrap_or("").to_string())
}

async fn login(url: &str, username: &str, password: &str) -> (String, String) {
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/login"))
        .json(&json!({"username": username, "password": password, "device_id": uuid::Uuid::new_v4()}))
        .send()
        .await
        .expect("login");
    let v: Value = r.json().await.expect("login answer");
    (
        v["token"].as_str().expect("token").to_string(),
        v["refresh_token"].as_str().expect("refresh").to_string(),
    )
}

/// A raw POST with headers: status and the `code` of the body (JSON, or an error page's
/// `data-code`), and whether a session cookie was set.
async fn post_raw(url: &str, headers: &[(&str, &str)], body: &str) -> (u16, String, bool) {
    let mut r = web::http().post(url).body(body.to_string());
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = r.send().await.expect("POST");
    let status = resp.status().as_u16();
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap_or("").starts_with("gb_session="));
    let text = resp.text().await.unwrap_or_default();
    let code = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_string))
        .or_else(|| {
            text.split("data-code=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .map(str::to_string)
        })
        .unwrap_or_default();
    (status, code, cookie)
}

fn footprint(server: &TestServer) -> Vec<i64> {
    ["accounts", "devices", "audit_log"]
        .iter()
        .map(|t| {
            server
                .db()
                .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                .expect("count")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_sessions_and_forged_dashboard_requests_get_typed_refusals() {
    let server = TestServer::start().await;
    let url = server.url.clone();
    let mut results: Vec<(String, String, bool)> = Vec::new();
    let mut record = |name: &str, got: (u16, String), want: (u16, &str)| {
        let ok = got.0 == want.0 && got.1 == want.1;
        results.push((name.to_string(), format!("{} {}", got.0, got.1), ok));
    };

    // 1. A refresh token replayed after its device logged out.
    let (access, refresh) = login(&url, "grid01", &server.password("grid01")).await;
    post_json(&format!("{url}/v1/logout"), Some(&access), json!({})).await;
    record(
        "refresh after logout",
        post_json(&format!("{url}/v1/refresh"), None, json!({"refresh_token": refresh})).await,
        (401, "token_revoked"),
    );

    // 2. Another phone's tokens replayed after the password was changed elsewhere.
    let old = server.password("grid02");
    let (stolen_access, stolen_refresh) = login(&url, "grid02", &old).await;
    let (mine, _) = login(&url, "grid02", &old).await;
    let (status, _) = post_json(
        &format!("{url}/v1/password"),
        Some(&mine),
        json!({"old_password": old, "new_password": "巡查走访-敌意-2026"}),
    )
    .await;
    assert_eq!(status, 200, "the password change itself");
    record(
        "refresh after a password change",
        post_json(
            &format!("{url}/v1/refresh"),
            None,
            json!({"refresh_token": stolen_refresh}),
        )
        .await,
        (401, "token_revoked"),
    );
    let r = post_sync(&url, &stolen_access, &request(vec![])).await;
    record(
        "sync after a password change",
        (r.status, r.code().to_string()),
        (401, "token_revoked"),
    );

    // 3. After an admin's password reset (the CLI's library call).
    let (_, refresh) = login(&url, "grid03", &server.password("grid03")).await;
    let storage = server.state.storage.clone();
    let cost = HashCost {
        memory_kib: 256,
        iterations: 1,
    };
    tokio::task::spawn_blocking(move || accounts::reset_password(storage.as_ref(), "grid03", cost, "admin"))
        .await
        .unwrap()
        .expect("reset");
    record(
        "refresh after an admin reset",
        post_json(&format!("{url}/v1/refresh"), None, json!({"refresh_token": refresh})).await,
        (401, "token_revoked"),
    );

    // 4. The dashboard cookie's value as a bearer token.
    let admin = web::login(&url, "admin", &server.password("admin")).await;
    let value = admin.trim_start_matches("gb_session=");
    let r = post_sync(&url, value, &request(vec![])).await;
    record(
        "dashboard cookie as a /v1 bearer",
        (r.status, r.code().to_string()),
        (401, "web_session_token"),
    );

    // 5. Forged dashboard requests: nothing may be written.
    let before = footprint(&server);
    let form = "application/x-www-form-urlencoded";
    let create = format!(
        "username=forged_admin&display_name=X&role=district_admin&org_node={}",
        server.plan.district
    );
    let (s, c, _) = post_raw(
        &format!("{url}/review/admin/accounts"),
        &[
            ("cookie", &admin),
            ("content-type", form),
            ("origin", "https://evil.example"),
        ],
        &create,
    )
    .await;
    record(
        "admin account create, foreign Origin",
        (s, c),
        (403, "cross_site_request"),
    );
    let (s, c, _) = post_raw(
        &format!("{url}/review/admin/accounts"),
        &[
            ("cookie", &admin),
            ("content-type", form),
            ("sec-fetch-site", "cross-site"),
        ],
        &create,
    )
    .await;
    record(
        "admin account create, Sec-Fetch-Site cross-site",
        (s, c),
        (403, "cross_site_request"),
    );
    let (s, c, cookie) = post_raw(
        &format!("{url}/review/login"),
        &[("content-type", form), ("origin", "https://evil.example")],
        &format!("username=community1&password={}", server.password("community1")),
    )
    .await;
    record("login CSRF", (s, c), (403, "cross_site_request"));
    assert!(!cookie, "no session cookie for a forged login");
    let person: String = server
        .db()
        .query_row("SELECT id FROM persons LIMIT 1", [], |r| r.get(0))
        .expect("a person");
    let (s, c, _) = post_raw(
        &format!("{url}/review/api/persons/{person}/reveal"),
        &[("cookie", &admin), ("content-type", "text/plain")],
        r#"{"field":"phone","reason":"x"}"#,
    )
    .await;
    record("reveal as text/plain", (s, c), (415, "unsupported_media_type"));
    assert_eq!(footprint(&server), before, "the forged requests wrote nothing");

    for (name, got, ok) in &results {
        println!("{} {name}: {got}", if *ok { "ok  " } else { "FAIL" });
    }
    assert!(results.iter().all(|r| r.2), "every input gets its typed answer");
    let mut phone = gridbook_tests::Phone::login(
        &url,
        "grid04",
        &server.password("grid04"),
        gridbook_tests::fast_client(),
    )
    .await;
    phone.sync().await;
    assert_eq!(server.integrity(), "ok");
    server.stop().await;
}
