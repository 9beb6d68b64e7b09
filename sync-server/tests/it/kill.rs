//! The server is SIGKILLed while phones push; restarted on the same data, nothing acked is
//! lost and nothing is stored twice.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use chrono::NaiveDate;
use gridbook_core::domain::{GridAssignment, Household, HousingUse, Role};
use gridbook_core::sync::{ClientConfig, SyncClient};
use gridbook_core::{Identity, Store};
use rusqlite::{Connection, OpenFlags};

pub(crate) struct Server {
    pub(crate) child: Child,
    _stdout: BufReader<ChildStdout>,
    pub(crate) port: u16,
}

/// Start `gridbook-server demo` on `data` (port 0 = any) and wait for its address.
pub(crate) fn spawn(data: &Path, port: u16) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gridbook-server"))
        .args(["demo", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(data)
        .args(["--households", "1", "--days", "2"])
        .env("GRIDBOOK_ARGON2_MEMORY_KIB", "256")
        .env("GRIDBOOK_ARGON2_ITERATIONS", "1")
        .env("GRIDBOOK_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start gridbook-server");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                let _ = tx.send(None);
                return;
            }
            if let Some(addr) = line.trim().strip_prefix("gridbook-server listening on http://") {
                let port: u16 = addr.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0);
                let _ = tx.send(Some((port, reader)));
                return;
            }
        }
    });
    let (port, reader) = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("server started in time")
        .expect("server printed its address");
    Server {
        child,
        _stdout: reader,
        port,
    }
}

fn household(grid: &str, room: usize) -> Household {
    let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    Household {
        grid_assignments: vec![GridAssignment {
            grid_id: grid.into(),
            from: day,
        }],
        building: "1栋".into(),
        unit: "1单元".into(),
        room: room.to_string(),
        address: format!("幸福小区1栋1单元{room}室"),
        housing_use: HousingUse::OwnerOccupied,
        registered_on: day,
    }
}

pub(crate) async fn phone(dir: &Path, name: &str, url: &str) -> (Store, SyncClient) {
    let nobody = Identity {
        account_id: String::new(),
        role: Role::GridLeader,
        org_node: String::new(),
        grids: vec![],
    };
    let mut store = Store::open(&dir.join(name), nobody).unwrap();
    let config = ClientConfig {
        max_push_changes: 25,
        max_attempts: 12,
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_secs(2),
        // The demo server speaks plain HTTP on loopback (development flag, explicit).
        allow_insecure_http: true,
        ..ClientConfig::default()
    };
    let mut client = SyncClient::with_config(url, config).unwrap();
    client.login(&mut store, "grid01", "demo-grid01", name).await.unwrap();
    (store, client)
}

fn log_counts(data: &Path, hashes: &[String]) -> Vec<i64> {
    let db = Connection::open_with_flags(data.join("gridbook.sqlite3"), OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    hashes
        .iter()
        .map(|h| {
            db.query_row("SELECT count(*) FROM change_log WHERE hash = ?1", [h], |r| r.get(0))
                .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_a_push_loses_nothing_acked_and_stores_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = spawn(&data, 0);
    let port = server.port;
    let url = format!("http://127.0.0.1:{port}");
    let (mut store, client) = phone(dir.path(), "a.sqlite3", &url).await;
    client.sync(&mut store).await.unwrap();
    let grid = store.identity().grids[0].clone();

    // 1. Acked, then killed at once: still there after the restart.
    for i in 0..30 {
        store.create(&household(&grid, 100 + i)).unwrap();
    }
    let first: Vec<String> = store.outbox(1000).unwrap().into_iter().map(|e| e.hash).collect();
    let s = client.sync(&mut store).await.unwrap();
    assert_eq!(s.sent, 30);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    server = spawn(&data, port);
    assert_eq!(
        log_counts(&data, &first),
        vec![1; 30],
        "every acked change survived the kill"
    );

    // 2. Killed while a sync is pushing; the client retries into the restarted server.
    for i in 0..200 {
        store.create(&household(&grid, 1000 + i)).unwrap();
    }
    let second: Vec<String> = store.outbox(1000).unwrap().into_iter().map(|e| e.hash).collect();
    let data2 = data.clone();
    let watched = second.clone();
    let killer = tokio::spawn(async move {
        // Kill as soon as the server has committed part of the push (it is mid-sync).
        for _ in 0..2_000 {
            if log_counts(&data2, &watched).iter().any(|n| *n > 0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        let killed_at = std::time::Instant::now();
        let partial = log_counts(&data2, &watched).iter().sum::<i64>();
        let server = tokio::task::spawn_blocking(move || spawn(&data2, port)).await.unwrap();
        (server, killed_at, partial)
    });
    let s = client
        .sync(&mut store)
        .await
        .expect("the client retries until the server is back");
    let done_at = std::time::Instant::now();
    let (mut server, killed_at, partial) = killer.await.unwrap();
    assert!(done_at > killed_at, "the kill happened during the sync");
    assert!(
        partial > 0,
        "the kill came after the server had committed part of the push"
    );
    eprintln!("killed with {partial} of 200 changes committed");
    assert!(s.sent <= 200);
    assert_eq!(store.outbox_len().unwrap(), 0, "everything acked in the end");
    assert_eq!(log_counts(&data, &second), vec![1; 200], "stored exactly once");

    // 3. Another device gets all of it.
    let (mut other, client2) = phone(dir.path(), "b.sqlite3", &url).await;
    client2.sync(&mut other).await.unwrap();
    let n: i64 = other
        .connection()
        .query_row("SELECT count(*) FROM households WHERE grid_id = ?1", [&grid], |r| {
            r.get(0)
        })
        .unwrap();
    let mine: i64 = store
        .connection()
        .query_row("SELECT count(*) FROM households WHERE grid_id = ?1", [&grid], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, mine);
    assert!(n >= 230);
    let db = Connection::open_with_flags(data.join("gridbook.sqlite3"), OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let ok: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}
