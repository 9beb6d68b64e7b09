//! Records made offline, reopened, merged, conflicting, deleted; bad input refused whole.

use std::collections::BTreeMap;

use gridbook_core::domain::{
    AnswerType, AttentionLevel, Case, CaseKind, ChecklistTemplate, GeoPoint, HouseCall, Household, LabelCategory,
    Ledger, OrgLevel, OrgNode, Patrol, PatrolCheckin, Person, PersonLabel, Problem, TemplateItem, TrackPoint,
};
use gridbook_core::{DeleteResolution, Store};
use serde_json::json;

use crate::common::*;

fn person(grid: &str, household: &str) -> Person {
    Person {
        household_id: household.into(),
        grid_id: grid.into(),
        name: "王秀英".into(),
        id_number: Some("11010519491231002X".into()),
        phone: Some("13812345678".into()),
        relation: "户主".into(),
        birth_date: Some(day(1949, 12, 31)),
        labels: vec![PersonLabel {
            label: "living_alone_elderly".into(),
            category: LabelCategory::Care,
            start: day(2025, 1, 1),
            end: None,
            attention: AttentionLevel::Attention,
            responsible: Some("worker-1".into()),
        }],
    }
}

#[test]
fn every_kind_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    let mut ids = BTreeMap::new();
    {
        let mut s = Store::open(&path, admin()).unwrap();
        let org = seed_org(&mut s);
        let hh = s.create(&household(&org.grid_a, "501")).unwrap();
        ids.insert("household", hh.clone());
        ids.insert("person", s.create(&person(&org.grid_a, &hh)).unwrap());
        let mut call = house_call(&org.grid_a, &hh, cst(2026, 11, 20, 10, 0));
        call.problems.push(Problem {
            kind: "fire_hazard".into(),
            description: "楼道堆放杂物".into(),
            solved_on_spot: true,
            reported: false,
            case_id: None,
        });
        ids.insert("house_call", s.create(&call).unwrap());
        let start = cst(2026, 11, 20, 8, 30);
        ids.insert(
            "patrol",
            s.create(&Patrol {
                grid_id: org.grid_a.clone(),
                worker: "worker-1".into(),
                started_at: start,
                ended_at: Some(start + chrono::Duration::hours(1)),
                track: vec![TrackPoint {
                    at: start,
                    point: GeoPoint { lat: 35.4, lon: 116.9 },
                }],
                checkins: vec![PatrolCheckin {
                    point: "东门".into(),
                    at: start,
                    note: "正常".into(),
                }],
                findings: vec![],
                notes: String::new(),
            })
            .unwrap(),
        );
        ids.insert(
            "ledger",
            s.create(&Ledger {
                grid_id: org.grid_a.clone(),
                worker: "worker-1".into(),
                day: day(2026, 11, 20),
                notes: "正常".into(),
            })
            .unwrap(),
        );
        for (key, kind, channel) in [
            ("incident", CaseKind::Incident, None),
            ("request", CaseKind::Request, Some("phone")),
        ] {
            ids.insert(
                key,
                s.create(&Case {
                    grid_id: org.grid_a.clone(),
                    case_kind: kind,
                    category: "safety_hazard".into(),
                    subcategory: None,
                    scale: "individual".into(),
                    title: "楼道堆放杂物".into(),
                    description: "3栋2单元楼道".into(),
                    location: None,
                    address: "幸福小区3栋".into(),
                    reporter: "worker-1".into(),
                    channel: channel.map(str::to_string),
                    resident_name: None,
                    resident_phone: Some("13812345678".into()),
                    photos: vec![],
                    occurred_at: start,
                })
                .unwrap(),
            );
        }
        let mut t2 = ChecklistTemplate::builtin();
        t2.version = 2;
        ids.insert("template", s.create(&t2).unwrap());
    }
    let s = Store::open(&path, admin()).unwrap();
    let h: Household = s.get(&ids["household"]).unwrap();
    assert_eq!(h.room, "501");
    let p: Person = s.get(&ids["person"]).unwrap();
    assert_eq!(p.id_number.as_deref(), Some("11010519491231002X"));
    let c: HouseCall = s.get(&ids["house_call"]).unwrap();
    assert_eq!(c.notes, "入户走访，情况正常。");
    assert_eq!(c.problems.len(), 1);
    let _: Patrol = s.get(&ids["patrol"]).unwrap();
    let _: Ledger = s.get(&ids["ledger"]).unwrap();
    let inc: Case = s.get(&ids["incident"]).unwrap();
    assert_eq!(inc.case_kind, CaseKind::Incident);
    let req: Case = s.get(&ids["request"]).unwrap();
    assert_eq!(req.channel.as_deref(), Some("phone"));
    assert_eq!(s.active_template().unwrap().version, 2);

    let counts = s.table_counts().unwrap();
    assert_eq!(counts["org_nodes"], 5);
    assert_eq!(counts["households"], 1);
    assert_eq!(counts["persons"], 1);
    assert_eq!(counts["person_labels"], 1);
    assert_eq!(counts["house_calls"], 1);
    assert_eq!(counts["patrols"], 1);
    assert_eq!(counts["problems"], 1);
    assert_eq!(counts["ledgers"], 1);
    assert_eq!(counts["cases"], 2);
    assert_eq!(counts["templates"], 2);
    assert_eq!(counts["records"], 13);
    assert_eq!(counts["outbox"], 13, "every change waits for the server");
    // Lists mask sensitive fields.
    let masked: String = s
        .connection()
        .query_row("SELECT id_number_masked FROM persons", [], |r| r.get(0))
        .unwrap();
    assert_eq!(masked, "110105********002X");
    let masked = s.get_json_masked(&ids["person"]).unwrap();
    assert_eq!(
        (masked["id_number"].as_str(), masked["phone"].as_str()),
        (Some("110105********002X"), Some("138****5678"))
    );
    assert_eq!(
        s.get_json_masked(&ids["request"]).unwrap()["resident_phone"],
        "138****5678"
    );
    let ledger = s.ledger(&ids["ledger"]).unwrap();
    assert_eq!(
        (
            ledger.households_visited,
            ledger.house_calls,
            ledger.patrols,
            ledger.solved_on_spot
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(ledger.problems_by_kind.get("fire_hazard"), Some(&1));
}

#[test]
fn concurrent_edits_of_one_house_call_merge_both_ways() {
    for a_first in [true, false] {
        let (mut r, org) = replicas(2);
        let hh = r[0].create(&household(&org.grid_a, "101")).unwrap();
        let id = r[0]
            .create(&house_call(&org.grid_a, &hh, cst(2026, 11, 20, 10, 0)))
            .unwrap();
        let (a, b) = r.split_at_mut(1);
        let (a, b) = (&mut a[0], &mut b[0]);
        send(a, b);
        // Offline: both fix the follow-up date (conflict), each edits other fields (merge).
        let mut on_a: HouseCall = a.get(&id).unwrap();
        on_a.follow_up_due = Some(day(2026, 12, 1));
        on_a.answers.insert("know.hardship".into(), json!(true));
        on_a.notes = "入户走访，情况正常。老人腿脚不便。".into();
        a.update(&id, &on_a).unwrap();
        let mut on_b: HouseCall = b.get(&id).unwrap();
        on_b.follow_up_due = Some(day(2026, 12, 5));
        on_b.answers.insert("report.dispute".into(), json!(false));
        on_b.notes = "补充：入户走访，情况正常。".into();
        b.update(&id, &on_b).unwrap();
        if a_first {
            send(a, b);
            send(b, a);
        } else {
            send(b, a);
            send(a, b);
        }
        assert_eq!(a.doc_heads().unwrap(), b.doc_heads().unwrap());
        assert_eq!(a.query_table_dump().unwrap(), b.query_table_dump().unwrap());
        let merged: HouseCall = a.get(&id).unwrap();
        assert_eq!(merged.answers.len(), 4, "both answers kept: {:?}", merged.answers);
        assert!(
            merged.notes.contains("老人腿脚不便") && merged.notes.contains("补充"),
            "{}",
            merged.notes
        );
        for s in [&*a, &*b] {
            let c = s.conflicts().unwrap();
            assert_eq!(c.len(), 1);
            assert_eq!(c[0].fields.len(), 1);
            assert_eq!(c[0].fields[0].path, "body/follow_up_due");
            let mut values = c[0].fields[0].values.clone();
            values.sort_by_key(|v| v.to_string());
            assert_eq!(values, vec![json!("2026-12-01"), json!("2026-12-05")]);
        }
        b.resolve_conflict(&id, "body/follow_up_due", &json!("2026-12-05"))
            .unwrap();
        send(b, a);
        for s in [&*a, &*b] {
            assert!(s.conflicts().unwrap().is_empty());
            assert_eq!(s.get::<HouseCall>(&id).unwrap().follow_up_due, Some(day(2026, 12, 5)));
        }
        assert_eq!(a.query_table_dump().unwrap(), b.query_table_dump().unwrap());
    }
}

#[test]
fn an_edit_racing_a_delete_is_a_conflict_everywhere() {
    let (mut r, org) = replicas(2);
    let hh = r[0].create(&household(&org.grid_a, "101")).unwrap();
    let (a, b) = r.split_at_mut(1);
    let (a, b) = (&mut a[0], &mut b[0]);
    send(a, b);
    a.delete(&hh).unwrap();
    let mut h: Household = b.get(&hh).unwrap();
    h.room = "102".into();
    b.update(&hh, &h).unwrap();
    send(a, b);
    send(b, a);
    for s in [&*a, &*b] {
        let c = s.conflicts().unwrap();
        assert_eq!(c.len(), 1, "no silent loss, no silent resurrection");
        assert!(c[0].edited_while_deleted);
        assert!(s.households(None).unwrap().is_empty(), "still deleted until resolved");
    }
    a.resolve_delete(&hh, DeleteResolution::Restore).unwrap();
    send(a, b);
    for s in [&*a, &*b] {
        assert!(s.conflicts().unwrap().is_empty());
        assert_eq!(s.get::<Household>(&hh).unwrap().room, "102");
        assert_eq!(s.households(None).unwrap().len(), 1);
    }
    // A plain delete with no racing edit is no conflict; confirming keeps it deleted.
    b.delete(&hh).unwrap();
    let mut h: Household = a.get(&hh).unwrap();
    h.room = "103".into();
    a.update(&hh, &h).unwrap();
    send(a, b);
    send(b, a);
    assert!(a.conflicts().unwrap()[0].edited_while_deleted);
    b.resolve_delete(&hh, DeleteResolution::ConfirmDelete).unwrap();
    send(b, a);
    for s in [&*a, &*b] {
        assert!(s.conflicts().unwrap().is_empty());
        assert!(s.households(None).unwrap().is_empty());
    }
    assert_eq!(a.update(&hh, &h).unwrap_err().code(), "record_deleted");
}

#[test]
fn template_v2_does_not_break_v1_records() {
    let mut s = Store::open_in_memory(admin()).unwrap();
    let org = seed_org(&mut s);
    let hh = s.create(&household(&org.grid_a, "101")).unwrap();
    let v1_call = s
        .create(&house_call(&org.grid_a, &hh, cst(2026, 11, 1, 10, 0)))
        .unwrap();
    let mut t2 = ChecklistTemplate::builtin();
    t2.version = 2;
    t2.sections[2].items.push(TemplateItem {
        id: "report.telecom_fraud".into(),
        label: "电信诈骗线索".into(),
        answer: AnswerType::Bool,
        options: vec![],
        frequency_days: None,
        labels: vec![],
    });
    t2.sections[0].items.retain(|i| i.id != "know.situation");
    s.create(&t2).unwrap();
    assert_eq!(s.active_template().unwrap().version, 2);
    // A v2 house call uses the new item and may not use the removed one.
    let mut call = house_call(&org.grid_a, &hh, cst(2026, 11, 2, 10, 0));
    call.template_version = 2;
    call.answers.remove("know.situation");
    call.answers.insert("report.telecom_fraud".into(), json!(true));
    let v2_call = s.create(&call).unwrap();
    call.answers.insert("know.situation".into(), json!(true));
    assert_eq!(s.create(&call).unwrap_err().code(), "unknown_template_item");
    // The v1 record still reads, is still valid against v1, and can still be edited.
    let mut old: HouseCall = s.get(&v1_call).unwrap();
    assert_eq!(old.template_version, 1);
    assert_eq!(old.answers["know.situation"], json!(true));
    old.notes.push_str("（补记）");
    s.update(&v1_call, &old).unwrap();
    assert_eq!(
        s.template("3456", 1).unwrap().item("know.situation").unwrap().label,
        "社情民意"
    );
    assert_eq!(
        s.get::<HouseCall>(&v2_call).unwrap().answers["report.telecom_fraud"],
        json!(true)
    );
}

/// Each bad input returns its code and no table changes.
#[test]
fn bad_input_is_refused_and_writes_nothing() {
    let mut s = Store::open_in_memory(admin()).unwrap();
    let org = seed_org(&mut s);
    let hh = s.create(&household(&org.grid_a, "101")).unwrap();
    s.set_identity(worker(&org.grid_a));
    let before = s.table_counts().unwrap();
    let base = house_call(&org.grid_a, &hh, cst(2026, 11, 20, 10, 0));

    let mut unknown_item = base.clone();
    unknown_item.answers.insert("know.horoscope".into(), json!(true));
    let mut wrong_type = base.clone();
    wrong_type.answers.insert("know.situation".into(), json!("是"));
    let mut bad_choice = base.clone();
    bad_choice.answers.insert("clear.housing".into(), json!("别墅"));
    let mut end_before_start = base.clone();
    end_before_start.ended_at = base.started_at - chrono::Duration::minutes(1);
    let mut unknown_household = base.clone();
    unknown_household.household_id = "0193a000-0000-7000-8000-000000000000".into();
    let mut other_grid = base.clone();
    other_grid.grid_id = org.grid_b.clone();
    let mut bad_location = base.clone();
    bad_location.location = Some(GeoPoint { lat: 123.0, lon: 0.0 });
    let mut unknown_template = base.clone();
    unknown_template.template_version = 9;
    let cases: Vec<(&str, HouseCall)> = vec![
        ("unknown_template_item", unknown_item),
        ("wrong_answer_type", wrong_type),
        ("wrong_answer_type", bad_choice),
        ("end_before_start", end_before_start),
        ("not_found", unknown_household),
        ("out_of_scope", other_grid),
        ("invalid_location", bad_location),
        ("not_found", unknown_template),
    ];
    for (code, call) in cases {
        assert_eq!(s.create(&call).unwrap_err().code(), code);
        assert_eq!(s.table_counts().unwrap(), before, "after {code}");
    }
    // A household in another grid is outside this worker's area.
    assert_eq!(
        s.create(&household(&org.grid_b, "1")).unwrap_err().code(),
        "out_of_scope"
    );
    let mut p = person(&org.grid_a, &hh);
    p.id_number = Some("110105194912310021".into());
    assert_eq!(s.create(&p).unwrap_err().code(), "invalid_id_number");
    p.id_number = None;
    p.phone = Some("12345".into());
    assert_eq!(s.create(&p).unwrap_err().code(), "invalid_phone");
    p.phone = None;
    p.name = "  ".into();
    assert_eq!(s.create(&p).unwrap_err().code(), "empty_field");
    assert_eq!(s.table_counts().unwrap(), before);

    // Org nodes: a bad grid code, a grid hung below a sub-district.
    s.set_identity(admin());
    let grid = |code: &str, parent: &str| OrgNode {
        name: "新网格".into(),
        level: OrgLevel::Grid,
        code: code.into(),
        parent: Some(parent.into()),
        effective_from: day(2026, 1, 1),
        effective_to: None,
    };
    assert_eq!(
        s.create(&grid("37088300100200", &org.community)).unwrap_err().code(),
        "invalid_grid_code"
    );
    assert_eq!(
        s.create(&grid("370883009009009", &org.community)).unwrap_err().code(),
        "invalid_grid_code"
    );
    let sub: String = s
        .connection()
        .query_row("SELECT id FROM org_nodes WHERE level = 'sub_district'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(
        s.create(&grid("370883001002009", &sub)).unwrap_err().code(),
        "invalid_parent"
    );
    assert_eq!(s.table_counts().unwrap(), before);
    // Garbage change bytes: refused before anything is written.
    let garbage = gridbook_core::RemoteChange {
        doc_id: hh.clone(),
        bytes: vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3],
    };
    assert_eq!(s.apply_remote_changes(&[garbage]).unwrap_err().code(), "invalid_change");
    assert_eq!(s.table_counts().unwrap(), before);
}

