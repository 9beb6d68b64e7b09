//! A grid worker's device can neither pull nor push another grid's records.

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit};
use gridbook_core::Identity;
use gridbook_core::domain::{DISTRICT_SCOPE, Role};
use gridbook_core::sync::{Cursor, PushChange};
use gridbook_tests::{Phone, TestServer, fast_client, household, post_sync, request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_cannot_pull_or_push_another_grid() {
    let server = TestServer::start().await;
    let (a, b) = (server.plan.grids[0].clone(), server.plan.grids[1].clone());
    let mut p = Phone::login(&server.url, "grid01", &server.password("grid01"), fast_client()).await;
    p.sync().await;
    assert!(!server.records(&[&b]).is_empty(), "grid B has records on the server");
    let mine = p
        .store
        .connection()
        .query_row("SELECT count(*) FROM records WHERE scope = ?1", [&a], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap();
    let theirs = p
        .store
        .connection()
        .query_row(
            "SELECT count(*) FROM records WHERE scope <> ?1 AND scope <> ?2",
            [&a, DISTRICT_SCOPE],
            |r| r.get::<_, i64>(0),
        )
        .unwrap();
    assert!(mine > 0);
    assert_eq!(theirs, 0, "nothing of other grids was pulled");

    // Asking for grid B outright gets nothing of it.
    let mut req = request(vec![]);
    req.cursors = vec![Cursor {
        scope: b.clone(),
        seq: 0,
        snapshot_after: None,
    }];
    let resp = post_sync(&server.url, &p.token(), &req).await.response.unwrap();
    assert!(resp.cursors.iter().all(|c| c.scope != b));
    assert!(resp.snapshots.iter().chain(&resp.changes).all(|d| d.scope != b));

    // A modified app writes into grid B: refused, quarantined, not stored; the valid change
    // next to it goes through.
    let me = p.store.identity().clone();
    p.store.set_identity(Identity {
        grids: vec![a.clone(), b.clone()],
        ..me.clone()
    });
    let forged = p.store.create(&household(&b, "666")).unwrap();
    let forged_hash = p.store.outbox(10).unwrap().last().unwrap().hash.clone();
    p.store.set_identity(me.clone());
    let honest = p.store.create(&household(&a, "777")).unwrap();
    let s = p.sync().await;
    assert_eq!((s.sent, s.rejected), (1, 1), "{s:?}");
    let q = p.store.quarantined().unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(
        (q[0].doc_id.as_str(), q[0].code.as_str()),
        (forged.as_str(), "out_of_scope")
    );
    assert_eq!(server.log_count(&forged_hash), 0);
    assert!(server.heads(&[&a]).contains_key(&honest));
    assert!(!server.heads(&[&a, &b]).contains_key(&forged));

    // A change made by another actor, pushed with this device's token.
    let mut doc = AutoCommit::new().with_actor(ActorId::random());
    doc.put(automerge::ROOT, "id", "forged-actor").unwrap();
    doc.commit();
    let change = doc.get_last_local_change().expect("a change");
    let push = PushChange {
        doc_id: "forged-actor".into(),
        hash: change.hash().to_string(),
        bytes: change.raw_bytes().to_vec(),
    };
    let resp = post_sync(&server.url, &p.token(), &request(vec![push]))
        .await
        .response
        .unwrap();
    assert_eq!(resp.rejections.len(), 1);
    assert_eq!(resp.rejections[0].code, "actor_mismatch");

    // Moving one of my records to grid B, by hand.
    let bytes: Vec<u8> = p
        .store
        .connection()
        .query_row("SELECT bytes FROM docs WHERE id = ?1", [&honest], |r| r.get(0))
        .unwrap();
    let mut doc = AutoCommit::load(&bytes)
        .unwrap()
        .with_actor(ActorId::from(p.store.device_id().as_bytes().as_slice()));
    doc.put(automerge::ROOT, "scope", b.as_str()).unwrap();
    doc.commit();
    let c = doc.get_last_local_change().unwrap().clone();
    let push = PushChange {
        doc_id: honest.clone(),
        hash: c.hash().to_string(),
        bytes: c.raw_bytes().to_vec(),
    };
    let resp = post_sync(&server.url, &p.token(), &request(vec![push]))
        .await
        .response
        .unwrap();
    assert_eq!(resp.rejections[0].code, "scope_change");
    assert_eq!(server.log_count(&c.hash().to_string()), 0);

    // Approving a ledger in a supervisor's name from a worker's device.
    let ledger: String = p
        .store
        .connection()
        .query_row(
            "SELECT id FROM ledgers WHERE grid_id = ?1 ORDER BY id LIMIT 1",
            [&a],
            |r| r.get(0),
        )
        .unwrap();
    p.store.submit_ledger(&ledger).unwrap();
    p.store.set_identity(Identity {
        account_id: "community1".into(),
        role: Role::CommunitySupervisor,
        ..me.clone()
    });
    p.store.approve_ledger(&ledger).unwrap();
    p.store.set_identity(me);
    let s = p.sync().await;
    assert_eq!(
        (s.sent, s.rejected),
        (1, 1),
        "submit accepted, forged approval refused: {s:?}"
    );
    assert!(
        p.store
            .quarantined()
            .unwrap()
            .iter()
            .any(|r| r.code == "transition_actor_mismatch")
    );
    let state: String = server
        .db()
        .query_row("SELECT review_state FROM ledgers WHERE id = ?1", [&ledger], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(state, "submitted");
    assert_eq!(server.integrity(), "ok");
    server.stop().await;
}
