//! Issues 16 and 24, login flood: the release `gridbook-server demo` on 127.0.0.1 gets
//! `FLOOD_LOGINS` (default 1,000) concurrent `POST /v1/login`, right and wrong passwords and
//! unknown user names mixed, from `FLOOD_ADDRS` (default 10) source addresses 127.0.0.2,
//! 127.0.0.3, … (each client socket bound to its address), all released at once. Meanwhile a
//! phone (an encrypted store, logged in before the flood) makes a household and syncs.
//!
//! Checks, and exits 1 if one fails:
//! - every login gets an answer: `200`, `401 bad_credentials`, `429 login_throttled` /
//!   `login_locked`, or `503 server_busy` with `Retry-After`; nothing else, no transport error;
//! - the phone's sync during the flood succeeds (its household is pushed);
//! - the server's peak RSS during the flood (sampled every 10 ms from /proc, and VmHWM) stays
//!   under `FLOOD_PEAK_MIB` (default 150);
//! - within 60 s after the flood the server's RSS is back within 20 MiB of its idle figure
//!   (after start, one login and the phone's first sync).
//!
//! Run: `cargo bench -p gridbook-sync-server --bench login_flood` (builds the release server;
//! figures in docs/benchmarks.md). Not run in CI: it measures a whole machine.

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use gridbook_core::domain::{GridAssignment, Household, HousingUse, Role};
use gridbook_core::sync::{ClientConfig, SyncClient};
use gridbook_core::{Identity, Store, StoreKey};
use uuid::Uuid;

