//! Pushing the same change twice is a no-op that is acked again.

use gridbook_core::sync::PushChange;
use gridbook_tests::{Phone, TestServer, fast_client, household, post_sync, request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_push_twice_is_stored_once() {
    let server = TestServer::start().await;
    let grid = server.plan.grids[0].clone();
    let mut p = Phone::login(&server.url, "grid01", &server.password("grid01"), fast_client()).await;
    p.sync().await;
    p.store.create(&household(&grid, "301")).unwrap();
    let e = p.store.outbox(1).unwrap().remove(0);
    let push = PushChange {
        doc_id: e.doc_id.clone(),
        hash: e.hash.clone(),
        bytes: e.bytes.clone(),
    };
    let first = post_sync(&server.url, &p.token(), &request(vec![push.clone()]))
        .await
        .response
        .unwrap();
    assert_eq!(first.acks, vec![e.hash.clone()]);
    let len = server.state.storage.log_len().unwrap();
    let second = post_sync(&server.url, &p.token(), &request(vec![push.clone(), push]))
        .await
        .response
        .unwrap();
    assert_eq!(second.acks, vec![e.hash.clone()], "acked again, once");
    assert!(second.rejections.is_empty());
    assert_eq!(server.state.storage.log_len().unwrap(), len);
    assert_eq!(server.log_count(&e.hash), 1);
    // The phone never saw those acks (it was not the client): its own sync pushes again.
    let s = p.sync().await;
    assert_eq!(s.sent, 1);
    assert_eq!(p.store.outbox_len().unwrap(), 0);
    assert_eq!(server.log_count(&e.hash), 1);
    server.stop().await;
}
