//! Sub-grids (二级网格, `OrgLevel::SubGrid`, village grids below a grid): who sees a
//! sub-grid's records, through sync pulls and the review dashboard's lists.
//!
//! The rule (`docs/protocol.md`, "Scopes"): a worker sees its own node only, so a sub-grid's
//! worker sees the sub-grid and the parent grid's worker does not; a sub-grid belongs to the
//! community of its grid, so that community's supervisor, its sub-district and the district
//! see it, and nobody of another community or sub-district does. Before the fix the server's
//! grants knew only nodes of level `grid`: the sub-grid's records reached nobody but its own
//! worker.

use chrono::NaiveDate;
use gridbook_core::domain::{Ledger, OrgLevel, OrgNode, Role};
use gridbook_sync_server::admin::accounts::{self, HashCost, NewAccount};
use gridbook_sync_server::admin::org;
use gridbook_tests::{Phone, TestServer, fast_client, household, incident, web};

/// How many of `ids` a fresh phone of `username` holds after its bootstrap.
async fn pulled(server: &TestServer, username: &str, password: &str, ids: &[String]) -> (usize, Vec<String>) {
    let mut p = Phone::login(&server.url, username, password, fast_client()).await;
    p.sync().await;
    let held = ids
        .iter()
        .filter(|id| {
            p.store
                .connection()
                .query_row("SELECT count(*) FROM records WHERE id = ?1", [id], |r| {
                    r.get::<_, i64>(0)
                })
                .unwrap()
                == 1
        })
        .count();
    (held, p.info.grids.clone())
}

/// Ids of the rows of a dashboard list (`/review/api/ledgers`, `/review/api/cases`).
async fn listed(url: &str, cookie: &str, path: &str) -> Vec<String> {
    let (status, body) = web::get(&format!("{url}{path}"), cookie).await;
    assert_eq!(status, 200, "{path}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON list");
    v["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sub_grids_records_reach_its_community_sub_district_and_district_only() {
    let server = TestServer::start().await;
    let s = server.state.storage.as_ref();
    let plan = server.plan.clone();
    // grid01 belongs to community 1 (幸福社区) of sub-district 1 (钢山街道).
    let parent = plan.grids[0].clone();
    let code: String = server
        .db()
        .query_row("SELECT code FROM org_nodes WHERE id = ?1", [&parent], |r| r.get(0))
        .unwrap();
    let sub = org::create_node(
        s,
        &OrgNode {
            name: "幸福社区第1网格一组".into(),
            level: OrgLevel::SubGrid,
            code: format!("{}901", &code[..12]),
            parent: Some(parent.clone()),
            effective_from: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            effective_to: None,
        },
        "admin",
    )
    .expect("a sub-grid below grid01");
    let (_, password) = accounts::create(
        s,
        &NewAccount {
            username: "subgrid01".into(),
            display_name: "一组网格员".into(),
            role: Role::GridWorker,
            org_node: sub.clone(),
        },
        HashCost {
            memory_kib: 256,
            iterations: 1,
        },
        "admin",
    )
    .expect("a worker of the sub-grid");

    // The sub-grid's worker records a household, an incident (reported) and a ledger
    // (submitted), and syncs.
    let mut w = Phone::login(&server.url, "subgrid01", &password, fast_client()).await;
    assert_eq!(w.info.grids, vec![sub.clone()], "the worker writes its sub-grid");
    w.sync().await;
    let hh = w.store.create(&household(&sub, "101")).unwrap();
    let case = w.store.create(&incident(&sub, "村道积水", "一组村口道路积水")).unwrap();
    w.store.case_action(&case, "report", None, Default::default()).unwrap();
    let ledger = w
        .store
        .create(&Ledger {
            grid_id: sub.clone(),
            worker: "subgrid01".into(),
            day: NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
            notes: "走访一组".into(),
        })
        .unwrap();
    w.store.submit_ledger(&ledger).unwrap();
    let sent = w.sync().await;
    assert_eq!(sent.rejected, 0, "{sent:?}");
    let ids = vec![hh.clone(), case.clone(), ledger.clone()];
    assert_eq!(
        server.heads(&[&sub]).len(),
        3,
        "the server holds the sub-grid's records"
    );

    // Sync: who pulls them (a fresh phone of each account).
    let pw = |u: &str| server.password(u);
    let cases: Vec<(&str, String, bool)> = vec![
        ("subgrid01", password.clone(), true),
        ("grid01", pw("grid01"), false),
        ("community1", pw("community1"), true),
        ("community2", pw("community2"), false),
        ("street1", pw("street1"), true),
        ("street2", pw("street2"), false),
        ("admin", pw("admin"), true),
    ];
    let mut wrong = Vec::new();
    for (user, password, sees) in &cases {
        let (held, grids) = pulled(&server, user, password, &ids).await;
        let want = if *sees { ids.len() } else { 0 };
        let writes = grids.contains(&sub);
        println!("sync: {user:<10} holds {held} of 3, writes the sub-grid: {writes}");
        if held != want || writes != *sees {
            wrong.push(format!(
                "{user}: holds {held} of 3 (want {want}), sub-grid in its grids: {writes} (want {sees})"
            ));
        }
    }

    // The dashboard's lists (reviewers only): the ledger list and the case board.
    for (user, password, sees) in cases.iter().filter(|(u, _, _)| {
        s.account_by_username(u)
            .unwrap()
            .is_some_and(|a| gridbook_core::review::is_reviewer(a.role))
    }) {
        let cookie = web::login(&server.url, user, password).await;
        let ledgers = listed(&server.url, &cookie, "/review/api/ledgers").await;
        let board = listed(&server.url, &cookie, "/review/api/cases").await;
        let (l, c) = (ledgers.contains(&ledger), board.contains(&case));
        println!("dashboard: {user:<10} lists the ledger: {l}, the case: {c}");
        if l != *sees || c != *sees {
            wrong.push(format!(
                "{user} on the dashboard: ledger listed {l}, case listed {c} (want {sees})"
            ));
        }
        if *sees {
            // The sub-grid sits below its grid: filtering by the grid includes it.
            let under = listed(&server.url, &cookie, &format!("/review/api/ledgers?node={parent}")).await;
            if !under.contains(&ledger) {
                wrong.push(format!("{user}: the ledger is not listed under its parent grid"));
            }
        }
    }
    assert!(wrong.is_empty(), "who sees the sub-grid's records: {wrong:#?}");

    // The community supervisor reviews the sub-grid's ledger like any other.
    let cookie = web::login(&server.url, "community1", &pw("community1")).await;
    let (status, body) = web::post(
        &format!("{}/review/api/ledgers/{ledger}/review", server.url),
        &cookie,
        "application/json",
        r#"{"action":"approve"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let state: String = server
        .db()
        .query_row("SELECT review_state FROM ledgers WHERE id = ?1", [&ledger], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(state, "approved");
    w.sync().await;
    assert_eq!(
        w.store.ledger_state(&ledger).unwrap(),
        gridbook_core::review::ReviewState::Approved,
        "the worker's phone gets the approval"
    );
    server.stop().await;
}