#[test]
fn outbox_keeps_changes_until_acked_and_redelivery_is_a_no_op() {
    let (mut r, org) = replicas(2);
    let (a, b) = r.split_at_mut(1);
    let (a, b) = (&mut a[0], &mut b[0]);
    let hh = a.create(&household(&org.grid_a, "101")).unwrap();
    let out = a.outbox(1000).unwrap();
    assert_eq!(out.last().unwrap().doc_id, hh);
    let batch: Vec<_> = out
        .iter()
        .map(|e| gridbook_core::RemoteChange {
            doc_id: e.doc_id.clone(),
            bytes: e.bytes.clone(),
        })
        .collect();
    let first = b.apply_remote_changes(&batch).unwrap();
    let again = b.apply_remote_changes(&batch).unwrap();
    assert_eq!(again.applied, 0);
    assert_eq!(again.duplicates, batch.len() as u64);
    assert!(first.records_changed >= 1);
    let n = out.len();
    assert_eq!(
        a.ack(&out.iter().take(2).map(|e| e.hash.clone()).collect::<Vec<_>>())
            .unwrap(),
        2
    );
    assert_eq!(a.outbox_len().unwrap(), n - 2);
    // A change whose dependency has not arrived waits, then applies.
    let mut h: Household = a.get(&hh).unwrap();
    h.room = "102".into();
    a.update(&hh, &h).unwrap();
    h.room = "103".into();
    a.update(&hh, &h).unwrap();
    let last_two = a.outbox(1000).unwrap().into_iter().rev().take(2).collect::<Vec<_>>();
    let later = gridbook_core::RemoteChange {
        doc_id: hh.clone(),
        bytes: last_two[0].bytes.clone(),
    };
    let earlier = gridbook_core::RemoteChange {
        doc_id: hh.clone(),
        bytes: last_two[1].bytes.clone(),
    };
    assert_eq!(b.apply_remote_changes(std::slice::from_ref(&later)).unwrap().pending, 1);
    assert_eq!(b.get::<Household>(&hh).unwrap().room, "101");
    b.apply_remote_changes(&[earlier]).unwrap();
    assert_eq!(b.get::<Household>(&hh).unwrap().room, "103");
    assert_eq!(b.table_counts().unwrap()["pending_changes"], 0);
}

