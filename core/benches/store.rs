//! Store benchmark on the demo grid: prints figures for docs/benchmarks.md.
//!
//! `cargo bench -p gridbook-core --bench store` (encrypted store, as on every phone)
//! `cargo bench -p gridbook-core --bench store -- --plain` (plain SQLite, for comparison)
//!
//! - save one house call (document + query tables + outbox, committed, WAL with
//!   synchronous=NORMAL as on the phone, ADR 0002): p50/p99
//! - open the store and list visits due
//! - merge 10,000 remote changes into a fresh store: changes/s
//! - store bytes per record vs the record's JSON size

use std::time::Instant;

use gridbook_core::demo::{self, DemoOptions};
use gridbook_core::domain::{HouseCall, Problem};
use gridbook_core::{RemoteChange, Store, StoreKey};

mod common;
use common::{admin, ms, pct};

/// Opens a store file the way the bench was asked to: encrypted with a fixed key (the default:
/// phones open their store through the FFI, which always encrypts) or plain (`--plain`).
struct Opener(Option<StoreKey>);

impl Opener {
    fn open(&self, path: &std::path::Path) -> Store {
        match &self.0 {
            Some(key) => Store::open_encrypted(path, key, admin()).expect("open encrypted"),
            None => Store::open(path, admin()).expect("open plain"),
        }
    }
}

fn main() {
    let plain = std::env::args().any(|a| a == "--plain");
    let opener = Opener((!plain).then(|| StoreKey::from_bytes(&[1u8; 32]).expect("key")));
    println!("store: {}", if plain { "plain" } else { "encrypted (SQLCipher)" });
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("grid.db");
    let opts = DemoOptions::default();
    let t = Instant::now();
    let (grid, households) = {
        let mut s = opener.open(&path);
        let org = demo::seed_org(&mut s, 7).expect("org");
        let g = demo::generate_grid(&mut s, &org.grid, "worker-1", 7, opts).expect("demo grid");
        (org.grid, g.households)
    };
    let records = {
        let s = opener.open(&path);
        s.connection()
            .query_row("SELECT count(*) FROM records", [], |r| r.get::<_, i64>(0))
            .expect("count")
    };
    println!(
        "demo grid: {records} records ({} households) generated in {:.2} s",
        households.len(),
        t.elapsed().as_secs_f64()
    );

    // 1. Save one house call.
    let mut s = opener.open(&path);
    let template = s.active_template().expect("template");
    let base: HouseCall = {
        let id: String = s
            .connection()
            .query_row("SELECT id FROM house_calls LIMIT 1", [], |r| r.get(0))
            .expect("a call");
        s.get(&id).expect("read")
    };
    let mut times = Vec::new();
    for i in 0..1000 {
        let mut call = base.clone();
        call.household_id = households[i % households.len()].clone();
        call.problems = vec![Problem {
            kind: "fire_hazard".into(),
            description: "楼道堆放杂物，已劝导清理".into(),
            solved_on_spot: true,
            reported: false,
            case_id: None,
        }];
        call.template_version = template.version;
        let t = Instant::now();
        s.create(&call).expect("save");
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "save one house call (1,000 saves): p50 {}  p99 {}  max {}",
        ms(pct(&times, 0.5)),
        ms(pct(&times, 0.99)),
        ms(pct(&times, 1.0))
    );
    drop(s);

    // 2. Open the store and list visits due.
    let mut times = Vec::new();
    let mut due = 0;
    for _ in 0..20 {
        let t = Instant::now();
        let s = opener.open(&path);
        due = s.visits_due(opts.today, Some(&grid)).expect("visits due").len();
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "open store + list visits due ({due} due): p50 {}  max {}",
        ms(pct(&times, 0.5)),
        ms(pct(&times, 1.0))
    );

    // 3. Merge 10,000 remote changes into a fresh store: top the outbox up to 10,000 with
    // edits of existing house calls (a merge then also extends existing documents).
    let mut s = opener.open(&path);
    let calls: Vec<String> = s
        .connection()
        .prepare("SELECT id FROM house_calls ORDER BY id")
        .and_then(|mut st| st.query_map([], |r| r.get(0)).and_then(|rows| rows.collect()))
        .expect("calls");
    let mut i = 0;
    while s.outbox_len().expect("outbox") < 10_000 {
        let id = &calls[i % calls.len()];
        let mut c: HouseCall = s.get(id).expect("read");
        c.notes.push_str("已复核。");
        s.update(id, &c).expect("update");
        i += 1;
    }
    let changes: Vec<RemoteChange> = s
        .outbox(10_000)
        .expect("outbox")
        .into_iter()
        .map(|e| RemoteChange {
            doc_id: e.doc_id,
            bytes: e.bytes,
        })
        .collect();
    let change_bytes: usize = changes.iter().map(|c| c.bytes.len()).sum();
    let fresh_path = dir.path().join("fresh.db");
    let mut fresh = opener.open(&fresh_path);
    let t = Instant::now();
    for page in changes.chunks(500) {
        fresh.apply_remote_changes(page).expect("merge");
    }
    let el = t.elapsed();
    println!(
        "merge {} remote changes ({:.1} MB) in pages of 500: {:.2} s, {:.0} changes/s",
        changes.len(),
        change_bytes as f64 / 1e6,
        el.as_secs_f64(),
        changes.len() as f64 / el.as_secs_f64()
    );

    // 4. Bytes per record: the acknowledged store (outbox empty), vacuumed, vs the records' JSON.
    let mut s = opener.open(&path);
    let all: Vec<String> = s
        .outbox(usize::MAX >> 1)
        .expect("outbox")
        .into_iter()
        .map(|e| e.hash)
        .collect();
    s.ack(&all).expect("ack");
    let ids: Vec<String> = s
        .connection()
        .prepare("SELECT id FROM records")
        .and_then(|mut st| st.query_map([], |r| r.get(0)).and_then(|rows| rows.collect()))
        .expect("ids");
    let json_bytes: usize = ids
        .iter()
        .map(|id| s.get_json(id).expect("json").to_string().len())
        .sum();
    s.connection().execute_batch("VACUUM").expect("vacuum");
    // The file's own size after a truncating checkpoint (SQLCipher answers `PRAGMA page_size`
    // with its cipher settings, so pages × page size is not read from SQL).
    s.connection()
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    let file = std::fs::metadata(&path).expect("store file").len() as f64;
    let docs: f64 = s
        .connection()
        .query_row("SELECT sum(length(bytes)) FROM docs", [], |r| r.get::<_, i64>(0))
        .expect("docs") as f64;
    let n = ids.len() as f64;
    println!(
        "bytes per record: JSON {:.0}  documents {:.0} ({:.2}x)  whole store file incl. query tables and indexes {:.0} ({:.2}x)",
        json_bytes as f64 / n,
        docs / n,
        docs / json_bytes as f64,
        file / n,
        file / json_bytes as f64
    );
}
