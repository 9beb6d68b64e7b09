//! The login hashing pool (issues 16 and 24, `sync_server::password`): an unknown user name
//! costs the same time as a wrong password; a full pool and queue answer `503 server_busy` with
//! `Retry-After`; a throttled login is refused before it queues; right passwords still log in
//! under concurrency. A real server on 127.0.0.1, real HTTP.

use std::time::{Duration, Instant};

use gridbook_tests::web;
use gridbook_tests::{Answer, TestServer};
use uuid::Uuid;

async fn login(client: &reqwest::Client, url: &str, username: &str, password: &str) -> Answer {
    let resp = client
        .post(format!("{url}/v1/login"))
        .json(&serde_json::json!({"username": username, "password": password, "device_id": Uuid::new_v4()}))
        .send()
        .await
        .expect("send");
    Answer::read(resp).await
}

/// The dashboard's login form: status, `Retry-After`, page.
async fn web_login(url: &str, username: &str, password: &str) -> (u16, Option<u64>, String) {
    let r = web::http()
        .post(format!("{url}/review/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username={username}&password={password}"))
        .send()
        .await
        .expect("login request");
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, retry_after, r.text().await.expect("body"))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// No throttling in the way of many failures from one address.
fn unthrottled(c: &mut gridbook_sync_server::Config) {
    c.login_free_failures = 1_000_000;
    c.login_lock_after = 1_000_000;
}

/// Medians of 50 logins of an unknown user and 50 wrong passwords of `known`, interleaved (so
/// that a slow moment of the machine hits both), through `attempt` (which asserts the 401).
async fn medians<F, Fut>(known: &str, attempt: F) -> (Duration, Duration)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    for i in 0..50 {
        let t = Instant::now();
        attempt(format!("nobody{i}")).await;
        unknown.push(t.elapsed());
        let t = Instant::now();
        attempt(known.to_string()).await;
        wrong.push(t.elapsed());
    }
    (median(unknown), median(wrong))
}

/// Within 20 %: the first of up to 3 measurements that is (other tests share the machine; a
/// leak of the old kind, 0.5 ms against 20 ms, fails all three).
async fn same_time<F, Fut>(what: &str, known: &str, attempt: F)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (u, w) = medians(known, &attempt).await;
        eprintln!("{what}: unknown user {u:?}, wrong password {w:?} (medians of 50)");
        assert!(w >= Duration::from_millis(2), "the hash dominates a login here: {w:?}");
        let ratio = u.as_secs_f64() / w.as_secs_f64();
        if (0.8..1.2).contains(&ratio) {
            return;
        }
        seen.push((u, w));
    }
    panic!("{what}: unknown user and wrong password differ by more than 20 %: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_user_costs_the_time_of_a_wrong_password() {
    // A hash costly enough to dominate the rest of a login (as the 19 MiB default does).
    let server = TestServer::start_with(|c| {
        unthrottled(c);
        c.argon2_memory_kib = 8 * 1024;
        c.argon2_iterations = 1;
    })
    .await;
    let url = server.url.clone();
    // The demo accounts were seeded at this cost too (the dummy hash has the config's cost).
    let client = reqwest::Client::new();
    assert_eq!(
        login(&client, &url, "grid01", &server.password("grid01")).await.status,
        200
    );
    same_time("phone login", "grid01", |username| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let a = login(&client, &url, &username, "wrong-password-1").await;
            assert_eq!((a.status, a.code()), (401, "bad_credentials"), "{username}");
        }
    })
    .await;
    // The dashboard's login form alike.
    same_time("dashboard login", "community1", |username| {
        let url = url.clone();
        async move {
            let (status, _, _) = web_login(&url, &username, "wrong-password-1").await;
            assert_eq!(status, 401, "{username}");
        }
    })
    .await;
    server.stop().await;
}

