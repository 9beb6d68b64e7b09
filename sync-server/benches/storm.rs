//! Issue 10, sync storm: one release `gridbook-server` child process on 127.0.0.1, a district of
//! `STORM_GRIDS` grids (default 2,257, one per grid of a real district) each holding
//! `STORM_PULL` records (default 200) and a grid worker account; then one device per grid
//! logs in, makes `STORM_NEW` records offline (default 20) and syncs once (push them, pull its
//! grid), at most `STORM_INFLIGHT` (default 200) syncs in flight. Devices are in-memory stores,
//! made when their turn comes and dropped after.
//!
//! The district is written into the server's database by this bench before the server starts
//! (through the server library's `Storage`: org tree, records, accounts; the server has no admin
//! path for bulk accounts). After the storm the server's `docs` table is counted: every record
//! pushed must be there.
//!
//! Prints total time, syncs/s, p50/p99/max sync latency, errors, server peak RSS (VmHWM).
//! Run: `cargo bench -p gridbook-sync-server --bench storm`.

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeZone, Utc};
use gridbook_core::demo::seeded_id;
use gridbook_core::domain::{
    AnswerType, GridAssignment, HouseCall, Household, HousingUse, OrgLevel, OrgNode, Problem, Role,
};
use gridbook_core::sync::{ClientConfig, SyncClient};
use gridbook_core::{Identity, RemoteChange, Store};
use gridbook_sync_server::storage::{Account, Storage};
use gridbook_sync_server::{AppState, Config, auth, demo};
use serde_json::json;

const NOTES: &str = "入户了解家庭情况，老人身体状况良好，子女每周回家探望。住户反映楼道照明损坏，已联系物业维修。";

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

fn house_call(store: &Store, grid: &str, household: &str, visitor: &str, i: usize) -> HouseCall {
    let template = store.active_template().expect("template");
    let mut answers = BTreeMap::new();
    for (k, item) in template
        .items()
        .filter(|t| matches!(t.answer, AnswerType::Bool))
        .take(8)
        .enumerate()
    {
        answers.insert(item.id.clone(), json!(!(i + k).is_multiple_of(3)));
    }
    let start = Utc.with_ymd_and_hms(2026, 11, 2, 1, 0, 0).unwrap() + chrono::Duration::minutes(i as i64);
    let problem = |kind: &str, d: &str| Problem {
        kind: kind.into(),
        description: d.into(),
        solved_on_spot: true,
        reported: false,
        case_id: None,
    };
    HouseCall {
        grid_id: grid.into(),
        household_id: household.into(),
        person_ids: vec![],
        visitor: visitor.into(),
        companions: vec![],
        started_at: start,
        ended_at: start + chrono::Duration::minutes(20),
        location: None,
        template_id: template.template_id.clone(),
        template_version: template.version,
        answers,
        problems: vec![
            problem("dispute", "邻里噪音纠纷，已现场调解"),
            problem("fire_hazard", "楼道堆放杂物，已提醒清理"),
        ],
        photos: vec![],
        follow_up_due: None,
        notes: NOTES.into(),
    }
}

fn household(grid: &str, i: usize) -> Household {
    let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    Household {
        grid_assignments: vec![GridAssignment {
            grid_id: grid.into(),
            from: day,
        }],
        building: format!("{}栋", i % 30 + 1),
        unit: "1单元".into(),
        room: "101".into(),
        address: format!("幸福小区{}栋1单元101室", i % 30 + 1),
        housing_use: HousingUse::OwnerOccupied,
        registered_on: day,
    }
}

fn admin(district: &str) -> Identity {
    Identity {
        account_id: "admin".into(),
        role: Role::DistrictAdmin,
        org_node: district.into(),
        grids: vec![],
    }
}

