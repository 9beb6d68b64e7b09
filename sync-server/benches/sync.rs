//! Sync benchmark: a release `gridbook-server` as a child process on loopback, phones as
//! real stores in temporary files.
//!
//! 1. one device uploads 10,000 house-call records (≈25 operations each, like a ledger entry);
//! 2. a fresh device of the same grid pulls them (snapshot bootstrap);
//! 3. a sync with nothing new, median of 100;
//! 4. 100 records changed on one device reach another (push sync + pull sync).
//!
//! Prints wall times, bytes on the wire (gzip bodies) and the server's peak RSS (VmHWM).
//! Run: `cargo bench -p gridbook-sync-server --bench sync`; with `BENCH_ENCRYPTED=1` the
//! server's database is encrypted (a `database_key_file`, ADR 0009).

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeZone, Utc};
use gridbook_core::domain::{AnswerType, GridAssignment, HouseCall, Household, HousingUse, Role};
use gridbook_core::sync::{ClientConfig, SyncClient, SyncSummary};
use gridbook_core::{Identity, Store};
use serde_json::json;

const RECORDS: usize = 10_000;
const NOTES: &str = "入户了解家庭情况，老人身体状况良好，子女每周回家探望，对社区服务表示满意。住户反映楼道照明损坏，夜间出行不便，已联系物业维修，约定三日内完成。邻里因噪音问题产生矛盾，现场进行调解，双方同意各让一步，后续继续关注。宣传防范电信诈骗知识，发放宣传资料一份，提醒不要轻信陌生来电。独居老人反映取药困难，已协调志愿者每周代为取药，并登记联系方式。出租屋新入住租户两人，已登记身份信息并告知消防安全注意事项。";

fn spawn(data: &Path) -> (Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gridbook-server"));
    if std::env::var_os("BENCH_ENCRYPTED").is_some_and(|v| v != "0") {
        let key = data.with_extension("key");
        gridbook_sync_server::server_db::new_key_file(&key).expect("key file");
        cmd.env("GRIDBOOK_DATABASE_KEY_FILE", &key);
        println!("server database: encrypted (SQLCipher, ADR 0009)");
    } else {
        cmd.env_remove("GRIDBOOK_DATABASE_KEY_FILE");
        println!("server database: plain");
    }
    let mut child = cmd
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
        .env(
            "GRIDBOOK_LOG",
            std::env::var("BENCH_SERVER_LOG_LEVEL").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .stderr(match std::env::var("BENCH_SERVER_LOG") {
            Ok(path) => Stdio::from(std::fs::File::create(path).expect("log file")),
            Err(_) => Stdio::null(),
        })
        .spawn()
        .expect("start gridbook-server (cargo bench builds it)");
    let Some(stdout) = child.stdout.take() else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("no stdout of gridbook-server");
    };
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            let _ = child.kill();
            let _ = child.wait();
            panic!("gridbook-server exited before listening");
        }
        if let Some(addr) = line.trim().strip_prefix("gridbook-server listening on ") {
            let url = addr.to_string();
            std::thread::spawn(move || for _ in reader.lines() {});
            return (child, url);
        }
    }
}

async fn phone(dir: &Path, name: &str, url: &str) -> (Store, SyncClient) {
    let nobody = Identity {
        account_id: String::new(),
        role: Role::GridLeader,
        org_node: String::new(),
        grids: vec![],
    };
    // Encrypted, as every phone's store is (the FFI opens it with the keystore's key).
    let key = [uuid::Uuid::new_v4().into_bytes(), uuid::Uuid::new_v4().into_bytes()].concat();
    let key = gridbook_core::StoreKey::from_bytes(&key).expect("store key");
    let mut store = Store::open_encrypted(&dir.join(name), &key, nobody).expect("store");
    // The bench server speaks plain HTTP on loopback (development flag, explicit).
    let mut config = ClientConfig {
        allow_insecure_http: true,
        ..ClientConfig::default()
    };
    if let Some(n) = std::env::var("BENCH_PUSH_PAGE").ok().and_then(|v| v.parse().ok()) {
        config.max_push_changes = n;
        config.max_push_bytes = n * 2048;
    }
    let mut client = SyncClient::with_config(url, config).expect("client");
    client
        .login(&mut store, "grid01", "demo-grid01", name)
        .await
        .expect("login");
    (store, client)
}

