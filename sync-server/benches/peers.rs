//! Issue 10, gridbook side of `bash bench/run.sh`: the scenarios the Node peers run
//! (`bench/peers.mjs`), against a release `gridbook-server` child process on 127.0.0.1 with
//! phones as real file-backed stores.
//!
//! For each N in `BENCH_N` (default "2000 10000"):
//! (A) one device creates N house-call ledgers offline, then syncs them up (the server commits
//!     with `synchronous=FULL` before it answers, so the answer means "durable");
//! (B) a fresh device of the same grid pulls all N;
//! (C) a sync with nothing new, median of 100;
//! (D) 100 records edited on one device reach another (push + pull).
//! Plus the floor: raw SQLite (WAL, synchronous=FULL) inserting the same record JSON bytes in
//! one transaction.
//!
//! Writes the records as JSON lines to `$BENCH_DIR/records-N.jsonl` (the peers load the same
//! bytes) and one JSON result line per N to `$BENCH_DIR/results.jsonl`.
//! Run alone: `BENCH_DIR=/tmp/x cargo bench -p gridbook-sync-server --bench peers`.

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeZone, Utc};
use gridbook_core::domain::{AnswerType, GridAssignment, HouseCall, Household, HousingUse, Problem, Role};
use gridbook_core::sync::{ClientConfig, SyncClient, SyncSummary};
use gridbook_core::{Identity, Store};
use serde_json::json;

const NOTES: &str = "入户了解家庭情况，老人身体状况良好，子女每周回家探望。住户反映楼道照明损坏，已联系物业维修。";

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(data: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gridbook-server"))
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--households",
            "0",
            "--days",
            "0",
            "--data",
        ])
        .arg(data)
        .env("GRIDBOOK_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start gridbook-server (cargo bench builds it)");
    let stdout = child.stdout.take().expect("stdout");
    let mut server = Server {
        child,
        url: String::new(),
    };
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("gridbook-server exited before listening");
        }
        if let Some(addr) = line.trim().strip_prefix("gridbook-server listening on ") {
            server.url = addr.to_string();
            std::thread::spawn(move || for _ in reader.lines() {});
            return server;
        }
    }
}

fn du(path: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(path) {
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                total += du(&e.path());
            } else {
                total += m.len();
            }
        }
    }
    total
}

/// The phone's default client configuration.
fn config() -> ClientConfig {
    ClientConfig {
        allow_insecure_http: true, // loopback bench server: plain HTTP (development flag)
        ..ClientConfig::default()
    }
}

async fn phone(path: &Path, name: &str, url: &str) -> (Store, SyncClient) {
    let nobody = Identity {
        account_id: String::new(),
        role: Role::GridLeader,
        org_node: String::new(),
        grids: vec![],
    };
    // Encrypted, as every phone's store is (the FFI opens it with the keystore's key).
    let key = [uuid::Uuid::new_v4().into_bytes(), uuid::Uuid::new_v4().into_bytes()].concat();
    let key = gridbook_core::StoreKey::from_bytes(&key).expect("store key");
    let mut store = Store::open_encrypted(path, &key, nobody).expect("store");
    let mut client = SyncClient::with_config(url, config()).expect("client");
    client
        .login(&mut store, "grid01", "demo-grid01", name)
        .await
        .expect("login");
    (store, client)
}

/// A visit ledger entry: 8 checklist answers, 2 problems, notes in Chinese (~680 bytes JSON).
fn house_call(store: &Store, grid: &str, household: &str, i: usize) -> HouseCall {
    let template = store.active_template().expect("template");
    let mut answers = BTreeMap::new();
    // 8 checklist booleans (the template's first 8 yes/no items).
    for (k, item) in template
        .items()
        .filter(|t| matches!(t.answer, AnswerType::Bool))
        .take(8)
        .enumerate()
    {
        answers.insert(item.id.clone(), json!(!(i + k).is_multiple_of(3)));
    }
    let start = Utc.with_ymd_and_hms(2026, 11, 2, 1, 0, 0).unwrap() + chrono::Duration::minutes(i as i64);
    HouseCall {
        grid_id: grid.into(),
        household_id: household.into(),
        person_ids: vec![],
        visitor: "grid01".into(),
        companions: vec![],
        started_at: start,
        ended_at: start + chrono::Duration::minutes(20),
        location: None,
        template_id: template.template_id.clone(),
        template_version: template.version,
        answers,
        problems: vec![
            Problem {
                kind: "dispute".into(),
                description: "邻里噪音纠纷，已现场调解".into(),
                solved_on_spot: true,
                reported: false,
                case_id: None,
            },
            Problem {
                kind: "fire_hazard".into(),
                description: "楼道堆放杂物，已提醒清理".into(),
                solved_on_spot: false,
                reported: false,
                case_id: None,
            },
        ],
        photos: vec![],
        follow_up_due: None,
        notes: NOTES.into(),
    }
}

fn floor(dir: &Path, rows: &[(String, Vec<u8>)]) -> Duration {
    let path = dir.join("floor.sqlite3");
    let conn = rusqlite::Connection::open(&path).expect("floor db");
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
         CREATE TABLE records (id TEXT PRIMARY KEY, body BLOB NOT NULL);",
    )
    .expect("floor schema");
    let mut conn = conn;
    let t = Instant::now();
    let tx = conn.transaction().expect("tx");
    {
        let mut stmt = tx
            .prepare("INSERT INTO records (id, body) VALUES (?1, ?2)")
            .expect("stmt");
        for (id, body) in rows {
            stmt.execute(rusqlite::params![id, body]).expect("insert");
        }
    }
    tx.commit().expect("commit");
    t.elapsed()
}

fn wire(s: &SyncSummary) -> u64 {
    s.bytes_sent + s.bytes_received
}