/// Org tree, `pull` records per grid and one grid-worker account per grid. Returns the grid ids
/// and one household id per grid.
fn seed(storage: Arc<dyn Storage>, grids: usize, pull: usize) -> Vec<(String, String, Vec<RemoteChange>)> {
    let from = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let node = |name: String, level, code: String, parent: Option<&String>| OrgNode {
        name,
        level,
        code,
        parent: parent.cloned(),
        effective_from: from,
        effective_to: None,
    };
    let district = seeded_id(0xD15);
    let mut org = Store::open_in_memory(admin(&district)).expect("store");
    org.create_with_id(
        &district,
        &node("邹城市".into(), OrgLevel::District, "370883".into(), None),
    )
    .expect("district");
    let per_community = 20;
    let communities = grids.div_ceil(per_community);
    let per_sub = 12;
    let subs: Vec<String> = (0..communities.div_ceil(per_sub))
        .map(|i| seeded_id(0x5B00 + i as u64))
        .collect();
    for (s, sid) in subs.iter().enumerate() {
        org.create_with_id(
            sid,
            &node(
                format!("第{}街道", s + 1),
                OrgLevel::SubDistrict,
                format!("370883{:03}", s + 1),
                Some(&district),
            ),
        )
        .expect("sub-district");
    }
    let cids: Vec<String> = (0..communities).map(|i| seeded_id(0xC000 + i as u64)).collect();
    for (c, cid) in cids.iter().enumerate() {
        org.create_with_id(
            cid,
            &node(
                format!("第{}社区", c + 1),
                OrgLevel::Community,
                format!("370883{:03}{:03}", c / per_sub + 1, c % per_sub + 1),
                Some(&subs[c / per_sub]),
            ),
        )
        .expect("community");
    }
    let gids: Vec<String> = (0..grids).map(|i| seeded_id(0x10_0000 + i as u64)).collect();
    for (g, gid) in gids.iter().enumerate() {
        let c = g / per_community;
        org.create_with_id(
            gid,
            &node(
                format!("第{}社区第{}网格", c + 1, g % per_community + 1),
                OrgLevel::Grid,
                format!(
                    "370883{:03}{:03}{:03}",
                    c / per_sub + 1,
                    c % per_sub + 1,
                    g % per_community + 1
                ),
                Some(&cids[c]),
            ),
        )
        .expect("grid");
    }
    demo::import(storage.as_ref(), &org).expect("import org tree");
    // Each record-making store below gets the org tree as remote changes (not in its outbox).
    let org_changes: Vec<RemoteChange> = org
        .outbox(usize::MAX >> 1)
        .expect("org outbox")
        .into_iter()
        .map(|e| RemoteChange {
            doc_id: e.doc_id,
            bytes: e.bytes,
        })
        .collect();
    drop(org);

    // Records: two threads, a fresh in-memory store (one "device") per 50 grids.
    let chunks: Vec<Vec<(usize, String)>> = gids
        .iter()
        .cloned()
        .enumerate()
        .collect::<Vec<_>>()
        .chunks(50)
        .map(|c| c.to_vec())
        .collect();
    let chunks = Arc::new(std::sync::Mutex::new(chunks));
    let out = Arc::new(std::sync::Mutex::new(Vec::new()));
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            let (chunks, out, storage, district) = (chunks.clone(), out.clone(), storage.clone(), district.clone());
            let org_changes = &org_changes;
            s.spawn(move || {
                loop {
                    let Some(chunk) = chunks.lock().unwrap().pop() else {
                        break;
                    };
                    let mut store = Store::open_in_memory(admin(&district)).expect("store");
                    store.apply_remote_changes(org_changes).expect("org tree");
                    let mut made = Vec::new();
                    for (g, gid) in &chunk {
                        let h = store.create(&household(gid, *g)).expect("household");
                        for i in 1..pull {
                            let hc = house_call(&store, gid, &h, &format!("w{g:04}"), i);
                            store.create(&hc).expect("house call");
                        }
                        made.push((*g, gid.clone(), h));
                    }
                    demo::import(storage.as_ref(), &store).expect("import records");
                    out.lock().unwrap().extend(made);
                }
            });
        }
    });
    eprintln!("seeded {} records in {:.1} s", grids * pull, t.elapsed().as_secs_f64());
    let hash = auth::hash_password("storm-pass", 256, 1).expect("hash");
    for (g, gid) in gids.iter().enumerate() {
        storage
            .create_account(&Account {
                id: format!("w{g:04}"),
                username: format!("w{g:04}"),
                display_name: format!("网格员{g}"),
                password_hash: hash.clone(),
                role: Role::GridWorker,
                org_node: gid.clone(),
                disabled: false,
            })
            .expect("account");
    }
    let mut made = std::mem::take(&mut *out.lock().unwrap());
    made.sort();
    // A phone in service already holds its grid's org chain (district → grid).
    let chain = |g: usize| -> Vec<RemoteChange> {
        let c = g / per_community;
        let ids = [&district, &subs[c / per_sub], &cids[c], &gids[g]];
        org_changes
            .iter()
            .filter(|r| ids.contains(&&r.doc_id))
            .cloned()
            .collect()
    };
    made.into_iter().map(|(g, gid, h)| (gid, h, chain(g))).collect()
}

