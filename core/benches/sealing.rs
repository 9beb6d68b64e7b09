//! Cost of sealing a person's fields with the person key (crypto-shredding, ADR 0004 as
//! amended): what sealing the birth date and the labels adds to the name, ID number and phone.
//!
//! `cargo bench -p gridbook-core --bench sealing`
//!
//! - seal + open one person's body (pure, no I/O), 10,000 persons: before the amendment's fields
//!   (name, ID number, phone: 3 sealed values) vs with a birth date and two labels (10 values)
//! - save one person (`Store::create`: document, query tables, outbox, committed with
//!   synchronous=NORMAL as on the phone (ADR 0002), on a file) for both shapes, 500 saves each:
//!   p50 / p99

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use gridbook_core::Store;
use gridbook_core::demo;
use gridbook_core::domain::{
    AttentionLevel, GridAssignment, Household, HousingUse, LabelCategory, Person, PersonLabel, RecordKind,
};
use gridbook_core::shred::{self, PersonKey};

mod common;
use common::{admin, ms, pct};

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

/// A person as the residents import makes one: name, ID number and phone; `full` adds a birth
/// date and two labels with responsible persons.
fn person(grid: &str, household: &str, full: bool) -> Person {
    let label = |key: &str, category| PersonLabel {
        label: key.into(),
        category,
        start: day(2026, 1, 1),
        end: None,
        attention: AttentionLevel::Key,
        responsible: Some("张包案".into()),
    };
    Person {
        household_id: household.into(),
        grid_id: grid.into(),
        name: "王秀英".into(),
        id_number: Some("11010519491231002X".into()),
        phone: Some("13812345678".into()),
        relation: "户主".into(),
        birth_date: full.then(|| day(1949, 12, 31)),
        labels: if full {
            vec![
                label("community_correction", LabelCategory::Special),
                label("low_income", LabelCategory::Care),
            ]
        } else {
            vec![]
        },
    }
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn main() {
    // 1. Pure sealing and opening.
    let key = PersonKey::generate().expect("key");
    for full in [false, true] {
        let body = serde_json::to_value(person("g", "h", full)).expect("json");
        let mut seal_t = Vec::with_capacity(10_000);
        let mut open_t = Vec::with_capacity(10_000);
        let mut values = 0;
        for i in 0..10_000 {
            let id = format!("person-{i}");
            let mut b = body.clone();
            let t = Instant::now();
            shred::seal_body(RecordKind::Person, &id, &key, &mut b, &serde_json::Value::Null).expect("seal");
            seal_t.push(t.elapsed());
            values = b.to_string().matches(shred::SEALED_PREFIX).count();
            let t = Instant::now();
            let missing = shred::open_body(RecordKind::Person, &id, Some(&key), &mut b);
            open_t.push(t.elapsed());
            assert!(missing.is_empty() && b == body, "round trip");
        }
        seal_t.sort();
        open_t.sort();
        println!(
            "{} ({values} sealed values), 10,000 persons: seal p50 {} p99 {}, open p50 {} p99 {}",
            if full {
                "with birth date + 2 labels"
            } else {
                "name, ID number, phone only"
            },
            micros(pct(&seal_t, 0.5)),
            micros(pct(&seal_t, 0.99)),
            micros(pct(&open_t, 0.5)),
            micros(pct(&open_t, 0.99)),
        );
    }

    // 2. Saving a person through the store, on a file.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut s = Store::open(&dir.path().join("grid.db"), admin()).expect("open");
    let org = demo::seed_org(&mut s, 7).expect("org");
    let hh = s
        .create(&Household {
            grid_assignments: vec![GridAssignment {
                grid_id: org.grid.clone(),
                from: day(2026, 1, 1),
            }],
            building: "3栋".into(),
            unit: "2单元".into(),
            room: "301".into(),
            address: "幸福小区3栋2单元301室".into(),
            housing_use: HousingUse::OwnerOccupied,
            registered_on: day(2026, 1, 1),
        })
        .expect("household");
    for full in [false, true, false, true] {
        let p = person(&org.grid, &hh, full);
        let mut times = Vec::with_capacity(500);
        for _ in 0..500 {
            let t = Instant::now();
            s.create(&p).expect("save");
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "save one person, {} (500 saves): p50 {}  p99 {}",
            if full {
                "with birth date + 2 labels"
            } else {
                "name, ID number, phone only"
            },
            ms(pct(&times, 0.5)),
            ms(pct(&times, 0.99)),
        );
    }
}
