//! Graceful shutdown finishes a sync in flight.

use gridbook_core::sync::PushChange;
use gridbook_tests::{Phone, TestServer, fast_client, household, post_sync, request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_sync_in_flight() {
    let mut server = TestServer::start().await;
    let grid = server.plan.grids[0].clone();
    let mut p = Phone::login(&server.url, "grid01", &server.password("grid01"), fast_client()).await;
    p.sync().await;
    for i in 0..400 {
        p.store.create(&household(&grid, &format!("s{i}"))).unwrap();
    }
    let push: Vec<PushChange> = p
        .store
        .outbox(1000)
        .unwrap()
        .into_iter()
        .map(|e| PushChange {
            doc_id: e.doc_id,
            hash: e.hash,
            bytes: e.bytes,
        })
        .collect();
    let hashes: Vec<String> = push.iter().map(|c| c.hash.clone()).collect();
    let (url, token) = (server.url.clone(), p.token());
    let in_flight = tokio::spawn(async move { post_sync(&url, &token, &request(push)).await });
    let mut seen = false;
    for _ in 0..5_000 {
        if server.state.push_lock.try_lock().is_err() {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    assert!(seen, "the push was under way");
    let ready = reqwest::get(format!("{}/ready", server.url))
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(ready, 200);
    server.shutdown().await;
    let raw = in_flight.await.unwrap();
    assert_eq!(raw.status, 200);
    assert_eq!(
        raw.response.unwrap().acks.len(),
        400,
        "the sync in flight was finished and acked"
    );
    let n: i64 = server
        .db()
        .query_row(
            "SELECT count(*) FROM change_log WHERE hash IN (SELECT value FROM json_each(?1))",
            [serde_json::Value::from(hashes).to_string()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 400);
}