/// Occupy every slot of the server's pool until the returned sender is dropped or sent to.
async fn hold_slot(server: &TestServer) -> (std::sync::mpsc::Sender<()>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let pool = server.state.hasher.clone();
    let before = pool.admitted();
    let task = tokio::spawn(async move {
        pool.run(move |_| {
            let _ = rx.recv();
            Ok(())
        })
        .await
        .expect("held slot");
    });
    while server.state.hasher.admitted() <= before {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (tx, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_pool_answers_503_server_busy_with_retry_after() {
    let server = TestServer::start_with(|c| {
        c.login_hash_threads = 1;
        c.login_queue = 1;
        c.login_queue_timeout_ms = 30_000;
        c.login_free_failures = 1;
        c.login_delay_base_ms = 0;
        c.login_lock_after = 3;
    })
    .await;
    let url = server.url.clone();
    let client = reqwest::Client::new();
    // Lock grid02 first (3 failures).
    for _ in 0..3 {
        assert_eq!(login(&client, &url, "grid02", "wrong-password-1").await.status, 401);
    }
    let (release, held) = hold_slot(&server).await;
    // The one place in the queue: a right password, which waits for the slot.
    let queued = {
        let (client, url, pw) = (client.clone(), url.clone(), server.password("grid01"));
        tokio::spawn(async move { login(&client, &url, "grid01", &pw).await })
    };
    while server.state.hasher.admitted() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Pool and queue full: refused at once, typed, with Retry-After.
    let t = Instant::now();
    let a = login(&client, &url, "grid03", &server.password("grid03")).await;
    assert_eq!((a.status, a.code()), (503, "server_busy"), "{}", a.body);
    assert!(t.elapsed() < Duration::from_secs(5), "refused without waiting");
    let secs = a.retry_after.expect("Retry-After");
    assert!((1..=60).contains(&secs), "{secs}");
    assert!(a.body["message_zh"].as_str().unwrap().contains("繁忙"), "{}", a.body);
    assert!(a.body["message"].as_str().unwrap().contains("busy"), "{}", a.body);
    // The dashboard's form too, as a page with Retry-After.
    let (status, retry, page) = web_login(&url, "community1", &server.password("community1")).await;
    assert_eq!(status, 503);
    assert!(retry.is_some_and(|s| s >= 1));
    assert!(page.contains("繁忙"), "{page}");
    // A locked account is refused by the throttle before it queues: 429, not 503.
    let a = login(&client, &url, "grid02", &server.password("grid02")).await;
    assert_eq!((a.status, a.code()), (429, "login_locked"));
    // Once the slot is free, the queued login goes through.
    release.send(()).unwrap();
    held.await.unwrap();
    let a = queued.await.unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["token"].as_str().is_some());
    assert_eq!(server.state.hasher.admitted(), 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_waiting_past_the_queue_time_limit_gets_503() {
    let server = TestServer::start_with(|c| {
        c.login_hash_threads = 1;
        c.login_queue = 10;
        c.login_queue_timeout_ms = 300;
    })
    .await;
    let client = reqwest::Client::new();
    let (release, held) = hold_slot(&server).await;
    let t = Instant::now();
    let a = login(&client, &server.url, "grid01", &server.password("grid01")).await;
    assert_eq!((a.status, a.code()), (503, "server_busy"), "{}", a.body);
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert!(a.retry_after.is_some());
    release.send(()).unwrap();
    held.await.unwrap();
    let a = login(&client, &server.url, "grid01", &server.password("grid01")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn right_passwords_log_in_under_concurrency() {
    let server = TestServer::start_with(|c| {
        unthrottled(c);
        c.login_hash_threads = 2;
        c.argon2_memory_kib = 1024;
    })
    .await;
    let url = server.url.clone();
    let client = reqwest::Client::new();
    let accounts: Vec<(String, String)> = server
        .plan
        .accounts
        .iter()
        .map(|a| (a.username.clone(), a.password.clone()))
        .collect();
    assert!(accounts.len() >= 5);
    let mut tasks = Vec::new();
    for round in 0..6 {
        for (username, password) in &accounts {
            let right = (round + username.len()) % 2 == 0;
            let password = if right {
                password.clone()
            } else {
                format!("{password}-wrong")
            };
            let (client, url, username) = (client.clone(), url.clone(), username.clone());
            tasks.push(tokio::spawn(async move {
                (right, login(&client, &url, &username, &password).await)
            }));
        }
    }
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        let (right, a) = t.await.unwrap();
        if right {
            assert_eq!(a.status, 200, "{}", a.body);
            assert!(a.body["token"].as_str().is_some_and(|t| t.len() == 64));
            ok += 1;
        } else {
            assert_eq!((a.status, a.code()), (401, "bad_credentials"), "{}", a.body);
            refused += 1;
        }
    }
    assert!(ok > 10 && refused > 10, "{ok} {refused}");
    assert_eq!(server.state.hasher.admitted(), 0);
    server.stop().await;
}
