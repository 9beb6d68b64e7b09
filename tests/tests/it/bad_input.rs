//! Every kind of bad input gets a typed error; the server keeps serving and its database
//! stays sound.

use gridbook_core::sync::PushChange;
use gridbook_core::sync::client::gzip;
use gridbook_core::sync::wire;
use gridbook_tests::{Phone, TestServer, fast_client, household, post_sync, post_sync_raw, request};

async fn still_fine(server: &TestServer, phone: &mut Phone, room: &str) {
    let grid = server.plan.grids[0].clone();
    phone.store.create(&household(&grid, room)).unwrap();
    let s = phone.sync().await;
    assert!(s.sent >= 1 && s.rejected == 0, "a normal sync still works: {s:?}");
    assert_eq!(phone.store.outbox_len().unwrap(), 0);
    assert_eq!(server.integrity(), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_typed_errors_and_the_server_keeps_serving() {
    let server = TestServer::start_with(|c| c.max_body_bytes = 64 * 1024).await;
    let mut p = Phone::login(&server.url, "grid01", &server.password("grid01"), fast_client()).await;
    p.sync().await;
    let token = p.token();
    let body = wire::encode(&request(vec![]));

    // Truncated bodies: CBOR, and gzip.
    let r = post_sync_raw(&server.url, Some(&token), body[..body.len() / 2].to_vec(), false).await;
    assert_eq!((r.status, r.code()), (400, "malformed_body"));
    still_fine(&server, &mut p, "b01").await;
    let z = gzip(&body);
    let r = post_sync_raw(&server.url, Some(&token), z[..z.len() - 6].to_vec(), true).await;
    assert_eq!((r.status, r.code()), (400, "malformed_body"));
    still_fine(&server, &mut p, "b02").await;
    let r = post_sync_raw(&server.url, Some(&token), b"{\"json\": true}".to_vec(), false).await;
    assert_eq!((r.status, r.code()), (400, "malformed_body"));

    // Oversized: plain, and a small gzip that inflates past the limit.
    let big = PushChange {
        doc_id: "x".into(),
        hash: "y".into(),
        bytes: vec![0; 100 * 1024],
    };
    let big_body = wire::encode(&request(vec![big]));
    let r = post_sync_raw(&server.url, Some(&token), big_body.clone(), false).await;
    assert_eq!((r.status, r.code()), (413, "payload_too_large"));
    let r = post_sync_raw(&server.url, Some(&token), gzip(&big_body), true).await;
    assert_eq!((r.status, r.code()), (413, "payload_too_large"));
    still_fine(&server, &mut p, "b03").await;

    // Another protocol version.
    let mut future = request(vec![]);
    future.v = 2;
    let r = post_sync(&server.url, &token, &future).await;
    assert_eq!((r.status, r.code()), (400, "unsupported_protocol_version"));
    still_fine(&server, &mut p, "b04").await;

    // Garbage change bytes: refused one by one, the rest goes through.
    p.store.create(&household(&server.plan.grids[0], "b05")).unwrap();
    let good = p.store.outbox(1).unwrap().remove(0);
    let garbage = PushChange {
        doc_id: good.doc_id.clone(),
        hash: "00".repeat(32),
        bytes: vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3],
    };
    let r = post_sync(
        &server.url,
        &token,
        &request(vec![
            garbage,
            PushChange {
                doc_id: good.doc_id,
                hash: good.hash.clone(),
                bytes: good.bytes,
            },
        ]),
    )
    .await;
    let resp = r.response.expect("200");
    assert_eq!(resp.rejections.len(), 1);
    assert_eq!(resp.rejections[0].code, "invalid_change");
    assert_eq!(resp.acks, vec![good.hash]);
    still_fine(&server, &mut p, "b06").await;

    // A clock far in the future.
    let mut ahead = request(vec![]);
    ahead.client_time += 3 * 24 * 3600 * 1000;
    let r = post_sync(&server.url, &token, &ahead).await;
    assert_eq!((r.status, r.code()), (400, "clock_in_future"));
    still_fine(&server, &mut p, "b07").await;

    // No token, a made-up token.
    let r = post_sync_raw(&server.url, None, gzip(&body), true).await;
    assert_eq!((r.status, r.code()), (401, "unauthorized"));
    let r = post_sync_raw(&server.url, Some("made-up"), gzip(&body), true).await;
    assert_eq!((r.status, r.code()), (401, "unauthorized"));

    // Bad login bodies and unknown endpoints are JSON errors too.
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/login", server.url))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["code"], "malformed_body");
    assert!(v["message_zh"].as_str().is_some_and(|m| !m.is_empty()));
    let resp = reqwest::Client::new()
        .get(format!("{}/nope", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let resp = reqwest::Client::new()
        .get(format!("{}/health", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let resp = reqwest::Client::new()
        .get(format!("{}/ready", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    still_fine(&server, &mut p, "b08").await;
    server.stop().await;
}
