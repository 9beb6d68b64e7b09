//! Community A's supervisor and community B: every page, API and export answers 403 or 404,
//! lists never show B's rows, and other roles cannot use the dashboard at all.

use gridbook_core::demo::DemoOptions;

use super::{Server, http, web_login};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn community_a_never_sees_community_b() {
    let server = Server::start(DemoOptions {
        households: 3,
        days: 5,
        ..DemoOptions::default()
    })
    .await;
    let url = &server.url;
    let plan = &server.plan;
    let (community_b, grid_b) = (plan.communities[1].clone(), plan.grids[3].clone());
    let db = server.db();
    let ledger_b: String = db
        .query_row("SELECT id FROM ledgers WHERE grid_id = ?1 LIMIT 1", [&grid_b], |r| {
            r.get(0)
        })
        .expect("a ledger of B");
    let case_b: String = db
        .query_row("SELECT id FROM cases WHERE grid_id = ?1 LIMIT 1", [&grid_b], |r| {
            r.get(0)
        })
        .expect("a case of B");
    let ledger_a: String = db
        .query_row(
            "SELECT id FROM ledgers WHERE grid_id = ?1 LIMIT 1",
            [&plan.grids[0]],
            |r| r.get(0),
        )
        .expect("a ledger of A");

    let cookie = web_login(url, "community1", "demo-community1").await.expect("login A");
    let c = http();
    let get = |path: String| {
        let c = c.clone();
        let cookie = cookie.clone();
        let url = url.clone();
        async move {
            let r = c
                .get(format!("{url}{path}"))
                .header("cookie", cookie)
                .send()
                .await
                .expect("get");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    let post = |path: String, body: String, json: bool| {
        let c = c.clone();
        let cookie = cookie.clone();
        let url = url.clone();
        async move {
            let ct = if json {
                "application/json"
            } else {
                "application/x-www-form-urlencoded"
            };
            let r = c
                .post(format!("{url}{path}"))
                .header("cookie", cookie)
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .expect("post");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };

    // Sanity: A's own ledger opens.
    assert_eq!(get(format!("/review/ledgers/{ledger_a}")).await.0, 200);

    let pages = [
        format!("/review/ledgers/{ledger_b}"),
        format!("/review/api/ledgers/{ledger_b}"),
        format!("/review/cases/{case_b}"),
        format!("/review/api/cases/{case_b}"),
        format!("/review/ledgers?node={community_b}"),
        format!("/review/api/ledgers?node={community_b}"),
        format!("/review/ledgers?node={grid_b}"),
        "/review/ledgers?worker=grid04".to_string(),
        "/review/api/ledgers?worker=grid04".to_string(),
        format!("/review/cases?node={community_b}"),
        format!("/review/api/cases?node={community_b}"),
        format!("/review/visits?node={community_b}"),
        format!("/review/api/visits?node={grid_b}"),
        format!("/review/reports?node={community_b}"),
        format!("/review/api/reports?node={community_b}"),
        format!("/review/exports/ledgers.xlsx?node={community_b}"),
        "/review/exports/ledgers.csv?worker=grid04".to_string(),
        format!("/review/exports/cases.xlsx?node={grid_b}"),
        format!("/review/exports/cases.csv?node={community_b}"),
        format!("/review/exports/report.xlsx?node={community_b}"),
        format!("/review/exports/report.csv?node={grid_b}"),
    ];
    for p in &pages {
        let (status, body) = get(p.clone()).await;
        assert!(status == 403 || status == 404, "{p}: {status}");
        if p.starts_with("/review/api/") {
            let v: serde_json::Value = serde_json::from_str(&body).expect("typed JSON error");
            assert!(v["code"].is_string() && v["message_zh"].is_string(), "{p}: {body}");
        } else {
            assert!(body.contains("error-page"), "{p}: friendly error page");
        }
    }
    let writes = [
        (
            format!("/review/ledgers/{ledger_b}/review"),
            "action=approve".to_string(),
            false,
        ),
        (
            format!("/review/api/ledgers/{ledger_b}/review"),
            r#"{"action":"return","comment":"x"}"#.to_string(),
            true,
        ),
        (
            format!("/review/cases/{case_b}/action"),
            "action=urge".to_string(),
            false,
        ),
        (
            format!("/review/api/cases/{case_b}/action"),
            r#"{"action":"supervise","params":{"card":"red"}}"#.to_string(),
            true,
        ),
    ];
    let log_before: i64 = db
        .query_row("SELECT count(*) FROM change_log", [], |r| r.get(0))
        .expect("log");
    for (p, body, json) in writes {
        let (status, _) = post(p.clone(), body, json).await;
        assert!(status == 403 || status == 404, "{p}: {status}");
    }
    let log_after: i64 = db
        .query_row("SELECT count(*) FROM change_log", [], |r| r.get(0))
        .expect("log");
    assert_eq!(log_before, log_after, "nothing of B was written");

    // Lists and exports without a filter hold only A's grids.
    let a_grids: Vec<&String> = plan.grids[..3].iter().collect();
    let (status, body) = get("/review/api/ledgers".into()).await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert!(v["total"].as_u64().unwrap_or(0) > 0);
    for r in v["rows"].as_array().expect("rows") {
        assert!(a_grids.iter().any(|g| r["grid_id"] == g.as_str()), "only A's ledgers");
    }
    let (_, csv) = get("/review/exports/ledgers.csv".into()).await;
    assert!(csv.starts_with('\u{feff}'), "CSV has a BOM");
    assert!(!csv.contains("和平社区"), "no B grid in A's export");
    let (_, body) = get("/review/api/reports".into()).await;
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert!(v["grids"].as_array().expect("grids").len() == 3);

    // Bad input: typed errors, never a panic.
    for (p, code) in [
        ("/review/api/ledgers?from=2026-13-01", "invalid_date"),
        ("/review/api/ledgers?sort=password", "invalid_sort"),
        ("/review/api/ledgers?page=0", "invalid_page"),
        ("/review/api/cases?level=purple", "invalid_level"),
        ("/review/api/reports?period=decade", "invalid_period"),
        ("/review/api/ledgers/not-a-ledger", "not_found"),
        ("/review/api/ledgers?page=1&page=2", "invalid_query"),
    ] {
        let (status, body) = get(p.to_string()).await;
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["code"], code, "{p}: {status} {body}");
    }
    let (status, body) = post(format!("/review/api/ledgers/{ledger_a}/review"), "{".into(), true).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = post(
        format!("/review/api/ledgers/{ledger_a}/review"),
        r#"{"action":"return"}"#.into(),
        true,
    )
    .await;
    assert_eq!(status, 422, "a return needs a comment");
    let (status, body) = post(format!("/review/ledgers/{ledger_a}/review"), "comment=x".into(), false).await;
    assert_eq!(status, 422, "a form without its action");
    assert!(body.contains("error-page") && body.contains("invalid_form"), "{body}");
    let (status, body) = get("/review/cases?page=x&page=y".into()).await;
    assert_eq!(status, 422);
    assert!(body.contains("error-page"), "{body}");
    // Unmasked exports need the permission.
    assert_eq!(get("/review/exports/ledgers.xlsx?unmasked=1".into()).await.0, 403);

    // Other roles and strangers.
    assert_eq!(web_login(url, "grid01", "demo-grid01").await, Err(403));
    assert_eq!(web_login(url, "dept1", "demo-dept1").await, Err(403));
    assert_eq!(web_login(url, "community1", "wrong").await, Err(401));
    let r = http()
        .get(format!("{url}/review/api/ledgers"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 401);
    let r = http().get(format!("{url}/review/ledgers")).send().await.expect("get");
    assert_eq!(r.status().as_u16(), 303, "pages send strangers to the login");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_exports_run_as_jobs_with_progress() {
    let server = Server::start(DemoOptions {
        households: 3,
        days: 5,
        ..DemoOptions::default()
    })
    .await;
    gridbook_sync_server::review::exports::set_sync_limit(&server.data_dir(), 5);
    let url = &server.url;
    let cookie = web_login(url, "community1", "demo-community1").await.expect("login");
    let c = http();
    let r = c
        .get(format!("{url}/review/exports/ledgers.xlsx"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("export");
    assert_eq!(r.status().as_u16(), 303, "a job");
    let job = r.headers()["location"].to_str().expect("location").to_string();
    assert!(job.starts_with("/review/exports/jobs/"));
    let id = job.rsplit('/').next().expect("id").to_string();
    // Another supervisor cannot see it.
    let other = web_login(url, "community2", "demo-community2").await.expect("login B");
    let r = c
        .get(format!("{url}/review/api/exports/jobs/{id}"))
        .header("cookie", &other)
        .send()
        .await
        .expect("job");
    assert_eq!(r.status().as_u16(), 404);
    let mut file = None;
    for _ in 0..100 {
        let r = c
            .get(format!("{url}/review/api/exports/jobs/{id}"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("job");
        let v: serde_json::Value = r.json().await.expect("json");
        if v["finished"] == true {
            assert!(v["error"].is_null(), "{v}");
            assert_eq!(v["done"], v["total"]);
            file = v["file"].as_str().map(str::to_string);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let file = file.expect("job finished");
    assert_eq!(
        c.get(format!("{url}{job}"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("page")
            .status()
            .as_u16(),
        200
    );
    let bytes = c
        .get(format!("{url}{file}"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("file")
        .bytes()
        .await
        .expect("bytes");
    assert!(bytes.starts_with(b"PK"), "an XLSX (zip) file");

    // Unmasked: only with the permission (district admin) and a reason, and audited.
    let admin = web_login(url, "admin", "demo-admin").await.expect("admin login");
    let r = c
        .get(format!("{url}/review/exports/report.csv?unmasked=1"))
        .header("cookie", &admin)
        .send()
        .await
        .expect("export");
    assert_eq!(r.status().as_u16(), 400, "no reason, no unmasked export");
    let r = c
        .get(format!(
            "{url}/review/exports/report.csv?unmasked=1&reason=%E7%A8%BD%E6%A0%B8"
        ))
        .header("cookie", &admin)
        .send()
        .await
        .expect("export");
    assert_eq!(r.status().as_u16(), 200);
    let db = rusqlite::Connection::open_with_flags(
        server.data_dir().join("gridbook.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("db");
    let detail: String = db
        .query_row(
            "SELECT detail FROM audit_log WHERE action = 'export' AND actor = 'admin' ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("an audit entry of the unmasked export");
    assert!(
        detail.contains("\"unmasked\":true") && detail.contains("稽核"),
        "{detail}"
    );
}
