//! Cost of encryption at rest (SQLCipher, issue 9): house-call save and store open, encrypted
//! vs plain, on the same demo grid. Prints figures for docs/benchmarks.md.
//!
//! `cargo bench -p gridbook-core --bench encryption`
//!
//! The demo grid (seed 7) is generated once into a plain store, copied, and the copy encrypted in
//! place (the migration of an old store, timed too). The two stores are then measured in
//! alternating rounds (100 saves each, then ten opens each; [`ROUNDS`] of them) so that load from other processes on
//! the machine falls on both alike.

use std::path::Path;
use std::time::{Duration, Instant};

use gridbook_core::demo::{self, DemoOptions};
use gridbook_core::domain::{HouseCall, Problem};
use gridbook_core::{Store, StoreKey};

mod common;
use common::{admin, ms, pct};

fn open(path: &Path, key: Option<&StoreKey>) -> Store {
    match key {
        Some(k) => Store::open_encrypted(path, k, admin()).expect("open encrypted"),
        None => Store::open(path, admin()).expect("open plain"),
    }
}

struct Side {
    name: &'static str,
    key: Option<StoreKey>,
    path: std::path::PathBuf,
    saves: Vec<Duration>,
    opens: Vec<Duration>,
    /// `Store::open` alone (the first part of each of `opens`).
    open_only: Vec<Duration>,
    /// WAL frames (pages) each save appended, where the WAL grew (not across a WAL reset).
    frames: Vec<u64>,
}

/// Size of the store's WAL file (0 when there is none).
fn wal_len(path: &Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
}

/// Alternating rounds of 100 saves and 10 opens per store: 3,000 saves and 300 opens each, so
/// that the p99 of saves rests on 30 samples above it.
const ROUNDS: usize = 30;

/// A WAL frame: a 24-byte header and one 4 KiB page.
const FRAME: u64 = 24 + 4096;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plain_path = dir.path().join("plain.db");
    let enc_path = dir.path().join("encrypted.db");
    let opts = DemoOptions::default();
    let (grid, households) = {
        let mut s = Store::open(&plain_path, admin()).expect("open");
        let org = demo::seed_org(&mut s, 7).expect("org");
        let g = demo::generate_grid(&mut s, &org.grid, "worker-1", 7, opts).expect("demo grid");
        (org.grid, g.households)
    };
    std::fs::copy(&plain_path, &enc_path).expect("copy");
    let key = StoreKey::from_bytes(&[0x42; 32]).expect("key");
    let t = Instant::now();
    drop(open(&enc_path, Some(&key)));
    println!(
        "encrypt the plain demo store in place ({:.1} MB): {}",
        std::fs::metadata(&enc_path).expect("size").len() as f64 / 1e6,
        ms(t.elapsed())
    );

    let base: HouseCall = {
        let s = open(&plain_path, None);
        let id: String = s
            .connection()
            .query_row("SELECT id FROM house_calls LIMIT 1", [], |r| r.get(0))
            .expect("a call");
        s.get(&id).expect("read")
    };
    let mut sides = [
        Side {
            name: "plain",
            key: None,
            path: plain_path,
            saves: vec![],
            opens: vec![],
            open_only: vec![],
            frames: vec![],
        },
        Side {
            name: "encrypted",
            key: Some(key),
            path: enc_path,
            saves: vec![],
            opens: vec![],
            open_only: vec![],
            frames: vec![],
        },
    ];
    let mut due = [0usize; 2];
    for round in 0..ROUNDS {
        for (n, side) in sides.iter_mut().enumerate() {
            let mut s = open(&side.path, side.key.as_ref());
            let version = s.active_template().expect("template").version;
            for i in 0..100 {
                let mut call = base.clone();
                call.household_id = households[(round * 100 + i) % households.len()].clone();
                call.problems = vec![Problem {
                    kind: "fire_hazard".into(),
                    description: "楼道堆放杂物，已劝导清理".into(),
                    solved_on_spot: true,
                    reported: false,
                    case_id: None,
                }];
                call.template_version = version;
                let wal_before = wal_len(&side.path);
                let t = Instant::now();
                s.create(&call).expect("save");
                side.saves.push(t.elapsed());
                let wal_after = wal_len(&side.path);
                if wal_after > wal_before {
                    side.frames.push((wal_after - wal_before) / FRAME);
                }
            }
            drop(s);
            for _ in 0..10 {
                let t = Instant::now();
                let s = open(&side.path, side.key.as_ref());
                side.open_only.push(t.elapsed());
                due[n] = s.visits_due(opts.today, Some(&grid)).expect("visits due").len();
                side.opens.push(t.elapsed());
            }
        }
    }
    assert_eq!(due[0], due[1], "both stores hold the same grid");
    for side in &mut sides {
        side.saves.sort();
        side.opens.sort();
        side.open_only.sort();
        side.frames.sort();
    }
    for side in &sides {
        println!(
            "{:>9}: save one house call ({} saves): p50 {}  p99 {}  pages written p50 {}  |  open store + list visits due ({} due, {} opens): p50 {}  max {}  |  the open alone: p50 {}",
            side.name,
            side.saves.len(),
            ms(pct(&side.saves, 0.5)),
            ms(pct(&side.saves, 0.99)),
            side.frames.get(side.frames.len() / 2).copied().unwrap_or(0),
            due[0],
            side.opens.len(),
            ms(pct(&side.opens, 0.5)),
            ms(pct(&side.opens, 1.0)),
            ms(pct(&side.open_only, 0.5))
        );
    }
    let ratio = |f: &dyn Fn(&Side) -> Duration| f(&sides[1]).as_secs_f64() / f(&sides[0]).as_secs_f64();
    println!(
        "encrypted / plain: save p50 {:.2}x  save p99 {:.2}x  open + visits due p50 {:.2}x  open alone p50 {:.2}x (target <= 1.3x)",
        ratio(&|s| pct(&s.saves, 0.5)),
        ratio(&|s| pct(&s.saves, 0.99)),
        ratio(&|s| pct(&s.opens, 0.5)),
        ratio(&|s| pct(&s.open_only, 0.5)),
    );
}
