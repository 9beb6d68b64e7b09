//! Requests that cannot be forged and a hardened server (issue 24): cross-site dashboard writes
//! and non-JSON bodies to JSON endpoints are refused with typed codes and write nothing; the
//! session cookie is `Secure` under TLS; security headers on every dashboard response; slow
//! and idle connections are closed; bad bodies are explained in the request's terms; a
//! non-admin cannot tell an admin route by its form errors.

use std::time::{Duration, Instant};

use gridbook_tests::{TestServer, post_sync_raw, web};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn count(server: &TestServer, sql: &str) -> i64 {
    server.db().query_row(sql, [], |r| r.get(0)).expect("count")
}

/// Rows that a forged request could write: accounts, devices, tokens, audit entries.
fn footprint(server: &TestServer) -> [i64; 4] {
    [
        count(server, "SELECT count(*) FROM accounts"),
        count(server, "SELECT count(*) FROM devices"),
        count(server, "SELECT count(*) FROM tokens"),
        count(server, "SELECT count(*) FROM audit_log"),
    ]
}

/// POST with extra headers: status, body and the `Set-Cookie` headers.
async fn post(
    url: &str,
    cookie: Option<&str>,
    content_type: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, Vec<String>) {
    let mut r = web::http().post(url).body(body.to_string());
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    if let Some(t) = content_type {
        r = r.header("content-type", t);
    }
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = r.send().await.expect("POST");
    let status = resp.status().as_u16();
    let cookies = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    (status, resp.text().await.expect("body"), cookies)
}

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_dashboard_writes_are_refused_and_write_nothing() {
    let server = TestServer::start().await;
    let url = &server.url;
    let admin = web::login(url, "admin", &server.password("admin")).await;
    let create = |name: &str| {
        format!(
            "username={name}&display_name=X&role=district_admin&org_node={}",
            server.plan.district
        )
    };
    let before = footprint(&server);
    let forged: [&[(&str, &str)]; 4] = [
        &[("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")],
        &[("origin", "https://evil.example")],
        &[("sec-fetch-site", "cross-site")],
        &[("origin", "null")],
    ];
    for headers in forged {
        let (status, body, _) = post(
            &format!("{url}/review/admin/accounts"),
            Some(&admin),
            Some(FORM),
            headers,
            &create("evil_admin"),
        )
        .await;
        assert_eq!(status, 403, "{headers:?}: {body}");
        assert!(body.contains("cross_site_request"), "{body}");
        // Login CSRF: no session is made for the attacker's account.
        let (status, body, cookies) = post(
            &format!("{url}/review/login"),
            None,
            Some(FORM),
            headers,
            &format!("username=community1&password={}", server.password("community1")),
        )
        .await;
        assert_eq!(status, 403, "{headers:?}: {body}");
        assert!(cookies.iter().all(|c| !c.starts_with("gb_session=")), "{cookies:?}");
        // A JSON endpoint answers JSON.
        let person: String = server
            .db()
            .query_row("SELECT id FROM persons LIMIT 1", [], |r| r.get(0))
            .unwrap();
        let (status, body, _) = post(
            &format!("{url}/review/api/persons/{person}/reveal"),
            Some(&admin),
            Some("application/json"),
            headers,
            r#"{"field":"phone","reason":"核实"}"#,
        )
        .await;
        assert_eq!(status, 403);
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON error");
        assert_eq!(v["code"], "cross_site_request");
        assert!(!v["message_zh"].as_str().unwrap_or("").is_empty());
    }
    assert_eq!(footprint(&server), before, "nothing was written");

    // The dashboard's own pages and non-browser clients still work (so the test can fail).
    let own: [&[(&str, &str)]; 3] = [
        &[("origin", url.as_str()), ("sec-fetch-site", "same-origin")],
        &[("sec-fetch-site", "same-origin")],
        &[],
    ];
    for (i, headers) in own.into_iter().enumerate() {
        let (status, body, _) = post(
            &format!("{url}/review/admin/accounts"),
            Some(&admin),
            Some(FORM),
            headers,
            &create(&format!("new_admin{i}")),
        )
        .await;
        assert_eq!(status, 200, "{headers:?}: {body}");
        assert!(body.contains("账号已创建"), "{body}");
    }
    assert_eq!(count(&server, "SELECT count(*) FROM accounts"), before[0] + 3);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_endpoints_refuse_other_content_types_and_write_nothing() {
    let server = TestServer::start().await;
    let url = &server.url;
    let admin = web::login(url, "admin", &server.password("admin")).await;
    let person: String = server
        .db()
        .query_row(
            "SELECT id FROM persons WHERE phone_masked IS NOT NULL AND phone_masked != '' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let reveal = format!("{url}/review/api/persons/{person}/reveal");
    let body = r#"{"field":"phone","reason":"核实"}"#;
    let before = footprint(&server);
    for ct in [
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some(FORM),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let (status, text, _) = post(&reveal, Some(&admin), ct, &[], body).await;
        assert_eq!(status, 415, "{ct:?}: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON error");
        assert_eq!(v["code"], "unsupported_media_type", "{ct:?}");
        assert!(!v["message_zh"].as_str().unwrap_or("").is_empty());
        assert!(
            !text.contains("1380") && !text.contains("\"value\""),
            "no phone: {text}"
        );
    }
    // The other JSON write endpoints too.
    for path in ["/review/api/admin/templates", "/review/api/admin/rules/calendar"] {
        let (status, text, _) = post(&format!("{url}{path}"), Some(&admin), Some("text/plain"), &[], "{}").await;
        assert_eq!(status, 415, "{path}: {text}");
    }
    assert_eq!(
        footprint(&server),
        before,
        "nothing was written, not even an audit entry"
    );
    // JSON goes through and is audited (so the test can fail).
    let (status, text, _) = post(
        &reveal,
        Some(&admin),
        Some("application/json; charset=utf-8"),
        &[],
        body,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(count(&server, "SELECT count(*) FROM audit_log"), before[3] + 1);
    server.stop().await;
}

fn make_certs(dir: &std::path::Path) -> Vec<u8> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "gridbook test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("server key");
    let params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("params");
    let cert = params.signed_by(&key, &issuer).expect("server cert");
    std::fs::write(dir.join("server.crt"), cert.pem()).expect("write cert");
    std::fs::write(dir.join("server.key"), key.serialize_pem()).expect("write key");
    ca_cert.pem().into_bytes()
}

/// The security headers every dashboard response must carry.
fn assert_security_headers(what: &str, h: &reqwest::header::HeaderMap, tls: bool) {
    let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let csp = get("content-security-policy");
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(part), "{what}: CSP {csp:?} lacks {part}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{what}: {csp}"
    );
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
    assert_eq!(get("referrer-policy"), "same-origin", "{what}");
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    if tls {
        assert!(
            get("strict-transport-security").starts_with("max-age="),
            "{what}: HSTS under TLS"
        );
    } else {
        assert!(
            h.get("strict-transport-security").is_none(),
            "{what}: no HSTS over plain HTTP"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_on_every_dashboard_response_and_no_inline_code() {
    let server = TestServer::start().await;
    let url = &server.url;
    let cookie = web::login(url, "admin", &server.password("admin")).await;
    let paths = [
        "/review/login",
        "/review/ledgers",
        "/review/cases",
        "/review/visits",
        "/review/reports",
        "/review/admin",
        "/review/admin/accounts",
        "/review/api/ledgers",
        "/review/ledgers/not-a-ledger",
        "/review/static/dashboard.css",
        "/review/static/reports.js",
        "/review/nowhere",
    ];
    for p in paths {
        let r = web::http()
            .get(format!("{url}{p}"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_security_headers(p, r.headers(), false);
        let html = r
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/html"));
        let body = r.text().await.unwrap();
        if html {
            // What a `script-src 'self'; style-src 'self'` policy would block.
            assert!(
                !body.contains("<script>") && !body.contains(" style=") && !body.contains("<style"),
                "{p}: inline code"
            );
            assert!(!body.contains(" onclick=") && !body.contains("javascript:"), "{p}");
        }
    }
    // A refused write carries them too.
    let (status, _, _) = post(
        &format!("{url}/review/logout"),
        Some(&cookie),
        Some(FORM),
        &[("origin", "https://evil.example")],
        "",
    )
    .await;
    assert_eq!(status, 403);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_tls_the_cookie_is_secure_and_hsts_is_sent() {
    let certs = tempfile::tempdir().unwrap();
    let ca = make_certs(certs.path());
    let (cert, key) = (certs.path().join("server.crt"), certs.path().join("server.key"));
    let server = TestServer::start_with(|c| {
        c.tls_cert = Some(cert);
        c.tls_key = Some(key);
    })
    .await;
    let url = server.url.replace("127.0.0.1", "localhost");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .post(format!("{url}/review/login"))
        .header("content-type", FORM)
        .header("origin", &url)
        .body(format!(
            "username=community1&password={}",
            server.password("community1")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303, "same-origin login over TLS");
    assert_security_headers("login over TLS", r.headers(), true);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("gb_session="))
        .expect("session cookie")
        .to_string();
    let attrs: Vec<&str> = cookie.split(';').map(str::trim).collect();
    assert!(
        attrs.contains(&"Secure") && attrs.contains(&"HttpOnly") && attrs.contains(&"SameSite=Strict"),
        "{cookie}"
    );
    server.stop().await;

    // Over plain HTTP (the demo) the cookie cannot be Secure, or the browser would drop it.
    let plain = TestServer::start().await;
    let r = web::http()
        .post(format!("{}/review/login", plain.url))
        .header("content-type", FORM)
        .body(format!("username=community1&password={}", plain.password("community1")))
        .send()
        .await
        .unwrap();
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        cookie.starts_with("gb_session=") && !cookie.contains("Secure"),
        "{cookie}"
    );
    plain.stop().await;
}

/// How long until the server closes `stream` (reads until EOF or an error), at most `limit`.
async fn closed_after(stream: &mut tokio::net::TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(start.elapsed()), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_without_a_complete_header_in_time_are_closed() {
    assert_eq!(gridbook_sync_server::Config::default().header_read_timeout_secs, 10);
    let server = TestServer::start_with(|c| c.header_read_timeout_secs = 1).await;
    let addr = server.addr;
    let limit = Duration::from_secs(5);

    // A partial header, never finished.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let t = closed_after(&mut s, limit).await.expect("closed");
    assert!(t >= Duration::from_millis(800), "not before the timeout: {t:?}");

    // A header trickled one line at a time, each before the timeout but never complete.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let start = Instant::now();
    s.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
    let mut closed = false;
    for i in 0..8 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        if s.write_all(format!("X-Slow-{i}: a\r\n").as_bytes()).await.is_err() {
            closed = true;
            break;
        }
    }
    let closed = closed || closed_after(&mut s, Duration::from_millis(500)).await.is_some();
    assert!(closed && start.elapsed() < limit, "a trickled header is cut off too");

    // Nothing at all.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let t = closed_after(&mut s, limit)
        .await
        .expect("a silent connection is closed");
    assert!(t >= Duration::from_millis(800), "{t:?}");

    // Idle keep-alive after a complete request: answered, then closed.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(limit, s.read(&mut buf)).await.unwrap().unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "a complete request is served"
    );
    assert!(
        closed_after(&mut s, limit).await.is_some(),
        "an idle keep-alive connection is closed"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_are_explained_in_the_requests_terms() {
    let server = TestServer::start().await;
    let url = &server.url;
    let internals = ["Error {", "Io(", "Semantic(", "UnexpectedEof", "kind:", "invalid type"];
    let check = |what: &str, status: u16, v: &serde_json::Value, needle: &str| {
        assert_eq!(
            (status, v["code"].as_str().unwrap_or("")),
            (400, "malformed_body"),
            "{what}: {v}"
        );
        let (en, zh) = (
            v["message"].as_str().unwrap_or(""),
            v["message_zh"].as_str().unwrap_or(""),
        );
        for bad in internals {
            assert!(
                !en.contains(bad) && !zh.contains(bad),
                "{what}: library internals in {v}"
            );
        }
        assert!(en.contains(needle), "{what}: {en:?} should say {needle:?}");
        assert!(
            !zh.is_empty() && zh != "请求数据格式错误",
            "{what}: a specific zh-CN message: {zh}"
        );
    };
    let login = |body: &'static str| async move {
        let r = reqwest::Client::new()
            .post(format!("{url}/v1/login"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
    };
    let (s, v) = login(r#"{"username":"grid01","pass"#).await;
    check("truncated JSON", s, &v, "ends too early");
    let (s, v) =
        login(r#"{"username":"grid01","password":7,"device_id":"0192a4a0-0000-7000-8000-000000000001"}"#).await;
    check("wrong-typed field", s, &v, "`password`");
    let (s, v) = login(r#"{"username":"grid01","password":"x","device_id":"not-a-uuid"}"#).await;
    check("not a UUID", s, &v, "`device_id`");
    let (s, v) = login(r#"{"username":"grid01","password":"x"}"#).await;
    check("missing field", s, &v, "`device_id` is missing");
    let (s, v) = login("not json").await;
    check("not JSON", s, &v, "not valid JSON");

    // The sync endpoint's CBOR: truncated, and a field of the wrong type.
    let (token, _) = {
        let r = reqwest::Client::new()
            .post(format!("{url}/v1/login"))
            .json(&serde_json::json!({"username":"grid01","password":server.password("grid01"),"device_id":uuid::Uuid::new_v4()}))
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = r.json().await.unwrap();
        (v["token"].as_str().unwrap().to_string(), ())
    };
    let good = gridbook_core::sync::wire::encode(&gridbook_tests::request(vec![]));
    let r = post_sync_raw(url, Some(&token), good[..good.len() / 2].to_vec(), false).await;
    check("truncated CBOR", r.status, r.error.as_ref().unwrap(), "truncated");
    // The CBOR text "hello" where a message (a map) belongs.
    let r = post_sync_raw(url, Some(&token), vec![0x65, b'h', b'e', b'l', b'l', b'o'], false).await;
    assert_eq!(r.status, 400, "{:?}", r.error);
    let v = r.error.unwrap();
    for bad in internals {
        assert!(
            !v["message"].as_str().unwrap_or("").contains(bad),
            "wrong-typed CBOR: {v}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_admins_post_to_an_admin_route_is_404_before_its_form_is_read() {
    let server = TestServer::start().await;
    let url = &server.url;
    let supervisor = web::login(url, "community1", &server.password("community1")).await;
    let admin = web::login(url, "admin", &server.password("admin")).await;
    let node = &server.plan.communities[1];
    let routes = [
        "/review/admin/accounts".to_string(),
        "/review/admin/accounts/grid01/role".to_string(),
        format!("/review/admin/org/{node}"),
        "/review/admin/org".to_string(),
        "/review/admin/erase".to_string(),
    ];
    let before = footprint(&server);
    for r in &routes {
        let (status, body) = web::post(&format!("{url}{r}"), &supervisor, FORM, "").await;
        assert_eq!(status, 404, "{r}: {body}");
        assert!(
            body.contains("not_found") && !body.contains("invalid_form"),
            "{r}: {body}"
        );
    }
    // For an admin the same empty form is a form error: the route exists (the test can fail).
    let (status, body) = web::post(&format!("{url}/review/admin/accounts"), &admin, FORM, "").await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("invalid_form"), "{body}");
    assert_eq!(footprint(&server), before);
    server.stop().await;
}
