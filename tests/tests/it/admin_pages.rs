//! The admin pages (issue 11) over real HTTP: district admins only; accounts, devices, the
//! residents import report as JSON, template publishing, an online backup from the page.

use gridbook_tests::web::{get, login as web_login, post};
use gridbook_tests::{Phone, TestServer, fast_client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_pages_work_for_the_district_admin_only() {
    let server = TestServer::start().await;
    let url = &server.url;
    let supervisor = web_login(url, "community1", &server.password("community1")).await;
    assert_eq!(get(&format!("{url}/review/admin"), &supervisor).await.0, 404);
    let (status, body) = get(&format!("{url}/review/api/admin/devices"), &supervisor).await;
    assert_eq!(status, 404);
    assert!(body.contains("\"code\":\"not_found\""), "{body}");

    let admin = web_login(url, "admin", &server.password("admin")).await;
    let (status, home) = get(&format!("{url}/review/admin"), &admin).await;
    assert_eq!(status, 200);
    assert!(home.contains("居民导入") && home.contains("在线备份") && home.contains("检查清单模板"));
    let (_, ledgers) = get(&format!("{url}/review/ledgers"), &admin).await;
    assert!(
        ledgers.contains("href=\"/review/admin\""),
        "the admin link is in the nav"
    );

    // Create an account from the page: the initial password is shown once.
    let grid = &server.plan.grids[2];
    let form = format!("username=li.na&display_name=%E6%9D%8E%E5%A8%9C&role=grid_worker&org_node={grid}");
    let (status, page) = post(
        &format!("{url}/review/admin/accounts"),
        &admin,
        "application/x-www-form-urlencoded",
        form.into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let password = page
        .split("初始密码（仅显示一次）： ")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(password.len(), 14);
    assert!(page.contains("data-username=\"li.na\""));
    // A bad binding is an error page with the typed code.
    let form = format!("username=li.na2&display_name=x&role=community_supervisor&org_node={grid}");
    let (status, page) = post(
        &format!("{url}/review/admin/accounts"),
        &admin,
        "application/x-www-form-urlencoded",
        form.into_bytes(),
    )
    .await;
    assert_eq!(status, 422);
    assert!(page.contains("role_level_mismatch"), "{page}");

    // The new account's phone shows up in the device list; revoke it from the page.
    let mut phone = Phone::login(url, "li.na", &password, fast_client()).await;
    phone.sync().await;
    let device = phone.info.device_id.to_string();
    let (_, devices) = get(&format!("{url}/review/admin/devices"), &admin).await;
    assert!(devices.contains(&format!("data-device=\"{device}\"")));
    let (status, page) = post(
        &format!("{url}/review/admin/devices/{device}/revoke"),
        &admin,
        "application/x-www-form-urlencoded",
        vec![],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        phone.client.sync(&mut phone.store).await.unwrap_err().code(),
        // The server answers device_revoked; the client wipes its store (issue 9, remote wipe).
        "device_wiped"
    );

    // The residents import API: a bad row gives the report, a dry run of a clean file counts.
    let code: String = server
        .db()
        .query_row("SELECT code FROM org_nodes WHERE id = ?1", [grid], |r| r.get(0))
        .unwrap();
    let mut table = gridbook_sync_server::admin::residents::sample_rows(&[code], 6);
    table[4][8] = String::new();
    let csv = gridbook_sync_server::admin::residents::to_csv(&table);
    let (status, body) = post(
        &format!("{url}/review/api/admin/residents/import"),
        &admin,
        "text/csv",
        csv,
    )
    .await;
    assert_eq!(status, 422);
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(j["code"], "import_rejected");
    assert_eq!(j["issues"][0]["row"], 5);
    assert_eq!(j["issues"][0]["code"], "empty_name");
    assert_eq!(j["issues"][0]["column_zh"], "姓名");
    table[4][8] = "王芳".into();
    let csv = gridbook_sync_server::admin::residents::to_csv(&table);
    let (status, body) = post(
        &format!("{url}/review/api/admin/residents/import?dry_run=1"),
        &admin,
        "text/csv",
        csv,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((j["households"].as_u64(), j["persons"].as_u64()), (Some(2), Some(6)));
    let (status, body) = post(
        &format!("{url}/review/api/admin/residents/import"),
        &admin,
        "text/csv",
        b"not,a,residents,file\n".to_vec(),
    )
    .await;
    assert_eq!(status, 422);
    assert!(body.contains("import_missing_columns"));

    // Template: a broken one is refused with the core code.
    let (status, body) = post(
        &format!("{url}/review/api/admin/templates"),
        &admin,
        "application/json",
        br#"{"template_id":"3456","version":2,"name":"","household_frequency_days":1,"sections":[]}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 422);
    assert!(body.contains("empty_field"), "{body}");

    // Org tree: list, create a grid under a community, rename it, a bad import sheet.
    let community = &server.plan.communities[0];
    let ccode: String = server
        .db()
        .query_row("SELECT code FROM org_nodes WHERE id = ?1", [community], |r| r.get(0))
        .unwrap();
    let (status, page) = get(&format!("{url}/review/admin/org"), &admin).await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("data-node=\"{community}\"")));
    let form = format!("name=%E7%AC%AC9%E7%BD%91%E6%A0%BC&level=grid&code={ccode}009&parent={community}");
    let (status, page) = post(
        &format!("{url}/review/admin/org"),
        &admin,
        "application/x-www-form-urlencoded",
        form.into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let id: String = server
        .db()
        .query_row(
            "SELECT id FROM org_nodes WHERE code = ?1",
            [format!("{ccode}009")],
            |r| r.get(0),
        )
        .unwrap();
    let (status, page) = post(
        &format!("{url}/review/admin/org/{id}"),
        &admin,
        "application/x-www-form-urlencoded",
        b"name=%E7%AC%AC%E4%B9%9D%E7%BD%91%E6%A0%BC&code=&until=".to_vec(),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("第九网格"));
    let (status, body) = post(
        &format!("{url}/review/api/admin/org/import"),
        &admin,
        "text/csv",
        "街道,街道编码,社区,社区编码,网格,网格编码\n新城街道,370883003,新城社区,370883003001,新城第1网格,12345\n"
            .as_bytes()
            .to_vec(),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("invalid_grid_code") && body.contains("\"row\":2"),
        "{body}"
    );

    // An online backup from the page lands in <data>/backups and is sound.
    let (status, page) = post(
        &format!("{url}/review/admin/backup"),
        &admin,
        "application/x-www-form-urlencoded",
        vec![],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("备份完成"));
    let dir = server.state.config.data_dir.join("backups");
    let file = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    let conn = rusqlite::Connection::open(&file).unwrap();
    let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
}
