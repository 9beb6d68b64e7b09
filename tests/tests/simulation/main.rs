//! Convergence simulation with faults (issue 8).
//!
//! 20 phones in several roles and grids (some sharing a grid) and one real `gridbook-server`
//! process on 127.0.0.1, driven by a seed. Phones make random offline edits of every record
//! kind and take workflow actions, and sync on random schedules through a fault layer that
//! drops requests, drops responses after the server committed, duplicates, delays (reorders)
//! and truncates bodies. The server is SIGKILLed and restarted at random points; phones are
//! cut off mid-sync, closed and reopened. After a final fault-free round the run checks:
//!
//! - every phone holds, for each record it holds, the server's exact document (same heads),
//!   and every server record in a phone's grids is on that phone;
//! - every change a phone saw acknowledged is in the server's change log, once;
//! - no honest change was rejected (quarantine empty);
//! - each phone's query tables equal a rebuild from its documents;
//! - every workflow transition taken is in its case's history on the server and the phones;
//! - the server's database passes `PRAGMA integrity_check`.
//!
//! `GRIDBOOK_SIM_SEEDS=N` runs seeds 0..N (default 3), `GRIDBOOK_SIM_SEED=S` one seed. A
//! failure prints the seed and the one-line command that replays it.

mod proxy;
mod server;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use gridbook_core::domain::{Case, CaseKind, GridAssignment, HouseCall, Household, HousingUse, Ledger, Role};
use gridbook_core::sync::{ClientConfig, SyncClient};
use gridbook_core::{Identity, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::{Connection, OpenFlags};

use proxy::Proxy;
use server::ServerProcess;

/// Phones: (account, devices of it).
const PHONES: &[(&str, usize)] = &[
    ("grid01", 3),
    ("grid02", 2),
    ("grid03", 2),
    ("grid04", 1),
    ("grid05", 1),
    ("grid06", 1),
    ("grid07", 1),
    ("leader01", 2),
    ("community1", 2),
    ("community2", 1),
    ("street1", 1),
    ("dept1", 1),
    ("admin", 1),
    ("grid08", 1),
];

const ROUNDS: usize = 8;

struct Phone {
    name: String,
    username: String,
    path: PathBuf,
    store: Option<Store>,
    client: SyncClient,
}

impl Phone {
    fn store(&mut self) -> &mut Store {
        self.store.as_mut().expect("store open")
    }

    fn outbox_hashes(&mut self) -> BTreeSet<String> {
        self.store()
            .outbox(100_000)
            .expect("outbox")
            .into_iter()
            .map(|e| e.hash)
            .collect()
    }

    fn reopen(&mut self) {
        let identity = self.store.take().map(|s| s.identity().clone()).expect("store open");
        self.store = Some(Store::open(&self.path, identity).expect("reopen store"));
    }
}

fn nobody() -> Identity {
    Identity {
        account_id: String::new(),
        role: Role::GridLeader,
        org_node: String::new(),
        grids: vec![],
    }
}

fn client(url: &str) -> SyncClient {
    let config = ClientConfig {
        max_push_changes: 40,
        max_response_bytes: 64 << 10,
        max_attempts: 3,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(200),
        request_timeout: Duration::from_secs(20),
        // The loopback test server speaks plain HTTP (development flag, explicit).
        allow_insecure_http: true,
        ..ClientConfig::default()
    };
    SyncClient::with_config(url, config).expect("client")
}

/// What one run saw, for the report.
#[derive(Debug, Default)]
struct Stats {
    faults: BTreeMap<&'static str, u64>,
    forwarded: u64,
    kills: u64,
    cut_syncs: u64,
    failed_syncs: BTreeMap<String, u64>,
    ops: u64,
    transitions: u64,
    records: usize,
}

fn seeds() -> Vec<u64> {
    if let Ok(s) = std::env::var("GRIDBOOK_SIM_SEED") {
        return vec![s.parse().expect("GRIDBOOK_SIM_SEED is a number")];
    }
    let n: u64 = std::env::var("GRIDBOOK_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let first: u64 = std::env::var("GRIDBOOK_SIM_FIRST")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (first..first + n).collect()
}

#[test]
fn phones_and_server_converge_under_faults() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let mut total = Stats::default();
    let seeds = seeds();
    for &seed in &seeds {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(run(seed))));
        match outcome {
            Ok(s) => {
                for (k, v) in s.faults {
                    *total.faults.entry(k).or_default() += v;
                }
                for (k, v) in s.failed_syncs {
                    *total.failed_syncs.entry(k).or_default() += v;
                }
                total.forwarded += s.forwarded;
                total.kills += s.kills;
                total.cut_syncs += s.cut_syncs;
                total.ops += s.ops;
                total.transitions += s.transitions;
                total.records += s.records;
            }
            Err(panic) => {
                eprintln!(
                    "\nsimulation FAILED at seed {seed}. Replay with:\n  GRIDBOOK_SIM_SEED={seed} cargo test -p gridbook-tests --test simulation -- --nocapture\n"
                );
                std::panic::resume_unwind(panic);
            }
        }
    }
    println!(
        "simulation: {} seeds in {:.1} s; requests forwarded {}; faults {:?}; server kills {}; syncs cut mid-way {}; failed syncs by code {:?}; operations {}; workflow transitions {}; records at the end {}",
        seeds.len(),
        started.elapsed().as_secs_f64(),
        total.forwarded,
        total.faults,
        total.kills,
        total.cut_syncs,
        total.failed_syncs,
        total.ops,
        total.transitions,
        total.records
    );
}

