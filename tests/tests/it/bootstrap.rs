//! A supervisor's new device bootstraps its community from snapshots, page by page.

use gridbook_core::domain::DISTRICT_SCOPE;
use gridbook_core::sync::ClientConfig;
use gridbook_tests::{Phone, TestServer, fast_client, post_sync, records_of, request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_supervisor_device_bootstraps_from_snapshots() {
    let server = TestServer::start().await;
    let g = &server.plan.grids;
    let scopes = [g[0].as_str(), g[1].as_str(), g[2].as_str(), DISTRICT_SCOPE];
    // Some history beyond creation, so snapshots and the log differ.
    let mut w = Phone::login(&server.url, "grid02", &server.password("grid02"), fast_client()).await;
    w.sync().await;
    w.store.create(&gridbook_tests::household(&g[1], "909")).unwrap();
    w.sync().await;

    let config = ClientConfig {
        max_response_bytes: 8 * 1024,
        ..fast_client()
    };
    let mut p = Phone::login(&server.url, "community1", &server.password("community1"), config).await;
    assert_eq!(p.info.grids.len(), 3);

    // The first page: snapshots only, and a cursor that remembers where it stopped.
    let req = p
        .store
        .sync_request(100, 1 << 20, 8 * 1024, chrono::Utc::now().timestamp_millis())
        .unwrap();
    let first = post_sync(&server.url, &p.token(), &req).await.response.unwrap();
    assert!(!first.snapshots.is_empty());
    assert!(first.changes.is_empty());
    assert!(first.more);
    assert!(first.cursors.iter().any(|c| c.snapshot_after.is_some()));
    p.store
        .apply_sync_response(&first, chrono::Utc::now().timestamp_millis())
        .unwrap();
    assert!(
        p.store
            .sync_cursors()
            .unwrap()
            .iter()
            .any(|c| c.snapshot_after.is_some()),
        "progress is kept"
    );

    let s = p.sync().await;
    assert!(s.requests > 1, "paged: {s:?}");
    assert!(
        p.store
            .sync_cursors()
            .unwrap()
            .iter()
            .all(|c| c.snapshot_after.is_none() && c.seq > 0)
    );
    assert_eq!(p.store.doc_heads().unwrap(), server.heads(&scopes));
    assert_eq!(records_of(p.store.connection(), &scopes), server.records(&scopes));
    // Nothing of the other community.
    assert!(
        p.store
            .doc_heads()
            .unwrap()
            .keys()
            .all(|id| !server.heads(&[g[3].as_str()]).contains_key(id))
    );

    // Then only new changes come, from the log.
    w.store.create(&gridbook_tests::household(&g[1], "910")).unwrap();
    w.sync().await;
    let mut raw = request(vec![]);
    raw.cursors = p.store.sync_cursors().unwrap();
    let next = post_sync(&server.url, &p.token(), &raw).await.response.unwrap();
    assert!(next.snapshots.is_empty());
    assert_eq!(next.changes.len(), 1);
    let s = p.sync().await;
    assert_eq!(s.received, 1);
    // A sync with nothing new is one request.
    let s = p.sync().await;
    assert_eq!((s.requests, s.received, s.sent), (1, 0, 0));
    server.stop().await;
}