#[test]
fn ledger_review_returns_and_flags_edits_after_approval() {
    let (mut r, org) = replicas(2);
    let (a, b) = r.split_at_mut(1);
    let (worker_store, sup) = (&mut a[0], &mut b[0]);
    worker_store.set_identity(worker(&org.grid_a));
    sup.set_identity(supervisor(&[&org.grid_a, &org.grid_b]));
    let mut l = Ledger {
        grid_id: org.grid_a.clone(),
        worker: "worker-1".into(),
        day: day(2026, 11, 20),
        notes: "正常".into(),
    };
    let id = worker_store.create(&l).unwrap();
    worker_store.submit_ledger(&id).unwrap();
    assert_eq!(worker_store.update_ledger(&id, &l).unwrap_err().code(), "ledger_locked");
    assert_eq!(worker_store.approve_ledger(&id).unwrap_err().code(), "role_not_allowed");
    send(worker_store, sup);
    assert_eq!(sup.return_ledger(&id, " ").unwrap_err().code(), "empty_field");
    sup.return_ledger(&id, "请补充三户走访记录").unwrap();
    send(sup, worker_store);
    let row = worker_store.ledger(&id).unwrap();
    assert_eq!(row.review_state, "returned");
    assert_eq!(row.review_comment.as_deref(), Some("请补充三户走访记录"));
    l.notes = "已补充".into();
    worker_store.update_ledger(&id, &l).unwrap();
    worker_store.submit_ledger(&id).unwrap();
    send(worker_store, sup);
    sup.approve_ledger(&id).unwrap();
    // Offline edit on the worker's phone racing the approval (an older app without the lock).
    worker_store
        .update(
            &id,
            &Ledger {
                notes: "再次修改".into(),
                ..l.clone()
            },
        )
        .unwrap();
    send(sup, worker_store);
    send(worker_store, sup);
    for s in [&*worker_store, &*sup] {
        let row = s.ledger(&id).unwrap();
        assert_eq!(row.review_state, "approved");
        assert!(row.flagged, "the late edit is flagged, not lost");
        assert_eq!(s.get::<Ledger>(&id).unwrap().notes, "再次修改");
    }
}

