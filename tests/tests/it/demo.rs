//! The first impression (issue 16): the district `gridbook-server demo` seeds
//! ([`demo::seed_lived_in`], the same options as the command) on a real server, read back
//! through the dashboard's JSON API and the server's query tables; and the daily trend counts
//! a case on the day it was reported, not the day it reached the server.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Days, Months, NaiveDate, Utc};
use gridbook_core::china_day;
use gridbook_sync_server::demo;
use gridbook_tests::{Phone, TestServer, fast_client, test_config, web};
use serde_json::Value as Json;
use tokio::sync::oneshot;

/// A server seeded as `gridbook-server demo` seeds it on `today`.
struct LivedIn {
    url: String,
    state: gridbook_sync_server::AppState,
    plan: demo::DemoDistrict,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl LivedIn {
    async fn start(today: NaiveDate) -> LivedIn {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = test_config(dir.path().to_path_buf());
        let state = gridbook_sync_server::AppState::open(config).expect("open");
        let storage = state.storage.clone();
        let started = std::time::Instant::now();
        let plan = tokio::task::spawn_blocking(move || {
            demo::seed_lived_in(storage.as_ref(), demo::lived_in_options(today), 256, 1)
        })
        .await
        .expect("seed task")
        .expect("the lived-in demo seeds: every push validated");
        eprintln!("lived-in demo seeded in {:.1} s", started.elapsed().as_secs_f64());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel();
        tokio::spawn(gridbook_sync_server::serve(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        LivedIn {
            url,
            state,
            plan,
            stop: Some(tx),
            _dir: dir,
        }
    }

    fn db(&self) -> rusqlite::Connection {
        self.state.db.open_read_only().expect("db")
    }
}

impl Drop for LivedIn {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

fn strings(db: &rusqlite::Connection, sql: &str) -> BTreeSet<String> {
    let mut stmt = db.prepare(sql).expect("prepare");
    stmt.query_map([], |r| r.get::<_, Option<String>>(0))
        .expect("query")
        .map(|r| r.expect("row").unwrap_or_else(|| "none".into()))
        .collect()
}

fn rate(report: &Json, key: &str) -> (u64, u64) {
    let r = report["rates"]
        .as_array()
        .expect("rates")
        .iter()
        .find(|r| r["key"] == key)
        .unwrap_or_else(|| panic!("rate {key}"));
    (
        r["numerator"].as_u64().expect("numerator"),
        r["denominator"].as_u64().expect("denominator"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_district_is_lived_in_up_to_the_day_it_starts() {
    let now = Utc::now();
    let today = demo::demo_day(now);
    let real_today = china_day(now);
    assert!(
        today == real_today || today + Days::new(1) == real_today,
        "the demo's day is today, or yesterday before 18:00 China time"
    );
    let server = LivedIn::start(today).await;
    let db = server.db();

    // Cases at every stage of the closed loop, and from every intake channel.
    let states = strings(&db, "SELECT DISTINCT state FROM cases");
    for s in [
        "reported",
        "accepted",
        "dispatched",
        "handling",
        "handled",
        "verified",
        "feedback",
        "archived",
        "rejected",
    ] {
        assert!(states.contains(s), "a case in state {s}: {states:?}");
    }
    let channels = strings(&db, "SELECT DISTINCT coalesce(channel, kind) FROM cases");
    for c in ["incident", "phone", "window", "wechat_group", "app", "video"] {
        assert!(channels.contains(c), "a case from {c}: {channels:?}");
    }
    // Side paths of the loop, each taken by the right role (the server validated each push
    // as that account's; here the history says so too).
    let mut actions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let ids: Vec<String> = strings(&db, "SELECT id FROM cases").into_iter().collect();
    let docs = server.state.storage.load_docs(&ids).expect("case documents");
    assert_eq!(docs.len(), ids.len());
    for bytes in docs.values() {
        let doc = automerge::AutoCommit::load(bytes).expect("document");
        let list = Json::Array(gridbook_core::doc::history::read(&doc));
        for t in list.as_array().cloned().unwrap_or_default() {
            actions
                .entry(t["action"].as_str().unwrap_or_default().to_string())
                .or_default()
                .insert(t["role"].as_str().unwrap_or_default().to_string());
        }
    }
    for (action, role) in [
        ("report", "grid_worker"),
        ("escalate", "grid_worker"),
        ("intake", "community_supervisor"),
        ("accept", "community_supervisor"),
        ("accept", "sub_district_supervisor"),
        ("dispatch", "community_supervisor"),
        ("department_accept", "department"),
        ("return_dispatch", "department"),
        ("self_handle", "grid_worker"),
        ("publish_for_claim", "community_supervisor"),
        ("claim", "grid_worker"),
        ("request_extension", "department"),
        ("approve_extension", "community_supervisor"),
        ("urge", "community_supervisor"),
        ("supervise", "sub_district_supervisor"),
        ("complete", "department"),
        ("verify_fail", "community_supervisor"),
        ("verify_pass", "community_supervisor"),
        ("follow_up", "grid_worker"),
        ("feedback", "grid_worker"),
        ("archive", "community_supervisor"),
        ("reject", "community_supervisor"),
    ] {
        assert!(
            actions.get(action).is_some_and(|r| r.contains(role)),
            "{action} taken by a {role}: {actions:?}"
        );
    }
    let ledger_states = strings(&db, "SELECT DISTINCT review_state FROM ledgers");
    for s in ["submitted", "approved", "returned"] {
        assert!(ledger_states.contains(s), "a ledger {s}: {ledger_states:?}");
    }

    // Dates relative to today: house calls through today, history of about three months.
    let (first, last): (String, String) = db
        .query_row("SELECT min(day), max(day) FROM house_calls", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("days");
    assert_eq!(last, today.to_string(), "house calls up to the day the demo starts");
    let first: NaiveDate = first.parse().expect("day");
    assert!(
        (88..=92).contains(&(today - first).num_days()),
        "three months from {first}"
    );
    let this_month = today.with_day(1).expect("first of month");
    let visits: i64 = db
        .query_row(
            "SELECT count(*) FROM house_calls WHERE day >= ?1",
            [this_month.to_string()],
            |r| r.get(0),
        )
        .expect("count");
    assert!(visits > 0, "house calls in the current month");

    // The dashboard: a sub-district supervisor's monthly reports of the last three months
    // have real 按期处置率, 办结率, 满意率, and the 月考评 counts this month's visits.
    let cookie = web::login(
        &server.url,
        "street1",
        &server.plan.account("street1").expect("street1").password,
    )
    .await;
    let mut late = 0;
    for back in 0..3 {
        let date = today - Months::new(back);
        let (status, body) = web::get(
            &format!("{}/review/api/reports?period=month&date={date}", server.url),
            &cookie,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let r: Json = serde_json::from_str(&body).expect("report json");
        for key in ["response_rate", "on_time_rate", "completion_rate", "satisfaction_rate"] {
            let (n, d) = rate(&r, key);
            assert!(n > 0 && d > 0, "{key} of the month of {date}: {n}/{d}");
        }
        let (n, d) = rate(&r, "on_time_rate");
        late += d - n;
        let trend_days = r["trend"]
            .as_array()
            .expect("trend")
            .iter()
            .filter(|p| p[1].as_u64().unwrap_or(0) > 0)
            .count();
        // The current month may have begun days ago only.
        let need = if back == 0 { 1 } else { 10 };
        assert!(
            trend_days >= need,
            "cases reported on many days of the month of {date}: {trend_days}"
        );
        if back == 0 {
            let done: i64 = r["assessment"]
                .as_array()
                .expect("assessment")
                .iter()
                .map(|a| a["visits_done"].as_i64().unwrap_or(0))
                .sum();
            assert!(done > 0, "月考评 counts this month's house calls");
        }
    }
    assert!(late > 0, "some cases handled late or still overdue");
    let open_overdue: i64 = {
        let (status, body) = web::get(&format!("{}/review/api/reports?period=quarter", server.url), &cookie).await;
        assert_eq!(status, 200);
        let r: Json = serde_json::from_str(&body).expect("json");
        r["metrics"]["overdue_open"].as_i64().expect("overdue_open")
    };
    assert!(open_overdue > 0, "some cases overdue and open");
    // The case board is not empty.
    let (status, body) = web::get(&format!("{}/review/api/cases", server.url), &cookie).await;
    assert_eq!(status, 200);
    assert!(body.len() > 1000, "cases on the board");
}

/// A phone reports a case offline five days ago and syncs today: the trend counts it on the
/// day of the report (the transition's server-anchored time), not on the day it arrived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_trend_counts_a_case_on_the_day_it_was_reported() {
    use std::collections::BTreeMap as Map;
    let server = TestServer::start().await;
    let grid = server.plan.grids[0].clone();
    let mut phone = Phone::login(&server.url, "grid01", &server.password("grid01"), fast_client()).await;
    phone.sync().await;
    let today = china_day(Utc::now());
    let reported_on = today - Days::new(5);
    // Offline: the phone's clock (and its server-anchored estimate, offset 0) five days ago.
    let then = reported_on.and_hms_opt(2, 30, 0).expect("time").and_utc(); // 10:30 China time
    phone.store.set_clock(gridbook_core::Clock::Fixed(then));
    let mut case = gridbook_tests::incident(&grid, "楼道堆放杂物", "三号楼二单元楼道堆放杂物");
    case.occurred_at = then;
    let id = phone.store.create(&case).expect("create");
    phone
        .store
        .case_action(&id, "report", None, Map::new())
        .expect("report");
    phone.store.set_clock(gridbook_core::Clock::System);
    phone.sync().await;
    assert_eq!(phone.store.outbox_len().expect("outbox"), 0, "arrived today");

    let cookie = web::login(&server.url, "community1", &server.password("community1")).await;
    let day_count = |r: &Json, day: NaiveDate| -> u64 {
        let label = day.format("%m-%d").to_string();
        r["trend"]
            .as_array()
            .expect("trend")
            .iter()
            .find(|p| p[0] == label.as_str())
            .and_then(|p| p[1].as_u64())
            .unwrap_or(0)
    };
    let week = |date: NaiveDate| format!("{}/review/api/reports?period=week&date={date}", server.url);
    let (status, body) = web::get(&week(reported_on), &cookie).await;
    assert_eq!(status, 200, "{body}");
    let r: Json = serde_json::from_str(&body).expect("json");
    assert_eq!(
        day_count(&r, reported_on),
        1,
        "counted on the day of the report: {body}"
    );
    let (_, body) = web::get(&week(today), &cookie).await;
    let r: Json = serde_json::from_str(&body).expect("json");
    assert_eq!(day_count(&r, today), 0, "not on the day it arrived: {body}");
}

/// `GET /` leads a person to the dashboard, which leads to its login when signed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_leads_to_the_dashboard_login() {
    let server = TestServer::start().await;
    let mut url = format!("{}/", server.url);
    let mut hops = Vec::new();
    for _ in 0..5 {
        let r = web::http().get(&url).send().await.expect("GET");
        if !r.status().is_redirection() {
            assert_eq!(r.status().as_u16(), 200, "{url}");
            let body = r.text().await.expect("body");
            assert!(body.contains("id=\"password\""), "the login form: {body}");
            break;
        }
        let to = r.headers()["location"].to_str().expect("location").to_string();
        hops.push(to.clone());
        url = format!("{}{to}", server.url);
    }
    assert_eq!(hops.first().map(String::as_str), Some("/review"), "{hops:?}");
    assert!(
        hops.last().is_some_and(|h| h.starts_with("/review/login")),
        "ends on the login page: {hops:?}"
    );
}

/// The pinned chart library and its licence are served from the binary (no npm), and the
/// report page runs no inline script.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_library_is_embedded_and_the_report_has_no_inline_script() {
    let server = TestServer::start().await;
    let pinned: Json =
        serde_json::from_str(include_str!("../../../sync-server/web/package.json")).expect("package.json");
    let version = pinned["dependencies"]["chart.js"].as_str().expect("pinned chart.js");
    let get = |path: &str| web::http().get(format!("{}{path}", server.url)).send();
    let r = get("/review/static/chart.umd.min.js").await.expect("GET");
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/javascript")
    );
    let js = r.text().await.expect("body");
    assert!(
        js.starts_with(&format!("/*!\n * Chart.js v{version}\n")),
        "chart.js {version}"
    );
    assert!(js.len() > 100_000, "the whole library");
    let r = get("/review/static/chart.js.LICENSE.md").await.expect("GET");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.expect("body").contains("The MIT License"));
    let r = get("/review/static/reports.js").await.expect("GET");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(get("/review/static/nope.js").await.expect("GET").status().as_u16(), 404);

    let cookie = web::login(&server.url, "community1", &server.password("community1")).await;
    let (status, page) = web::get(&format!("{}/review/reports", server.url), &cookie).await;
    assert_eq!(status, 200);
    assert!(!page.contains("图表库未安装"), "no 'chart library not installed' path");
    let scripts: Vec<&str> = page
        .split("<script")
        .skip(1)
        .map(|s| s.split('>').next().unwrap_or(""))
        .collect();
    assert!(
        scripts
            .iter()
            .any(|s| s.contains("src=\"/review/static/chart.umd.min.js\""))
    );
    assert!(scripts.iter().any(|s| s.contains("src=\"/review/static/reports.js\"")));
    for s in scripts {
        assert!(
            s.contains("src=\"/review/static/") || s.contains("type=\"application/json\""),
            "no inline script on the report page: <script{s}>"
        );
    }
}
