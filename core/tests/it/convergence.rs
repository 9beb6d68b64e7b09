//! Randomized convergence: 3 to 5 replicas make random offline edits of every record kind
//! (deletes and conflict resolutions included) and exchange changes in random orders, with
//! duplicates, re-deliveries and partial deliveries. At the end all replicas hold the same
//! documents and the same query rows, and the rows equal a rebuild from the documents.

use gridbook_core::domain::{Case, CaseKind, GeoPoint, HouseCall, Household, Ledger, Patrol, Person, RecordKind};
use gridbook_core::{DeleteResolution, RemoteChange, Store};
use proptest::prelude::*;
use serde_json::json;

use crate::common::*;

#[derive(Debug, Clone)]
enum Op {
    CreateHousehold {
        at: usize,
    },
    CreatePerson {
        at: usize,
        pick: usize,
    },
    CreateHouseCall {
        at: usize,
        pick: usize,
        minute: u32,
    },
    CreatePatrol {
        at: usize,
        minute: u32,
    },
    CreateLedger {
        at: usize,
    },
    CreateCase {
        at: usize,
        request: bool,
    },
    EditRoom {
        at: usize,
        pick: usize,
        room: u16,
    },
    EditNotes {
        at: usize,
        pick: usize,
        text: u8,
    },
    EditAnswer {
        at: usize,
        pick: usize,
        value: bool,
    },
    Delete {
        at: usize,
        pick: usize,
    },
    ResolveAll {
        at: usize,
    },
    /// Send everything `to` lacks; `twice` re-delivers; `keep` < 256 drops some changes.
    Exchange {
        from: usize,
        to: usize,
        twice: bool,
        keep: u8,
    },
    /// Deliver an old batch again, late.
    Replay {
        to: usize,
        which: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let at = 0usize..5;
    prop_oneof![
        2 => at.clone().prop_map(|at| Op::CreateHousehold { at }),
        2 => (at.clone(), any::<usize>()).prop_map(|(at, pick)| Op::CreatePerson { at, pick }),
        2 => (at.clone(), any::<usize>(), 0u32..600).prop_map(|(at, pick, minute)| Op::CreateHouseCall { at, pick, minute }),
        1 => (at.clone(), 0u32..600).prop_map(|(at, minute)| Op::CreatePatrol { at, minute }),
        1 => at.clone().prop_map(|at| Op::CreateLedger { at }),
        1 => (at.clone(), any::<bool>()).prop_map(|(at, request)| Op::CreateCase { at, request }),
        3 => (at.clone(), any::<usize>(), 100u16..110).prop_map(|(at, pick, room)| Op::EditRoom { at, pick, room }),
        2 => (at.clone(), any::<usize>(), any::<u8>()).prop_map(|(at, pick, text)| Op::EditNotes { at, pick, text }),
        2 => (at.clone(), any::<usize>(), any::<bool>()).prop_map(|(at, pick, value)| Op::EditAnswer { at, pick, value }),
        1 => (at.clone(), any::<usize>()).prop_map(|(at, pick)| Op::Delete { at, pick }),
        1 => at.clone().prop_map(|at| Op::ResolveAll { at }),
        5 => (at.clone(), at.clone(), any::<bool>(), any::<u8>()).prop_map(|(from, to, twice, keep)| Op::Exchange { from, to, twice, keep }),
        1 => (at, any::<usize>()).prop_map(|(to, which)| Op::Replay { to, which }),
    ]
}

fn ids_of(s: &Store, table: &str) -> Vec<String> {
    s.connection()
        .prepare(&format!("SELECT id FROM {table} ORDER BY id"))
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn pick(ids: &[String], n: usize) -> Option<&String> {
    if ids.is_empty() {
        None
    } else {
        Some(&ids[n % ids.len()])
    }
}

/// Apply one op; refusals the API is meant to give (deleted record ...) are fine.
fn run(r: &mut [Store], grid: &str, history: &mut Vec<Vec<RemoteChange>>, op: &Op) {
    let n = r.len();
    let ok = |res: gridbook_core::Result<()>| match res {
        Ok(()) => {}
        Err(e) if matches!(e.code(), "record_deleted" | "not_found" | "no_conflict") => {}
        Err(e) => panic!("unexpected error {e:?} in {op:?}"),
    };
    match *op {
        Op::CreateHousehold { at } => {
            r[at % n].create(&household(grid, "101")).unwrap();
        }
        Op::CreatePerson { at, pick: p } => {
            let s = &mut r[at % n];
            if let Some(hh) = pick(&ids_of(s, "households"), p).cloned() {
                ok(s.create(&Person {
                    household_id: hh,
                    grid_id: grid.into(),
                    name: "张伟".into(),
                    id_number: None,
                    phone: Some("13800000000".into()),
                    relation: "户主".into(),
                    birth_date: None,
                    labels: vec![],
                })
                .map(drop));
            }
        }
        Op::CreateHouseCall { at, pick: p, minute } => {
            let s = &mut r[at % n];
            if let Some(hh) = pick(&ids_of(s, "households"), p).cloned() {
                let start = cst(2026, 11, 20, 8, 0) + chrono::Duration::minutes(i64::from(minute));
                ok(s.create(&house_call(grid, &hh, start)).map(drop));
            }
        }
        Op::CreatePatrol { at, minute } => {
            let start = cst(2026, 11, 20, 8, 0) + chrono::Duration::minutes(i64::from(minute));
            r[at % n]
                .create(&Patrol {
                    grid_id: grid.into(),
                    worker: "worker-1".into(),
                    started_at: start,
                    ended_at: None,
                    track: vec![],
                    checkins: vec![],
                    findings: vec![],
                    notes: String::new(),
                })
                .unwrap();
        }
        Op::CreateLedger { at } => {
            r[at % n]
                .create(&Ledger {
                    grid_id: grid.into(),
                    worker: "worker-1".into(),
                    day: day(2026, 11, 20),
                    notes: "正常".into(),
                })
                .unwrap();
        }
        Op::CreateCase { at, request } => {
            r[at % n]
                .create(&Case {
                    grid_id: grid.into(),
                    case_kind: if request { CaseKind::Request } else { CaseKind::Incident },
                    category: "livelihood".into(),
                    subcategory: None,
                    scale: "individual".into(),
                    title: "路灯不亮".into(),
                    description: String::new(),
                    location: Some(GeoPoint { lat: 35.4, lon: 116.9 }),
                    address: String::new(),
                    reporter: "worker-1".into(),
                    channel: request.then(|| "phone".to_string()),
                    resident_name: None,
                    resident_phone: None,
                    photos: vec![],
                    occurred_at: cst(2026, 11, 20, 9, 0),
                })
                .unwrap();
        }
        Op::EditRoom { at, pick: p, room } => {
            let s = &mut r[at % n];
            if let Some(id) = pick(&ids_of(s, "households"), p).cloned() {
                let mut h: Household = s.get(&id).unwrap();
                h.room = room.to_string();
                ok(s.update(&id, &h));
            }
        }
        Op::EditNotes { at, pick: p, text } => {
            let s = &mut r[at % n];
            if let Some(id) = pick(&ids_of(s, "house_calls"), p).cloned() {
                let mut c: HouseCall = s.get(&id).unwrap();
                c.notes = format!("{}补{text}", c.notes);
                ok(s.update(&id, &c));
            }
        }
        Op::EditAnswer { at, pick: p, value } => {
            let s = &mut r[at % n];
            if let Some(id) = pick(&ids_of(s, "house_calls"), p).cloned() {
                let mut c: HouseCall = s.get(&id).unwrap();
                c.answers.insert("report.dispute".into(), json!(value));
                ok(s.update(&id, &c));
            }
        }
        Op::Delete { at, pick: p } => {
            let s = &mut r[at % n];
            let mut ids = ids_of(s, "households");
            ids.extend(ids_of(s, "house_calls"));
            ids.extend(ids_of(s, "cases"));
            if let Some(id) = pick(&ids, p).cloned() {
                ok(s.delete(&id));
            }
        }
        Op::ResolveAll { at } => {
            let s = &mut r[at % n];
            for c in s.conflicts().unwrap() {
                if c.edited_while_deleted {
                    ok(s.resolve_delete(&c.id, DeleteResolution::Restore));
                }
                for f in c.fields {
                    ok(s.resolve_conflict(&c.id, &f.path, &f.values[0]));
                }
            }
        }
        Op::Exchange { from, to, twice, keep } => {
            let (from, to) = (from % n, to % n);
            if from == to {
                return;
            }
            let mut batch = r[from].changes_since(&r[to].doc_heads().unwrap()).unwrap();
            if keep < 200 {
                // Partial delivery: some changes are lost on the way (their dependants wait).
                let mut i = 0usize;
                batch.retain(|_| {
                    i += 1;
                    !(i * 37 + keep as usize).is_multiple_of(3)
                });
            }
            r[to].apply_remote_changes(&batch).unwrap();
            // Person keys travel with the changes (crypto-shredding): a peer may read them.
            let keys = r[from].export_person_keys().unwrap();
            r[to].import_person_keys(&keys).unwrap();
            if twice {
                r[to].apply_remote_changes(&batch).unwrap();
            }
            history.push(batch);
        }
        Op::Replay { to, which } => {
            if !history.is_empty() {
                let batch = history[which % history.len()].clone();
                r[to % n].apply_remote_changes(&batch).unwrap();
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge(n in 3usize..=5, ops in proptest::collection::vec(op(), 5..40)) {
        let (mut r, org) = replicas(n);
        let mut history = Vec::new();
        for op in &ops {
            run(&mut r, &org.grid_a, &mut history, op);
        }
        // Final fault-free rounds: everyone sends everyone what they lack.
        for _ in 0..2 {
            for i in 0..n {
                for j in 0..n {
                    if i != j {
                        let batch = r[i].changes_since(&r[j].doc_heads().unwrap()).unwrap();
                        r[j].apply_remote_changes(&batch).unwrap();
                        let keys = r[i].export_person_keys().unwrap();
                        r[j].import_person_keys(&keys).unwrap();
                    }
                }
            }
        }
        let heads = r[0].doc_heads().unwrap();
        let dump = r[0].query_table_dump().unwrap();
        for s in &r[1..] {
            prop_assert_eq!(&s.doc_heads().unwrap(), &heads);
            prop_assert_eq!(&s.query_table_dump().unwrap(), &dump);
            prop_assert_eq!(s.table_counts().unwrap()["pending_changes"], 0);
        }
        // Incremental maintenance equals a rebuild from the documents.
        r[0].rebuild_query_tables().unwrap();
        prop_assert_eq!(&r[0].query_table_dump().unwrap(), &dump);
        // Every record kind made is present as a record row.
        let kinds: i64 = r[0].connection().query_row("SELECT count(DISTINCT kind) FROM records", [], |x| x.get(0)).unwrap();
        prop_assert!(kinds >= 1);
        let _ = RecordKind::ALL;
    }
}

/// Two publishes of one rule version that raced (two admins, or the CLI beside the admin page)
/// make two records of it; every replica must then use the same one whatever order the
/// records arrive in (the smaller record id), or phones would fold cases with different rules.
#[test]
fn two_records_of_one_rule_version_resolve_to_the_same_rules_everywhere() {
    use gridbook_core::{RuleKind, RuleSet};
    let version_2 = |label: &str| {
        let mut v: serde_json::Value = serde_json::from_str(RuleKind::Calendar.shipped_json()).unwrap();
        v["label_zh"] = label.into();
        RuleSet {
            rule: RuleKind::Calendar,
            version: 2,
            json: v.to_string(),
        }
    };
    let (mut r, _org) = replicas(4);
    let a = r[0].create(&version_2("甲")).unwrap();
    let b = r[1].create(&version_2("乙")).unwrap();
    let winner = if a < b { "甲" } else { "乙" };
    let from_0 = r[0].changes_since(&r[2].doc_heads().unwrap()).unwrap();
    let from_1 = r[1].changes_since(&r[2].doc_heads().unwrap()).unwrap();
    r[2].apply_remote_changes(&from_0).unwrap();
    r[2].apply_remote_changes(&from_1).unwrap();
    r[3].apply_remote_changes(&from_1).unwrap();
    r[3].apply_remote_changes(&from_0).unwrap();
    r[0].apply_remote_changes(&from_1).unwrap();
    r[1].apply_remote_changes(&from_0).unwrap();
    for (i, s) in r.iter().enumerate() {
        let json: String = s
            .connection()
            .query_row(
                "SELECT json FROM rule_sets WHERE rule = 'calendar' AND version = 2",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let held: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(held["label_zh"], winner, "replica {i}");
    }
}