fn spawn(data: &Path) -> (Server, String) {
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

fn doc_count(data: &Path) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(
        data.join("gridbook.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open server db");
    conn.query_row("SELECT count(*) FROM docs", [], |r| r.get(0))
        .expect("count")
}

async fn device(
    url: String,
    g: usize,
    grid: String,
    org: Vec<RemoteChange>,
    new: usize,
    pull: usize,
) -> Result<Duration, String> {
    let nobody = Identity {
        account_id: String::new(),
        role: Role::GridWorker,
        org_node: String::new(),
        grids: vec![],
    };
    let mut store = Store::open_in_memory(nobody).map_err(|e| e.to_string())?;
    store
        .apply_remote_changes(&org)
        .map_err(|e| format!("org chain: {e}"))?;
    // The phone's defaults (retries with backoff, 60 s request timeout).
    // (plain HTTP on loopback: the development flag, explicit)
    let config = ClientConfig {
        allow_insecure_http: true,
        ..ClientConfig::default()
    };
    let mut client = SyncClient::with_config(&url, config).map_err(|e| e.to_string())?;
    let user = format!("w{g:04}");
    client
        .login(&mut store, &user, "storm-pass", &format!("phone-{g}"))
        .await
        .map_err(|e| format!("login: {e}"))?;
    // Offline: a new household and house calls there (the grid's records are not here yet).
    if new > 0 {
        let mine = store
            .create(&household(&grid, g))
            .map_err(|e| format!("household: {e}"))?;
        for i in 1..new {
            let hc = house_call(&store, &grid, &mine, &user, 10_000 + i);
            store.create(&hc).map_err(|e| format!("create: {e}"))?;
        }
    }
    let t = Instant::now();
    let s = client.sync(&mut store).await.map_err(|e| format!("sync: {e}"))?;
    let took = t.elapsed();
    if s.sent != new as u64 {
        return Err(format!("sent {} of {new}", s.sent));
    }
    let n: i64 = store
        .connection()
        .query_row("SELECT count(*) FROM house_calls WHERE grid_id = ?1", [&grid], |r| {
            r.get(0)
        })
        .map_err(|e| e.to_string())?;
    let want = pull - 1 + new.saturating_sub(1);
    if (n as usize) < want {
        return Err(format!("grid has {n} house calls after sync, want {want}"));
    }
    Ok(took)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let grids = env("STORM_GRIDS", 2257);
    let pull = env("STORM_PULL", 200).max(1);
    let new = env("STORM_NEW", 20);
    let inflight = env("STORM_INFLIGHT", 200);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let state = AppState::open(Config {
        data_dir: data.clone(),
        ..Config::default()
    })
    .expect("server storage");
    let plan = seed(state.storage.clone(), grids, pull);
    drop(state);
    let before = doc_count(&data);
    let (server, url) = spawn(&data);
    let pid = server.0.id();
    let rss_idle = common::vm_kib(pid, "VmRSS:");
    eprintln!(
        "server up: {before} documents, RSS {:.0} MiB; storm: {grids} devices, {new} new records each, {pull}-record grids, ≤ {inflight} in flight",
        rss_idle as f64 / 1024.0
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let sem = Arc::new(tokio::sync::Semaphore::new(inflight));
    let perf = common::perf_start(pid, "storm", &["-g", "-F", "499"]);
    let t = Instant::now();
    let results: Vec<Result<Duration, String>> = rt.block_on(async {
        let mut tasks = Vec::with_capacity(grids);
        for (g, (grid, _household, org)) in plan.into_iter().enumerate() {
            let (sem, url) = (sem.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = sem.acquire_owned().await.expect("semaphore");
                // Each phone is its own machine: its CPU work (making records, applying the
                // pull) runs on its own thread and runtime, so it never stalls the sockets of
                // the others on the shared runtime.
                let phone = tokio::task::spawn_blocking(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("phone runtime");
                    rt.block_on(device(url, g, grid, org, new, pull))
                });
                match tokio::time::timeout(Duration::from_secs(300), phone).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("timed out after 300 s".into()),
                }
            }));
        }
        let mut out = Vec::with_capacity(tasks.len());
        for task in tasks {
            out.push(task.await.unwrap_or_else(|e| Err(e.to_string())));
        }
        out
    });
    let total = t.elapsed();
    common::perf_stop(perf);
    let hwm = common::vm_kib(pid, "VmHWM:");
    drop(server);
    let after = doc_count(&data);
    let mut lat: Vec<Duration> = results.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
    let errors: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let expected = before + (grids * new) as i64;
    println!("storm: {grids} devices, {new} new + {pull}-record grid each, ≤ {inflight} in flight");
    println!(
        "total {:.1} s (logins + record making + syncs), {:.1} syncs/s; sync latency p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        total.as_secs_f64(),
        grids as f64 / total.as_secs_f64(),
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    println!(
        "errors {} {:?}",
        errors.len(),
        errors.iter().take(3).collect::<Vec<_>>()
    );
    println!(
        "server peak RSS (VmHWM) {:.0} MiB (idle after start {:.0} MiB)",
        hwm as f64 / 1024.0,
        rss_idle as f64 / 1024.0
    );
    println!(
        "server documents: before {before}, after {after}, expected {expected}: lost {}",
        expected - after
    );
}
