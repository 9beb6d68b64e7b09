//! Rule-set versions (ADR 0007): what publishing costs the query rows. Prints figures for
//! docs/benchmarks.md.
//!
//! `cargo bench -p gridbook-core --bench rules`
//!
//! On a file-backed store holding the demo grid plus 2,000 incidents taken in (受理 stage):
//! - rebuild of the query tables with only the shipped rules, and with a time-limits v2 held
//!   (every case row then reads the held versions);
//! - publishing (materializing) a time-limits version and a calendar version: the cases they
//!   re-materialize in the same transaction;
//! - saving one new case that pins the held versions.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use gridbook_core::Store;
use gridbook_core::demo::{self, DemoOptions};
use gridbook_core::domain::{Case, CaseKind};
use gridbook_core::{RuleKind, RuleSet};

mod common;
use common::{admin, ms, pct};

const CASES: usize = 2000;

fn incident(grid: &str, i: usize) -> Case {
    Case {
        grid_id: grid.into(),
        case_kind: CaseKind::Incident,
        category: "city_appearance".into(),
        subcategory: None,
        scale: "individual".into(),
        title: format!("路灯损坏 {i}"),
        description: "路灯不亮".into(),
        location: None,
        address: "幸福小区3栋".into(),
        reporter: "admin".into(),
        channel: None,
        resident_name: None,
        resident_phone: None,
        photos: vec![],
        occurred_at: Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap(),
    }
}

fn version(rule: RuleKind, v: u32) -> RuleSet {
    let mut json: serde_json::Value = serde_json::from_str(rule.shipped_json()).expect("shipped");
    if rule != RuleKind::Calendar {
        json["version"] = v.into();
    }
    RuleSet {
        rule,
        version: v,
        json: json.to_string(),
    }
}

fn time(label: &str, runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    println!("{label}: p50 {}  max {}", ms(pct(&times, 0.5)), ms(pct(&times, 1.0)));
    pct(&times, 0.5)
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("grid.db");
    let mut s = Store::open(&path, admin()).expect("open");
    let org = demo::seed_org(&mut s, 7).expect("org");
    demo::generate_grid(&mut s, &org.grid, "worker-1", 7, DemoOptions::default()).expect("demo grid");
    for i in 0..CASES {
        let id = s.create(&incident(&org.grid, i)).expect("case");
        let channel: BTreeMap<String, String> = [("channel".to_string(), "phone".to_string())].into();
        s.case_action(&id, "intake", None, channel).expect("intake");
    }
    let cases: i64 = s
        .connection()
        .query_row("SELECT count(*) FROM cases", [], |r| r.get(0))
        .expect("count");
    let records: i64 = s
        .connection()
        .query_row("SELECT count(*) FROM records", [], |r| r.get(0))
        .expect("count");
    println!("store: {records} records, {cases} cases");

    time("rebuild query tables, shipped rules only", 5, || {
        s.rebuild_query_tables().expect("rebuild")
    });
    let t = Instant::now();
    s.create(&version(RuleKind::TimeLimits, 2))
        .expect("publish time limits");
    println!(
        "materialize time limits v2 (no case pins it: none redone): {}",
        ms(t.elapsed())
    );
    time("rebuild query tables, time limits v2 held", 5, || {
        s.rebuild_query_tables().expect("rebuild")
    });
    let t = Instant::now();
    s.create(&version(RuleKind::Calendar, 2)).expect("publish calendar");
    println!(
        "materialize calendar v2 (re-materializes all {cases} cases): {}",
        ms(t.elapsed())
    );
    let mut n = CASES;
    time("save one new case pinning v2 (100 saves)", 100, || {
        n += 1;
        s.create(&incident(&org.grid, n)).expect("case");
    });
}
