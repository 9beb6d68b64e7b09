//! 分派 → 部门接单 through a real server: a department's device pulls exactly the cases
//! dispatched to it, may add its workflow steps to them, and may not edit them.

use std::collections::BTreeMap;

use gridbook_core::Identity;
use gridbook_core::domain::{Case, DISTRICT_SCOPE};
use gridbook_tests::{Phone, TestServer, fast_client};

fn incident(grid: &str, title: &str) -> Case {
    gridbook_tests::incident(grid, title, "3栋门口垃圾桶满溢两天")
}

fn act(phone: &mut Phone, id: &str, action: &str, params: &[(&str, &str)]) -> String {
    let params: BTreeMap<String, String> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    phone
        .store
        .case_action(id, action, None, params)
        .unwrap_or_else(|e| panic!("{action}: {e:?}"))
        .state
        .state
}

/// Records a phone holds outside the district scope.
fn held(phone: &Phone) -> Vec<String> {
    let mut stmt = phone
        .store
        .connection()
        .prepare("SELECT id FROM records WHERE scope <> ?1 ORDER BY id")
        .unwrap();
    stmt.query_map([DISTRICT_SCOPE], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_department_pulls_and_acts_on_exactly_the_cases_dispatched_to_it() {
    let server = TestServer::start().await;
    let grid = server.plan.grids[0].clone();
    let login = |user: &'static str| {
        let (url, password) = (server.url.clone(), server.password(user));
        async move { Phone::login(&url, user, &password, fast_client()).await }
    };
    let mut worker = login("grid01").await;
    let mut community = login("community1").await;
    let mut dept = login("dept1").await;
    for p in [&mut worker, &mut community, &mut dept] {
        p.sync().await;
    }
    assert!(dept.info.grids.is_empty(), "a department writes no grid");
    assert!(
        held(&dept).is_empty(),
        "a department sees no grid's records: {:?}",
        held(&dept)
    );

    // Two incidents reported; the community accepts both and dispatches one.
    let sent = worker.store.create(&incident(&grid, "垃圾清运不及时")).unwrap();
    let kept = worker.store.create(&incident(&grid, "路灯损坏")).unwrap();
    for id in [&sent, &kept] {
        assert_eq!(act(&mut worker, id, "report", &[]), "reported");
    }
    worker.sync().await;
    community.sync().await;
    let department = dept.info.org_node.clone();
    for id in [&sent, &kept] {
        assert_eq!(act(&mut community, id, "accept", &[]), "accepted");
    }
    assert_eq!(
        act(&mut community, &sent, "dispatch", &[("department", &department)]),
        "dispatched"
    );
    let s = community.sync().await;
    assert_eq!((s.sent, s.rejected), (3, 0), "{s:?}");

    // The department's device receives that case and nothing else of the grid.
    dept.sync().await;
    assert_eq!(held(&dept), vec![sent.clone()]);
    assert_eq!(dept.store.case(&sent).unwrap().state.state, "dispatched");

    // 部门接单 and 办结 from the department's device reach the worker and the community.
    assert_eq!(act(&mut dept, &sent, "department_accept", &[]), "handling");
    assert_eq!(act(&mut dept, &sent, "complete", &[]), "handled");
    let s = dept.sync().await;
    assert_eq!((s.sent, s.rejected), (2, 0), "{s:?}");
    worker.sync().await;
    community.sync().await;
    assert_eq!(worker.store.case(&sent).unwrap().state.state, "handled");
    assert_eq!(community.store.case(&sent).unwrap().state.state, "handled");

    // The community sends it back (核查不通过): the department gets the change on its next sync.
    community
        .store
        .case_action(&sent, "verify_fail", Some("现场仍有垃圾"), BTreeMap::new())
        .unwrap();
    community.sync().await;
    dept.sync().await;
    assert_eq!(dept.store.case(&sent).unwrap().state.state, "handling");
    assert_eq!(held(&dept), vec![sent.clone()], "still only the dispatched case");

    // A modified app edits the case's text: refused, quarantined, not stored; the server's copy
    // still has the original title.
    let me = dept.store.identity().clone();
    dept.store.set_identity(Identity {
        grids: vec![grid.clone()],
        ..me.clone()
    });
    let mut edited = dept.store.case(&sent).unwrap().case;
    edited.title = "部门改写了标题".into();
    dept.store.update(&sent, &edited).unwrap();
    dept.store.set_identity(me);
    let s = dept.sync().await;
    assert_eq!((s.sent, s.rejected), (0, 1), "{s:?}");
    let q = dept.store.quarantined().unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].code, "out_of_scope");
    worker.sync().await;
    assert_eq!(worker.store.case(&sent).unwrap().case.title, "垃圾清运不及时");

    // The undispatched case never reached the department, and the server is sound.
    assert!(!held(&dept).contains(&kept));
    assert_eq!(server.integrity(), "ok");
    server.stop().await;
}