async fn one(n: usize, out: &Path) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = spawn(&data);
    let pid = server.child.id();
    let (mut a, ca) = phone(&dir.path().join("a.sqlite3"), "a", &server.url).await;
    ca.sync(&mut a).await.expect("first sync");
    let grid = a.identity().grids[0].clone();
    let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let household = a
        .create(&Household {
            grid_assignments: vec![GridAssignment {
                grid_id: grid.clone(),
                from: day,
            }],
            building: "1栋".into(),
            unit: "1单元".into(),
            room: "101".into(),
            address: "幸福小区1栋1单元101室".into(),
            housing_use: HousingUse::OwnerOccupied,
            registered_on: day,
        })
        .expect("household");
    ca.sync(&mut a).await.expect("household sync");
    let disk_before = du(&data);

    // Records, and the same bytes for the peers and the floor.
    let mut ids = Vec::with_capacity(n);
    let mut rows = Vec::with_capacity(n);
    let mut jsonl =
        std::io::BufWriter::new(std::fs::File::create(out.join(format!("records-{n}.jsonl"))).expect("jsonl"));
    let t = Instant::now();
    for i in 0..n {
        let hc = house_call(&a, &grid, &household, i);
        let id = a.create(&hc).expect("create");
        let body = serde_json::to_vec(&hc).expect("json");
        jsonl.write_all(&body).unwrap();
        jsonl.write_all(b"\n").unwrap();
        rows.push((id.clone(), body));
        ids.push(id);
    }
    jsonl.flush().unwrap();
    let local = t.elapsed();
    let record_bytes = rows.iter().map(|r| r.1.len()).sum::<usize>() / n;
    eprintln!(
        "gridbook N={n}: made {n} records locally in {:.1} s ({record_bytes} B JSON each)",
        local.as_secs_f64()
    );

    let perf = common::perf_start(
        pid,
        &format!("upload-{n}"),
        &["--call-graph", "dwarf,16384", "-F", "199"],
    );
    let t = Instant::now();
    let up = ca.sync(&mut a).await.expect("upload");
    let upload = t.elapsed();
    common::perf_stop(perf);
    assert_eq!(up.sent, n as u64, "every record acknowledged");
    eprintln!(
        "  A upload {:.2} s, {} B, {} requests",
        upload.as_secs_f64(),
        wire(&up),
        up.requests
    );

    let (mut b, cb) = phone(&dir.path().join("b.sqlite3"), "b", &server.url).await;
    let t = Instant::now();
    let down = cb.sync(&mut b).await.expect("pull");
    let pull = t.elapsed();
    let got: i64 = b
        .connection()
        .query_row("SELECT count(*) FROM house_calls", [], |r| r.get(0))
        .unwrap();
    assert_eq!(got as usize, n);
    eprintln!(
        "  B pull {:.2} s, {} B, {} requests",
        pull.as_secs_f64(),
        wire(&down),
        down.requests
    );

    let mut times = Vec::with_capacity(100);
    let mut last = SyncSummary::default();
    let deadline = Instant::now() + Duration::from_secs(60);
    for _ in 0..100 {
        let t = Instant::now();
        last = cb.sync(&mut b).await.expect("no-change sync");
        times.push(t.elapsed());
        if Instant::now() > deadline {
            break;
        }
    }
    times.sort();
    let median = times[times.len() / 2];
    eprintln!(
        "  C no-change median {:.2} ms ({} runs), {} B",
        median.as_secs_f64() * 1e3,
        times.len(),
        wire(&last)
    );

    for (i, id) in ids.iter().take(100).enumerate() {
        let mut hc: HouseCall = a.get(id).expect("get");
        hc.notes = format!("{}（第{}次修改）", hc.notes, i + 1);
        a.update(id, &hc).expect("update");
    }
    let t = Instant::now();
    let push = ca.sync(&mut a).await.expect("push 100");
    let pull100 = cb.sync(&mut b).await.expect("pull 100");
    let reach = t.elapsed();
    assert_eq!(pull100.received, 100);
    eprintln!(
        "  D 100 edits {:.3} s, {} B",
        reach.as_secs_f64(),
        wire(&push) + wire(&pull100)
    );

    let hwm = common::vm_kib(pid, "VmHWM:");
    let disk = du(&data);
    drop(server);
    let fl = floor(dir.path(), &rows);
    eprintln!(
        "  server VmHWM {:.1} MiB, disk {:.1} MiB; floor {:.3} s",
        hwm as f64 / 1024.0,
        disk as f64 / 1048576.0,
        fl.as_secs_f64()
    );
    json!({
        "system": "gridbook",
        "n": n,
        "record_bytes": record_bytes,
        "upload_s": upload.as_secs_f64(),
        "upload_bytes": wire(&up),
        "pull_s": pull.as_secs_f64(),
        "pull_bytes": wire(&down),
        "nochange_ms": median.as_secs_f64() * 1e3,
        "nochange_bytes": wire(&last),
        "edit_s": reach.as_secs_f64(),
        "edit_bytes": wire(&push) + wire(&pull100),
        "rss_kib": hwm,
        "disk_bytes": disk,
        "disk_bytes_before": disk_before,
        "floor_s": fl.as_secs_f64(),
    })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let out = PathBuf::from(std::env::var("BENCH_DIR").unwrap_or_else(|_| "target/peer-bench".into()));
    std::fs::create_dir_all(&out).expect("out dir");
    let ns: Vec<usize> = std::env::var("BENCH_N")
        .unwrap_or_else(|_| "2000 10000".into())
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for n in ns {
        let v = rt.block_on(one(n, &out));
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out.join("results.jsonl"))
            .expect("results");
        writeln!(f, "{v}").expect("write result");
    }
}