fn household(grid: &str, room: u32) -> Household {
    let day = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
    Household {
        grid_assignments: vec![GridAssignment {
            grid_id: grid.into(),
            from: day,
        }],
        building: "2栋".into(),
        unit: "1单元".into(),
        room: room.to_string(),
        address: format!("幸福小区2栋1单元{room}室"),
        housing_use: HousingUse::Rented,
        registered_on: day,
    }
}

fn params_for(action: &str, department: &str) -> BTreeMap<String, String> {
    let pairs: &[(&str, &str)] = match action {
        "intake" => &[("channel", "phone")],
        "escalate" => &[("level", "sub_district")],
        "dispatch" => &[("department", department)],
        "request_extension" | "approve_extension" => &[("days", "2")],
        "follow_up" => &[("satisfaction", "satisfied")],
        "supervise" => &[("card", "yellow")],
        _ => &[],
    };
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn ids(store: &Store, sql: &str, arg: Option<&str>) -> Vec<String> {
    let mut stmt = store.connection().prepare(sql).expect("prepare");
    let rows = stmt
        .query_map(rusqlite::params_from_iter(arg), |r| r.get::<_, String>(0))
        .expect("query");
    rows.collect::<Result<_, _>>().expect("rows")
}

/// One random offline operation; returns the transitions it took as (case, transition id).
fn operate(phone: &mut Phone, rng: &mut StdRng, department: &str, made: &mut Vec<(String, String)>) -> bool {
    let store = phone.store();
    let me = store.identity().clone();
    let grid = me.grids.first().cloned();
    let now = store.now();
    let pick = |v: &[String], rng: &mut StdRng| (!v.is_empty()).then(|| v[rng.random_range(0..v.len())].clone());
    let mut act_on_case = |store: &mut Store, case: &str, rng: &mut StdRng| {
        let Ok(view) = store.case(case) else { return false };
        if view.available_actions.is_empty() {
            return false;
        }
        let action = view.available_actions[rng.random_range(0..view.available_actions.len())].clone();
        match store.case_action(case, &action, Some("模拟"), params_for(&action, department)) {
            Ok(v) => {
                made.push((
                    case.to_string(),
                    v.history.last().map(|t| t.id.clone()).unwrap_or_default(),
                ));
                true
            }
            Err(_) => false,
        }
    };
    match me.role {
        Role::GridWorker | Role::GridLeader => {
            let Some(grid) = grid else { return false };
            let households = ids(
                store,
                "SELECT id FROM households WHERE grid_id = ?1 ORDER BY id",
                Some(&grid),
            );
            match rng.random_range(0..10) {
                0 | 1 => store.create(&household(&grid, rng.random_range(100..999))).is_ok(),
                2 | 3 => match pick(&households, rng) {
                    Some(hh) => {
                        let template = store.active_template().expect("template");
                        let call = HouseCall {
                            grid_id: grid.clone(),
                            household_id: hh,
                            person_ids: vec![],
                            visitor: me.account_id.clone(),
                            companions: vec![],
                            started_at: now,
                            ended_at: now + chrono::Duration::minutes(15),
                            location: None,
                            template_id: template.template_id,
                            template_version: template.version,
                            answers: BTreeMap::new(),
                            problems: vec![],
                            photos: vec![],
                            follow_up_due: None,
                            notes: "模拟走访".into(),
                        };
                        store.create(&call).is_ok()
                    }
                    None => false,
                },
                4 => match pick(&households, rng) {
                    Some(hh) => match store.get::<Household>(&hh) {
                        Ok(mut h) => {
                            h.room = rng.random_range(100..999).to_string();
                            store.update(&hh, &h).is_ok()
                        }
                        Err(_) => false,
                    },
                    None => false,
                },
                5 => {
                    let case = Case {
                        grid_id: grid.clone(),
                        case_kind: if rng.random_bool(0.5) {
                            CaseKind::Incident
                        } else {
                            CaseKind::Request
                        },
                        category: "city_appearance".into(),
                        subcategory: None,
                        scale: "individual".into(),
                        title: "模拟事件".into(),
                        description: String::new(),
                        location: None,
                        address: String::new(),
                        reporter: me.account_id.clone(),
                        channel: Some("phone".into()),
                        resident_name: None,
                        resident_phone: None,
                        photos: vec![],
                        occurred_at: now,
                    };
                    match store.create(&case) {
                        Ok(id) => {
                            act_on_case(store, &id, rng);
                            true
                        }
                        Err(_) => false,
                    }
                }
                6 => {
                    let ledger = Ledger {
                        grid_id: grid.clone(),
                        worker: me.account_id.clone(),
                        day: gridbook_core::materialize::china_day(now),
                        notes: "模拟台账".into(),
                    };
                    match store.create(&ledger) {
                        Ok(id) => store.submit_ledger(&id).is_ok(),
                        Err(_) => false,
                    }
                }
                7 if rng.random_bool(0.3) => match pick(&households, rng) {
                    Some(hh) => store.delete(&hh).is_ok(),
                    None => false,
                },
                _ => {
                    let cases = ids(
                        store,
                        "SELECT id FROM cases WHERE grid_id = ?1 ORDER BY id",
                        Some(&grid),
                    );
                    match pick(&cases, rng) {
                        Some(c) => act_on_case(store, &c, rng),
                        None => false,
                    }
                }
            }
        }
        _ => {
            if rng.random_bool(0.3) {
                let ledgers = ids(
                    store,
                    "SELECT id FROM ledgers WHERE review_state = 'submitted' ORDER BY id",
                    None,
                );
                if let Some(l) = pick(&ledgers, rng) {
                    return if rng.random_bool(0.5) {
                        store.approve_ledger(&l).is_ok()
                    } else {
                        store.return_ledger(&l, "请补充").is_ok()
                    };
                }
            }
            let cases = ids(store, "SELECT id FROM cases ORDER BY id", None);
            match pick(&cases, rng) {
                Some(c) => act_on_case(store, &c, rng),
                None => false,
            }
        }
    }
}

/// Sync a batch of phones at once (so requests interleave); some are cut off mid-way, closed
/// and reopened.
async fn sync_batch(
    phones: Vec<Phone>,
    rng: &mut StdRng,
    stats: &mut Stats,
    acked: &mut BTreeSet<String>,
) -> Vec<Phone> {
    let mut tasks = Vec::new();
    for mut phone in phones {
        let cut = rng
            .random_bool(0.1)
            .then(|| Duration::from_millis(rng.random_range(1..80)));
        tasks.push(tokio::spawn(async move {
            let before: BTreeSet<String> = phone.outbox_hashes();
            let store = phone.store.as_mut().expect("store open");
            let result = match cut {
                Some(after) => match tokio::time::timeout(after, phone.client.sync(store)).await {
                    Ok(r) => r.map(drop).map_err(|e| e.code().to_string()),
                    Err(_) => Err("cut".to_string()),
                },
                None => phone
                    .client
                    .sync(store)
                    .await
                    .map(drop)
                    .map_err(|e| e.code().to_string()),
            };
            if cut.is_some() {
                phone.reopen();
            }
            let after: BTreeSet<String> = phone.outbox_hashes();
            let quarantined: BTreeSet<String> = phone
                .store()
                .quarantined()
                .expect("quarantine")
                .into_iter()
                .map(|r| r.hash)
                .collect();
            let gone: Vec<String> = before
                .difference(&after)
                .filter(|h| !quarantined.contains(*h))
                .cloned()
                .collect();
            (phone, result, gone)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        let (phone, result, gone) = t.await.expect("sync task");
        acked.extend(gone);
        match result {
            Ok(()) => {}
            Err(code) if code == "cut" => stats.cut_syncs += 1,
            Err(code) => *stats.failed_syncs.entry(code).or_default() += 1,
        }
        out.push(phone);
    }
    out
}

fn server_db(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open server db")
}

async fn run(seed: u64) -> Stats {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut stats = Stats::default();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("server");
    let srv = tokio::task::spawn_blocking(move || ServerProcess::start(&data, 0))
        .await
        .expect("start");
    let proxy = Proxy::start(seed, srv.port).await;
    let mut srv = Some(srv);
    let url = proxy.url();

    // Phones log in and bootstrap over a clean network.
    let mut phones = Vec::new();
    let mut department = String::new();
    for (account, devices) in PHONES {
        for d in 0..*devices {
            let name = format!("{account}-{d}");
            let path = dir.path().join(format!("{name}.sqlite3"));
            let mut store = Store::open(&path, nobody()).expect("open phone store");
            let mut client = client(&url);
            let info = client
                .login(&mut store, account, &format!("demo-{account}"), &name)
                .await
                .expect("login");
            if *account == "dept1" {
                department = info.identity().org_node.clone();
            }
            client.sync(&mut store).await.expect("first sync");
            phones.push(Phone {
                name,
                username: account.to_string(),
                path,
                store: Some(store),
                client,
            });
        }
    }
    let mut acked = BTreeSet::new();
    let mut made = Vec::new();
    proxy.set_rate(0.25);
    for round in 0..ROUNDS {
        for phone in phones.iter_mut() {
            for _ in 0..rng.random_range(0..3) {
                if operate(phone, &mut rng, &department, &mut made) {
                    stats.ops += 1;
                }
            }
        }
        // A random half syncs, in two interleaved batches; the server may die meanwhile.
        let mut idle = Vec::new();
        let mut batch = Vec::new();
        for p in phones.drain(..) {
            if rng.random_bool(0.5) {
                batch.push(p)
            } else {
                idle.push(p)
            }
        }
        let kill_now = rng.random_bool(0.25);
        let killer = if kill_now {
            stats.kills += 1;
            let delay = Duration::from_millis(rng.random_range(0..150));
            let mut s = srv.take().expect("server");
            Some(tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                tokio::task::spawn_blocking(move || {
                    s.restart();
                    s
                })
                .await
                .expect("restart")
            }))
        } else {
            None
        };
        let synced = sync_batch(batch, &mut rng, &mut stats, &mut acked).await;
        if let Some(k) = killer {
            srv = Some(k.await.expect("killer"));
        }
        phones = synced;
        phones.extend(idle);
        phones.sort_by(|a, b| a.name.cmp(&b.name));
        let _ = round;
    }

    // Final fault-free rounds.
    proxy.set_rate(0.0);
    for _ in 0..3 {
        for phone in phones.iter_mut() {
            let before: BTreeSet<String> = phone.outbox_hashes();
            let store = phone.store.as_mut().expect("store");
            if let Err(e) = phone.client.sync(store).await {
                panic!("seed {seed}: fault-free sync of {} failed: {e}", phone.name);
            }
            let after: BTreeSet<String> = phone.outbox_hashes();
            acked.extend(before.difference(&after).cloned());
        }
    }

    // Checks.
    let mut srv = srv.expect("server");
    let db = server_db(&srv.db_path());
    let mut server_heads: BTreeMap<String, (String, String)> = BTreeMap::new();
    {
        let mut stmt = db
            .prepare("SELECT id, coalesce(scope, ''), heads FROM docs")
            .expect("prepare");
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
            })
            .expect("q");
        for row in rows {
            let (id, scope, heads) = row.expect("row");
            server_heads.insert(id, (scope, heads));
        }
    }
    stats.records = server_heads.len();
    for phone in phones.iter_mut() {
        let name = phone.name.clone();
        let store = phone.store();
        let q = store.quarantined().expect("quarantine");
        assert!(q.is_empty(), "seed {seed}: {name} had honest changes rejected: {q:?}");
        assert_eq!(
            store.outbox_len().expect("outbox"),
            0,
            "seed {seed}: {name} still has unsent changes"
        );
        let mine = store.doc_heads().expect("heads");
        for (id, heads) in &mine {
            let (_, server) = server_heads
                .get(id)
                .unwrap_or_else(|| panic!("seed {seed}: {name} holds {id}, the server does not"));
            assert_eq!(
                &heads.join(","),
                server,
                "seed {seed}: {name} and the server differ on {id}"
            );
        }
        let me = store.identity().clone();
        for (id, (scope, _)) in &server_heads {
            if me.grids.contains(scope) || scope == "district" {
                assert!(
                    mine.contains_key(id),
                    "seed {seed}: {name} ({}) lacks {id} of its scope {scope}",
                    phone.username
                );
            }
        }
        let dump = store.query_table_dump().expect("dump");
        store.rebuild_query_tables().expect("rebuild");
        assert!(
            dump == store.query_table_dump().expect("dump"),
            "seed {seed}: {name}'s query tables differ from a rebuild"
        );
    }
    for hash in &acked {
        let n: i64 = db
            .query_row("SELECT count(*) FROM change_log WHERE hash = ?1", [hash], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 1, "seed {seed}: acked change {hash} is on the server {n} times");
    }
    let holders: Vec<usize> = (0..phones.len()).collect();
    for (case, transition) in &made {
        stats.transitions += 1;
        let mut found = false;
        for &i in &holders {
            if let Ok(view) = phones[i].store().case(case) {
                assert!(
                    view.history.iter().any(|t| &t.id == transition),
                    "seed {seed}: transition {transition} of {case} lost on {}",
                    phones[i].name
                );
                found = true;
            }
        }
        assert!(found, "seed {seed}: no phone holds case {case}");
    }
    let ok: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity");
    assert_eq!(ok, "ok", "seed {seed}: server database integrity");
    let (faults, forwarded) = proxy.counts();
    stats.faults = faults;
    stats.forwarded = forwarded;
    drop(db);
    srv.kill();
    stats
}
