//! Incidents and requests through the closed loop, on real stores that exchange changes.

use std::collections::BTreeMap;

use gridbook_core::domain::{Case, CaseKind, Role};
use gridbook_core::workflow::ClaimOutcome;
use gridbook_core::{Identity, Store};
use proptest::prelude::*;

use crate::common::*;

fn incident(grid: &str, kind: CaseKind) -> Case {
    Case {
        grid_id: grid.into(),
        case_kind: kind,
        category: "city_appearance".into(),
        subcategory: None,
        scale: "individual".into(),
        title: "垃圾清运不及时".into(),
        description: "3栋门口垃圾桶满溢两天".into(),
        location: None,
        address: "幸福小区3栋".into(),
        reporter: "worker-1".into(),
        channel: (kind == CaseKind::Request).then(|| "phone".to_string()),
        resident_name: None,
        resident_phone: None,
        photos: vec![],
        occurred_at: cst(2026, 11, 23, 9, 0),
    }
}

fn department() -> Identity {
    Identity {
        account_id: "chengguan-1".into(),
        role: Role::Department,
        org_node: "dept-chengguan".into(),
        grids: vec![],
    }
}

fn p(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn act(s: &mut Store, id: &str, action: &str, reason: Option<&str>, params: &[(&str, &str)]) -> String {
    s.case_action(id, action, reason, p(params))
        .unwrap_or_else(|e| panic!("{action}: {e:?}"))
        .state
        .state
}

/// Worker, community and department each on their own phone, syncing by exchange.
#[test]
fn an_incident_travels_the_whole_loop_across_three_phones() {
    let (mut r, org) = replicas(3);
    r[0].set_identity(worker(&org.grid_a));
    r[1].set_identity(supervisor(&[&org.grid_a, &org.grid_b]));
    r[2].set_identity(department());
    for s in r.iter_mut() {
        s.set_clock(gridbook_core::Clock::Fixed(cst(2026, 11, 23, 9, 30)));
    }
    let id = r[0].create(&incident(&org.grid_a, CaseKind::Incident)).unwrap();
    assert_eq!(act(&mut r[0], &id, "report", None, &[]), "reported");
    let sync = |r: &mut Vec<Store>| {
        for i in 0..3 {
            for j in 0..3 {
                if i != j {
                    let b = r[i].changes_since(&r[j].doc_heads().unwrap()).unwrap();
                    r[j].apply_remote_changes(&b).unwrap();
                }
            }
        }
    };
    sync(&mut r);
    assert_eq!(act(&mut r[1], &id, "accept", None, &[]), "accepted");
    assert_eq!(
        act(&mut r[1], &id, "dispatch", None, &[("department", "dept-chengguan")]),
        "dispatched"
    );
    assert_eq!(
        act(&mut r[1], &id, "supervise", None, &[("card", "yellow")]),
        "dispatched"
    );
    sync(&mut r);
    assert_eq!(
        r[2].case(&id).unwrap().state.department.as_deref(),
        Some("dept-chengguan")
    );
    assert_eq!(act(&mut r[2], &id, "department_accept", None, &[]), "handling");
    assert_eq!(act(&mut r[2], &id, "complete", None, &[]), "handled");
    sync(&mut r);
    assert_eq!(
        act(&mut r[1], &id, "verify_fail", Some("现场仍有垃圾"), &[]),
        "handling"
    );
    sync(&mut r);
    assert_eq!(act(&mut r[2], &id, "complete", None, &[]), "handled");
    sync(&mut r);
    assert_eq!(act(&mut r[1], &id, "verify_pass", None, &[]), "verified");
    sync(&mut r);
    assert_eq!(act(&mut r[0], &id, "feedback", None, &[]), "feedback");
    assert_eq!(
        act(&mut r[0], &id, "follow_up", None, &[("satisfaction", "satisfied")]),
        "feedback"
    );
    sync(&mut r);
    assert_eq!(act(&mut r[1], &id, "archive", None, &[]), "archived");
    sync(&mut r);
    for s in &r {
        let v = s.case(&id).unwrap();
        assert_eq!(v.state.state, "archived");
        assert_eq!(v.history.len(), 12);
        assert!(v.state.conflicts.is_empty());
        assert_eq!(v.state.supervision.len(), 1);
        assert_eq!(s.cases(Some(&org.grid_a), Some("archived")).unwrap().len(), 1);
    }
    assert_eq!(r[0].query_table_dump().unwrap(), r[2].query_table_dump().unwrap());
    // The district's metrics count the case as answered, handled and satisfied.
    let q = gridbook_core::workflow::MetricsQuery {
        org_path: String::new(),
        from: cst(2026, 11, 1, 0, 0),
        to: cst(2026, 12, 1, 0, 0),
        as_of: cst(2026, 11, 30, 0, 0),
        kind: None,
    };
    let m = r[1].case_metrics(&q).unwrap();
    assert_eq!(m.total, 1);
    assert_eq!(m.completion.numerator, 1);
}

#[test]
fn refused_actions_are_typed_and_write_nothing() {
    let (mut r, org) = replicas(1);
    let s = &mut r[0];
    s.set_identity(worker(&org.grid_a));
    let id = s.create(&incident(&org.grid_a, CaseKind::Incident)).unwrap();
    let before = s.table_counts().unwrap();
    let code = |res: gridbook_core::Result<gridbook_core::CaseView>| res.unwrap_err().code();
    assert_eq!(
        code(s.case_action(&id, "accept", None, p(&[]))),
        "action_not_allowed_in_state"
    );
    act(s, &id, "report", None, &[]);
    let before_accept = s.table_counts().unwrap();
    assert_ne!(before, before_accept);
    assert_eq!(code(s.case_action(&id, "accept", None, p(&[]))), "role_not_allowed");
    assert_eq!(
        code(s.case_action(&id, "no_such_action", None, p(&[]))),
        "unknown_action"
    );
    s.set_identity(supervisor(&[&org.grid_a]));
    act(s, &id, "accept", None, &[]);
    let counts = s.table_counts().unwrap();
    assert_eq!(code(s.case_action(&id, "dispatch", None, p(&[]))), "missing_param");
    assert_eq!(
        code(s.case_action(&id, "supervise", None, p(&[("card", "purple")]))),
        "invalid_param"
    );
    assert_eq!(s.table_counts().unwrap(), counts);
    // Outside the account's area.
    s.set_identity(supervisor(&[&org.grid_b]));
    assert_eq!(
        code(s.case_action(&id, "dispatch", None, p(&[("department", "d")]))),
        "out_of_scope"
    );
    assert_eq!(s.table_counts().unwrap(), counts);
}

#[test]
fn two_offline_claims_resolve_to_one_owner_on_both_phones() {
    for first in [0usize, 1] {
        let (mut r, org) = replicas(3);
        r[2].set_identity(supervisor(&[&org.grid_a]));
        let id = r[2].create(&incident(&org.grid_a, CaseKind::Request)).unwrap();
        act(&mut r[2], &id, "intake", None, &[("channel", "phone")]);
        act(&mut r[2], &id, "publish_for_claim", None, &[]);
        for i in 0..2 {
            let b = r[2].changes_since(&r[i].doc_heads().unwrap()).unwrap();
            r[i].apply_remote_changes(&b).unwrap();
            r[i].set_identity(Identity {
                account_id: format!("worker-{i}"),
                ..worker(&org.grid_a)
            });
            assert_eq!(act(&mut r[i], &id, "claim", None, &[]), "handling");
        }
        let (x, y) = (first, 1 - first);
        let b = r[x].changes_since(&r[y].doc_heads().unwrap()).unwrap();
        r[y].apply_remote_changes(&b).unwrap();
        let b = r[y].changes_since(&r[x].doc_heads().unwrap()).unwrap();
        r[x].apply_remote_changes(&b).unwrap();
        let (a, b) = (r[0].case(&id).unwrap(), r[1].case(&id).unwrap());
        assert_eq!(a.state.claim_owner, b.state.claim_owner);
        assert!(a.state.claim_owner.is_some());
        let outcomes = [a.claim, b.claim];
        assert!(
            outcomes.contains(&ClaimOutcome::Won) && outcomes.contains(&ClaimOutcome::Lost),
            "{outcomes:?}"
        );
        assert_eq!(a.history.len(), 4, "both claims stay in history");
        assert_eq!(a.state.conflicts.len(), 1);
        assert_eq!(a.state.conflicts[0].reason_code, "claim_lost");
    }
}

fn params_for(action: &str) -> BTreeMap<String, String> {
    match action {
        "intake" => p(&[("channel", "phone")]),
        "escalate" => p(&[("level", "sub_district")]),
        "dispatch" => p(&[("department", "dept-chengguan")]),
        "request_extension" | "approve_extension" => p(&[("days", "3")]),
        "follow_up" => p(&[("satisfaction", "satisfied")]),
        "supervise" => p(&[("card", "red")]),
        _ => BTreeMap::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, max_shrink_iters: 100, ..ProptestConfig::default() })]

    /// Real Automerge documents: 2 to 5 phones in different roles take random actions offline
    /// on one case and exchange in random orders. Every replica folds to the same state,
    /// conflicts and history, and every transition taken is in the history.
    #[test]
    fn concurrent_transitions_fold_the_same_everywhere(
        n in 2usize..=5,
        request in any::<bool>(),
        steps in proptest::collection::vec((0usize..5, any::<usize>(), any::<bool>(), 0usize..5), 5..40),
    ) {
        let (mut r, org) = replicas(n);
        let roles = [worker(&org.grid_a), supervisor(&[&org.grid_a]), department(),
            Identity { account_id: "worker-2".into(), ..worker(&org.grid_a) }, supervisor(&[&org.grid_a])];
        for (i, s) in r.iter_mut().enumerate() {
            s.set_identity(roles[i].clone());
        }
        let kind = if request { CaseKind::Request } else { CaseKind::Incident };
        r[1].set_identity(supervisor(&[&org.grid_a]));
        let id = r[1].create(&incident(&org.grid_a, kind)).unwrap();
        for i in 0..n {
            if i != 1 {
                let b = r[1].changes_since(&r[i].doc_heads().unwrap()).unwrap();
                r[i].apply_remote_changes(&b).unwrap();
            }
        }
        let mut made = Vec::new();
        for (who, pick, exchange, to) in steps {
            let who = who % n;
            if exchange {
                let to = to % n;
                if to != who {
                    let b = r[who].changes_since(&r[to].doc_heads().unwrap()).unwrap();
                    r[to].apply_remote_changes(&b).unwrap();
                }
                continue;
            }
            let view = r[who].case(&id).unwrap();
            if view.available_actions.is_empty() {
                continue;
            }
            let action = view.available_actions[pick % view.available_actions.len()].clone();
            let reason = Some("测试");
            if let Ok(v) = r[who].case_action(&id, &action, reason, params_for(&action)) {
                made.push(v.history.last().unwrap().id.clone());
            }
        }
        for _ in 0..2 {
            for i in 0..n {
                for j in 0..n {
                    if i != j {
                        let b = r[i].changes_since(&r[j].doc_heads().unwrap()).unwrap();
                        r[j].apply_remote_changes(&b).unwrap();
                    }
                }
            }
        }
        let first = r[0].case(&id).unwrap();
        for s in &r[1..] {
            let v = s.case(&id).unwrap();
            prop_assert_eq!(&v.state.state, &first.state.state);
            prop_assert_eq!(&v.state.conflicts, &first.state.conflicts);
            prop_assert_eq!(&v.history, &first.history);
            prop_assert_eq!(s.query_table_dump().unwrap(), r[0].query_table_dump().unwrap());
        }
        let ids: Vec<&String> = first.history.iter().map(|t| &t.id).collect();
        for m in &made {
            prop_assert!(ids.contains(&m), "transition {} lost", m);
        }
        prop_assert_eq!(first.history.len(), made.len());
        prop_assert_eq!(first.state.applied.len() + first.state.conflicts.len(), made.len());
    }
}