fn env(key: &str, default: usize) -> usize {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `gridbook-server demo --data DIR --listen 127.0.0.1:0` (the README's first command).
fn spawn(data: &Path) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gridbook-server"))
        .args(["demo", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .env("GRIDBOOK_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start gridbook-server");
    let stdout = child.stdout.take().expect("stdout");
    let server = Server(child);
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap_or(0) > 0,
            "gridbook-server exited before listening"
        );
        if let Some(addr) = line.trim().strip_prefix("gridbook-server listening on ") {
            let url = addr.to_string();
            std::thread::spawn(move || for _ in reader.lines() {});
            return (server, url);
        }
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// What one login got, as `status code` (`503 server_busy` only with `Retry-After`).
async fn login(client: reqwest::Client, url: String, username: String, password: String) -> String {
    let r = client
        .post(format!("{url}/v1/login"))
        .json(&serde_json::json!({"username": username, "password": password, "device_id": Uuid::new_v4()}))
        .send()
        .await;
    let resp = match r {
        Ok(r) => r,
        Err(e) => return format!("transport error: {e}"),
    };
    let status = resp.status().as_u16();
    let retry_after = resp.headers().contains_key("retry-after");
    let body: serde_json::Value = match resp.bytes().await {
        Ok(b) => serde_json::from_slice(&b).unwrap_or(serde_json::Value::Null),
        Err(e) => return format!("body error: {e}"),
    };
    let code = if status == 200 {
        if body["token"].as_str().is_some() {
            "ok"
        } else {
            "no token"
        }
    } else {
        body["code"].as_str().unwrap_or("no code")
    };
    let missing = if status == 503 && !retry_after {
        " (no Retry-After)"
    } else {
        ""
    };
    format!("{status} {code}{missing}")
}

fn phone_store(dir: &Path) -> Store {
    let nobody = Identity {
        account_id: String::new(),
        role: Role::GridWorker,
        org_node: String::new(),
        grids: vec![],
    };
    let key = StoreKey::from_bytes(&[7u8; 32]).expect("key");
    Store::open_encrypted(&dir.join("phone.sqlite3"), &key, nobody).expect("phone store")
}

fn household(grid: &str) -> Household {
    let day = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
    Household {
        grid_assignments: vec![GridAssignment {
            grid_id: grid.into(),
            from: day,
        }],
        building: "9栋".into(),
        unit: "1单元".into(),
        room: "101".into(),
        address: "幸福小区9栋1单元101室".into(),
        housing_use: HousingUse::OwnerOccupied,
        registered_on: day,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let logins = env("FLOOD_LOGINS", 1_000);
    let addrs = env("FLOOD_ADDRS", 10).clamp(1, 250);
    let peak_target_mib = env("FLOOD_PEAK_MIB", 150) as f64;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("server");
    let (server, url) = spawn(&data);
    let pid = server.0.id();
    let rss = move || common::vm_kib(pid, "VmRSS:");
    println!("server pid {pid} at {url}; RSS after start {:.1} MiB", mib(rss()));

    // Warm up: the phone logs in and syncs once (before the flood).
    let grid01 = gridbook_sync_server::demo::plan()
        .accounts
        .into_iter()
        .find(|a| a.username == "grid01")
        .expect("grid01");
    let phone_dir = tempfile::tempdir().expect("tempdir");
    let mut store = phone_store(phone_dir.path());
    let config = ClientConfig {
        allow_insecure_http: true,
        ..ClientConfig::default()
    };
    let mut client = SyncClient::with_config(&url, config).expect("client");
    let info = client
        .login(&mut store, "grid01", &grid01.password, "flood phone")
        .await
        .expect("phone login");
    client.sync(&mut store).await.expect("first sync");
    let grid = info.grids.first().cloned().expect("grid01 has a grid");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss();
    println!("idle RSS (after start, a login and a sync) {:.1} MiB", mib(idle));

    // Sample the RSS every 10 ms from now on.
    let peak = Arc::new(AtomicU64::new(idle));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(common::vm_kib(pid, "VmRSS:"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };

    // The flood: one client per source address; every login its own connection.
    let accounts = gridbook_sync_server::demo::plan().accounts;
    let clients: Vec<reqwest::Client> = (0..addrs)
        .map(|i| {
            reqwest::Client::builder()
                .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + i as u8)))
                .timeout(Duration::from_secs(120))
                .build()
                .expect("client")
        })
        .collect();
    let go = Arc::new(tokio::sync::Barrier::new(logins + 1));
    let mut tasks = Vec::with_capacity(logins);
    for i in 0..logins {
        let a = &accounts[i % accounts.len()];
        // Right, wrong and unknown: 2 : 1 : 1.
        let (username, password) = match i % 4 {
            0 | 1 => (a.username.clone(), a.password.clone()),
            2 => (a.username.clone(), format!("{}-wrong", a.password)),
            _ => (format!("nobody{i}"), "wrong-password-1".to_string()),
        };
        let (c, u, go) = (clients[i % addrs].clone(), url.clone(), go.clone());
        tasks.push(tokio::spawn(async move {
            go.wait().await;
            let t = Instant::now();
            let answer = login(c, u, username, password).await;
            (answer, t.elapsed())
        }));
    }
    let start = Instant::now();
    go.wait().await;
    // The phone during the flood: a new household, pushed.
    let phone = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        store.create(&household(&grid)).expect("household");
        let t = Instant::now();
        let r = client.sync(&mut store).await;
        (r, t.elapsed())
    };
    let answers = async {
        let mut out = Vec::with_capacity(logins);
        for t in tasks {
            out.push(t.await.expect("login task"));
        }
        out
    };
    let ((sync, sync_took), answers) = tokio::join!(phone, answers);
    let flood_took = start.elapsed();
    sampling.store(false, Ordering::Relaxed);
    sampler.join().expect("sampler");
    let peak_kib = peak.load(Ordering::Relaxed).max(common::vm_kib(pid, "VmHWM:"));

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut slowest = Duration::ZERO;
    for (a, took) in &answers {
        *counts.entry(a.clone()).or_default() += 1;
        slowest = slowest.max(*took);
    }
    let allowed = [
        "200 ok",
        "401 bad_credentials",
        "429 login_throttled",
        "429 login_locked",
        "503 server_busy",
    ];
    let unexpected: usize = counts
        .iter()
        .filter(|(k, _)| !allowed.contains(&k.as_str()))
        .map(|(_, n)| n)
        .sum();
    println!(
        "{logins} concurrent logins from {addrs} addresses in {:.1} s (slowest answer {:.1} s):",
        flood_took.as_secs_f64(),
        slowest.as_secs_f64()
    );
    for (k, n) in &counts {
        println!("  {n:>5}  {k}");
    }
    let sync_ok = match &sync {
        Ok(s) => {
            println!(
                "phone sync during the flood: sent {}, {:.2} s",
                s.sent,
                sync_took.as_secs_f64()
            );
            s.sent == 1
        }
        Err(e) => {
            println!("phone sync during the flood FAILED: {e}");
            false
        }
    };
    println!(
        "server peak RSS {:.1} MiB (idle {:.1} MiB; target < {peak_target_mib:.0} MiB)",
        mib(peak_kib),
        mib(idle)
    );

    // Back to idle?
    let back_start = Instant::now();
    let mut back = None;
    while back_start.elapsed() < Duration::from_secs(60) {
        let now = rss();
        if now <= idle + 20 * 1024 {
            back = Some((back_start.elapsed(), now));
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    match back {
        Some((t, now)) => println!(
            "RSS back to {:.1} MiB (idle + {:.1} MiB) {:.1} s after the flood",
            mib(now),
            mib(now.saturating_sub(idle)),
            t.as_secs_f64()
        ),
        None => println!("RSS still {:.1} MiB 60 s after the flood", mib(rss())),
    }
    let verdicts = [
        ("every login answered with an expected status and code", unexpected == 0),
        ("the phone's sync during the flood succeeded", sync_ok),
        ("peak RSS under target", mib(peak_kib) < peak_target_mib),
        ("RSS back within 20 MiB of idle within 60 s", back.is_some()),
    ];
    let mut failed = false;
    for (what, ok) in verdicts {
        println!("{} {what}", if ok { "PASS" } else { "FAIL" });
        failed |= !ok;
    }
    drop(server);
    if failed {
        std::process::exit(1);
    }
}
