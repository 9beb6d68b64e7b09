//! The supervisor's day in a real browser: headless Chromium (Debian package) driven by
//! `sync-server/web/browser-test.mjs` (playwright-core) against this process's server.
//!
//! 1. A worker's phone syncs, submits two ledgers and reports a case, and syncs again.
//! 2. Chromium: community1 logs in, returns one ledger with a comment, approves the other,
//!    accepts and dispatches the case to a department and marks it 督办 (yellow card), opens
//!    the report with its charts, downloads the ledger XLSX and screenshots every main page
//!    into `docs/screenshots/`.
//! 3. The phone syncs: the return (with its comment) and the approval arrive as review
//!    entries, the returned ledger is editable again and the approved one read-only; the
//!    case is dispatched and supervised on the phone too.
//! 4. The XLSX is read back with calamine: header cells, rows, ID numbers masked.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use calamine::{Data, Reader, Xlsx, open_workbook};
use gridbook_core::demo::DemoOptions;
use gridbook_core::domain::{Ledger, Role};
use gridbook_core::review::ReviewState;
use gridbook_core::sync::SyncClient;
use gridbook_core::{Identity, Store};

use super::Server;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_reviews_in_chromium_and_the_phone_sees_it() {
    if std::env::var("GRIDBOOK_BROWSER_TESTS").as_deref() != Ok("1") {
        eprintln!("browser test skipped: run scripts/test-browser.sh (sets GRIDBOOK_BROWSER_TESTS=1)");
        return;
    }
    let server = Server::start(DemoOptions {
        households: 12,
        days: 14,
        ..DemoOptions::default()
    })
    .await;
    let url = server.url.clone();
    let grid = server.plan.grids[0].clone();

    // 1. The worker's phone.
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
        .login(&mut store, "grid01", "demo-grid01", "worker phone")
        .await
        .expect("login");
    client.sync(&mut store).await.expect("first sync");
    let from = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).expect("date");
    let to = chrono::NaiveDate::from_ymd_opt(2100, 1, 1).expect("date");
    let ledgers = store.ledgers(Some("grid01"), from, to).expect("ledgers");
    assert!(ledgers.len() >= 4, "demo ledgers on the phone");
    let (to_return, to_approve) = (
        ledgers[ledgers.len() - 1].id.clone(),
        ledgers[ledgers.len() - 2].id.clone(),
    );
    for l in &ledgers[ledgers.len() - 4..] {
        store.submit_ledger(&l.id).expect("submit");
    }
    let drafts = store.cases(Some(&grid), Some("draft")).expect("cases");
    assert!(drafts.len() >= 2, "demo incidents on the phone");
    let case_id = drafts[0].id.clone();
    for c in drafts.iter().take(12) {
        store
            .case_action(&c.id, "report", None, BTreeMap::new())
            .expect("report");
    }
    client.sync(&mut store).await.expect("push");
    assert_eq!(store.outbox_len().expect("outbox"), 0, "everything acked");

    // 2. Chromium.
    let shots = repo_root().join("docs/screenshots");
    std::fs::create_dir_all(&shots).expect("screenshots dir");
    let downloads = tempfile::tempdir().expect("downloads");
    // A real ledger of another community (community 2's first grid), for the 404 check.
    let foreign_grid = server.plan.grids[3].clone();
    let (foreign_ledger, foreign_worker): (String, String) = server
        .db()
        .query_row(
            "SELECT id, worker FROM ledgers WHERE grid_id = ?1 LIMIT 1",
            [&foreign_grid],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("a ledger of another community");
    let web = repo_root().join("sync-server/web");
    let out = Command::new("node")
        .arg(web.join("browser-test.mjs"))
        .current_dir(&web)
        .env("BASE_URL", &url)
        .env("LEDGER_RETURN", &to_return)
        .env("LEDGER_APPROVE", &to_approve)
        .env("CASE_ID", &case_id)
        .env("FOREIGN_LEDGER", &foreign_ledger)
        .env("FOREIGN_LEDGER_WORKER", &foreign_worker)
        .env("SCREENSHOT_DIR", &shots)
        .env("DOWNLOAD_DIR", downloads.path())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "browser script failed");
    let result: serde_json::Value =
        serde_json::from_str(stdout.lines().rev().find(|l| l.starts_with('{')).expect("result line"))
            .expect("result json");
    assert_eq!(result["charts"], 3, "three charts drawn");
    assert_eq!(result["submitted"], 4, "the four submitted ledgers listed as submitted");
    assert_eq!(result["case_state"], "dispatched", "the case page shows the dispatch");
    let download = result["download"].as_str().expect("download name");
    assert!(
        download.starts_with("ledgers-") && download.ends_with(".xlsx"),
        "the ledger export downloaded: {download}"
    );
    assert_eq!(result["foreign_status"], 404, "another community's real ledger is 404");
    assert_eq!(result["foreign_shown"], false, "nothing of it on the page");
    assert!(
        result["root_url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/review/ledgers")),
        "/ leads to the dashboard (signed in: its first page): {}",
        result["root_url"]
    );

    // 3. The phone syncs and sees the supervisor's work.
    client.sync(&mut store).await.expect("pull");
    assert_eq!(store.ledger_state(&to_return).expect("state"), ReviewState::Returned);
    let row = store.ledger(&to_return).expect("ledger");
    assert_eq!(row.review_comment.as_deref(), Some("请补充3号楼走访照片"));
    assert_eq!(store.ledger_state(&to_approve).expect("state"), ReviewState::Approved);
    // Returned: editable again; approved: read-only.
    let mut l: Ledger = store.get(&to_return).expect("get");
    l.notes = "已补充走访照片。".into();
    store
        .update_ledger(&to_return, &l)
        .expect("a returned ledger is editable");
    let a: Ledger = store.get(&to_approve).expect("get");
    assert!(
        store.update_ledger(&to_approve, &a).is_err(),
        "an approved ledger is read-only"
    );
    let view = store.case(&case_id).expect("case");
    assert_eq!(view.state.state, "dispatched");
    assert!(view.state.department.is_some());
    assert_eq!(
        view.state.supervision.last().map(|s| s.card.as_str()),
        Some("yellow"),
        "督办 arrived"
    );
    client.sync(&mut store).await.expect("push the edit");

    // 4. The XLSX, read back.
    let path = downloads.path().join("ledgers.xlsx");
    let mut wb: Xlsx<_> = open_workbook(&path).expect("open xlsx");
    let names = wb.sheet_names().to_vec();
    assert_eq!(names.len(), 2);
    let sheet = wb.worksheet_range(&names[0]).expect("sheet 1");
    let header: Vec<String> = sheet
        .rows()
        .next()
        .expect("header")
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(header[0], "日期");
    assert_eq!(header[3], "审核状态");
    assert!(sheet.rows().count() > 10, "ledger rows");
    assert!(
        sheet
            .rows()
            .any(|r| r[3] == Data::String("已退回".into()) && r[9] == Data::String("请补充3号楼走访照片".into())),
        "the returned ledger with its comment"
    );
    let members = wb.worksheet_range(&names[1]).expect("sheet 2");
    let header: Vec<String> = members
        .rows()
        .next()
        .expect("header")
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(header[4], "身份证号");
    let mut ids = 0;
    for r in members.rows().skip(1) {
        let id = r[4].to_string();
        if id.is_empty() {
            continue;
        }
        ids += 1;
        assert_eq!(id.chars().count(), 18, "{id}");
        assert_eq!(&id[6..14], "********", "ID number masked: {id}");
        let phone = r[5].to_string();
        assert!(phone.is_empty() || &phone[3..7] == "****", "phone masked: {phone}");
    }
    assert!(ids > 0, "some ID numbers exported (masked)");
}