#[test]
fn demo_grid_is_deterministic_from_its_seed() {
    let opts = gridbook_core::demo::DemoOptions {
        households: 12,
        days: 10,
        ..Default::default()
    };
    let make = |seed| {
        let mut s = Store::open_in_memory(admin()).unwrap();
        let org = gridbook_core::demo::seed_org(&mut s, seed).unwrap();
        let g = gridbook_core::demo::generate_grid(&mut s, &org.grid, "worker-1", seed, opts).unwrap();
        (s.query_table_dump().unwrap(), g)
    };
    let (a, ga) = make(3);
    let (b, gb) = make(3);
    let (c, _) = make(4);
    assert!(a == b, "same seed, same rows");
    assert_eq!(ga, gb);
    assert!(a != c, "another seed, other rows");
    assert_eq!(ga.households.len(), 12);
    assert_eq!(ga.persons.len(), 36);
    assert!(ga.house_calls.len() >= 4 * 6, "{} house calls", ga.house_calls.len());
}

/// Found by fuzzing the server's change validator: changes that make Automerge panic (an op
/// order that breaks its sort when applied; an op id that overflows when parsed). A store
/// refuses them with a typed error and writes nothing.
#[test]
fn a_change_that_makes_automerge_panic_is_refused() {
    let mut s = Store::open_in_memory(admin()).unwrap();
    let before = s.table_counts().unwrap();
    let overflow = include_bytes!("../fixtures/automerge_opid_overflow.bin").to_vec();
    assert_eq!(
        gridbook_core::doc::parse_change(&overflow).unwrap_err().code(),
        "invalid_change"
    );
    let r = s.apply_remote_changes(&[gridbook_core::RemoteChange {
        doc_id: "x".into(),
        bytes: overflow,
    }]);
    assert_eq!(r.unwrap_err().code(), "invalid_change");
    let bytes = include_bytes!("../fixtures/automerge_sort_panic.bin").to_vec();
    let r = s.apply_remote_changes(&[gridbook_core::RemoteChange {
        doc_id: "x".into(),
        bytes,
    }]);
    assert_eq!(r.unwrap_err().code(), "invalid_change");
    // A 398-byte Automerge *bundle* chunk on which automerge 0.12's decoder grew past 20 GiB
    // (fuzzing the change validator): refused from its header, before Automerge decodes it.
    let bundle = include_bytes!("../fixtures/automerge_bundle_oom.bin").to_vec();
    assert_eq!(bundle[8], 3, "the fixture is a bundle chunk");
    assert_eq!(
        gridbook_core::doc::parse_change(&bundle).unwrap_err().code(),
        "invalid_change"
    );
    let r = s.apply_remote_changes(&[gridbook_core::RemoteChange {
        doc_id: "x".into(),
        bytes: bundle,
    }]);
    assert_eq!(r.unwrap_err().code(), "invalid_change");
    assert_eq!(s.table_counts().unwrap(), before);
}