fn house_call(store: &Store, grid: &str, household: &str, i: usize) -> HouseCall {
    let template = store.active_template().expect("template");
    let mut answers = BTreeMap::new();
    for item in template.items() {
        let v = match item.answer {
            AnswerType::Bool => json!(!i.is_multiple_of(3)),
            AnswerType::Choice => json!(item.options[i % item.options.len()]),
            AnswerType::Text => json!("无异常"),
            AnswerType::Number => json!(0),
        };
        answers.insert(item.id.clone(), v);
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
        problems: vec![],
        photos: vec![],
        follow_up_due: None,
        notes: NOTES.chars().take(240).collect(),
    }
}

fn line(name: &str, took: Duration, s: &SyncSummary) {
    println!(
        "{name:<34} {:>9.1} ms  sent {:>6} recv {:>6}  {:>3} req  up {:>9} B  down {:>9} B",
        took.as_secs_f64() * 1e3,
        s.sent,
        s.received,
        s.requests,
        s.bytes_sent,
        s.bytes_received
    );
}

async fn run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, url) = spawn(&dir.path().join("data"));
    let pid = child.id();
    let (mut a, ca) = phone(dir.path(), "a.sqlite3", &url).await;
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
    let t = Instant::now();
    let mut ids = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let hc = house_call(&a, &grid, &household, i);
        ids.push(a.create(&hc).expect("create"));
    }
    println!("(made {RECORDS} records locally in {:.1} s)", t.elapsed().as_secs_f64());

    let cpu = (common::cpu_secs(pid), common::cpu_secs(0));
    let t = Instant::now();
    let up = ca.sync(&mut a).await.expect("upload");
    let upload = t.elapsed();
    line("upload 10,000 records", upload, &up);
    println!(
        "  server RSS {:.1} MiB, peak {:.1} MiB; CPU server {:.2} s, phone {:.2} s",
        common::vm_kib(pid, "VmRSS:") as f64 / 1024.0,
        common::vm_kib(pid, "VmHWM:") as f64 / 1024.0,
        common::cpu_secs(pid) - cpu.0,
        common::cpu_secs(0) - cpu.1
    );
    assert_eq!(up.sent, RECORDS as u64 + 1);

    let (mut b, cb) = phone(dir.path(), "b.sqlite3", &url).await;
    let cpu = (common::cpu_secs(pid), common::cpu_secs(0));
    let t = Instant::now();
    let down = cb.sync(&mut b).await.expect("pull");
    let pull = t.elapsed();
    line("fresh device pulls them", pull, &down);
    println!(
        "  server RSS {:.1} MiB, peak {:.1} MiB; CPU server {:.2} s, phone {:.2} s",
        common::vm_kib(pid, "VmRSS:") as f64 / 1024.0,
        common::vm_kib(pid, "VmHWM:") as f64 / 1024.0,
        common::cpu_secs(pid) - cpu.0,
        common::cpu_secs(0) - cpu.1
    );
    let n: i64 = b
        .connection()
        .query_row("SELECT count(*) FROM house_calls", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n as usize, RECORDS);

    let mut times = Vec::with_capacity(100);
    let mut last = SyncSummary::default();
    for _ in 0..100 {
        let t = Instant::now();
        last = cb.sync(&mut b).await.expect("no-change sync");
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[50];
    line("no-change sync (median of 100)", median, &last);

    for (i, id) in ids.iter().take(100).enumerate() {
        let mut hc: HouseCall = a.get(id).expect("get");
        hc.notes = format!("{}（第{}次修改）", hc.notes, i + 1);
        a.update(id, &hc).expect("update");
    }
    let t = Instant::now();
    let push = ca.sync(&mut a).await.expect("push 100");
    let pull100 = cb.sync(&mut b).await.expect("pull 100");
    let reach = t.elapsed();
    line("100 changes: push", reach, &push);
    line("100 changes: pull (same interval)", reach, &pull100);
    assert_eq!(pull100.received, 100);
    let hwm = common::vm_kib(pid, "VmHWM:");
    println!("server peak RSS (VmHWM): {:.1} MiB", hwm as f64 / 1024.0);
    println!(
        "targets: upload {} | pull {} | no-change {} | RSS {}",
        if upload.as_secs_f64() <= 3.0 { "ok" } else { "MISSED" },
        if pull.as_secs_f64() <= 3.0 { "ok" } else { "MISSED" },
        if median.as_secs_f64() <= 0.002 { "ok" } else { "MISSED" },
        if hwm <= 100 * 1024 { "ok" } else { "MISSED" },
    );
    let _ = child.kill();
    let _ = child.wait();
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}
