//! Sealing of a person's birth date and labels (crypto-shredding, ADR 0004 as amended): sealed
//! inside each label, so concurrent label adds still merge; plain (legacy) values still read;
//! without the key the labels are absent and the birth date unavailable, never a panic.

use automerge::transaction::Transactable;
use gridbook_core::domain::{AttentionLevel, LabelCategory, Person, PersonLabel, Record};
use gridbook_core::shred::{self, UNAVAILABLE_KEY, UNAVAILABLE_TEXT};
use gridbook_core::{RemoteChange, Store};
use serde_json::{Value as Json, json};

use super::common::{day, household, replicas, send};

const RESPONSIBLE_A: &str = "包案人甲乙丙";
const RESPONSIBLE_B: &str = "帮扶人丁戊己";

fn label(key: &str, category: LabelCategory, responsible: &str) -> PersonLabel {
    PersonLabel {
        label: key.into(),
        category,
        start: day(2026, 2, 1),
        end: None,
        attention: AttentionLevel::Key,
        responsible: Some(responsible.into()),
    }
}

fn person(grid: &str, household: &str, labels: Vec<PersonLabel>) -> Person {
    Person {
        household_id: household.into(),
        grid_id: grid.into(),
        name: "韩淑兰".into(),
        id_number: None,
        phone: None,
        relation: "户主".into(),
        birth_date: Some(day(1936, 7, 19)),
        labels,
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Every stored change and snapshot of one record in a store, concatenated.
fn record_blobs(store: &Store, id: &str) -> Vec<u8> {
    let mut out = vec![];
    for sql in [
        "SELECT bytes FROM docs WHERE id = ?1",
        "SELECT bytes FROM outbox WHERE doc_id = ?1",
    ] {
        let mut stmt = store.connection().prepare(sql).unwrap();
        for b in stmt.query_map([id], |r| r.get::<_, Vec<u8>>(0)).unwrap() {
            out.extend(b.unwrap());
        }
    }
    for c in store.changes_since(&Default::default()).unwrap() {
        if c.doc_id == id {
            out.extend(c.bytes);
        }
    }
    out
}

/// The person's body as stored in its document (sealed values as they are).
fn stored_body(store: &Store, id: &str) -> Json {
    let bytes: Vec<u8> = store
        .connection()
        .query_row("SELECT bytes FROM docs WHERE id = ?1", [id], |r| r.get(0))
        .unwrap();
    let doc = automerge::AutoCommit::load(&bytes).unwrap();
    let b = gridbook_core::doc::root_obj(&doc, "body").unwrap();
    gridbook_core::doc::read_json(&doc, &b)
}

fn label_rows(store: &Store, id: &str) -> Vec<(String, String, Option<String>)> {
    let mut stmt = store
        .connection()
        .prepare("SELECT label, category, responsible FROM person_labels WHERE person_id = ?1 ORDER BY idx")
        .unwrap();
    stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn concurrent_label_adds_on_two_phones_both_survive_and_stay_sealed() {
    let (mut r, org) = replicas(2);
    let hh = r[0].create(&household(&org.grid_a, "301")).unwrap();
    let base = person(
        &org.grid_a,
        &hh,
        vec![label("low_income", LabelCategory::Care, RESPONSIBLE_A)],
    );
    let id = r[0].create(&base).unwrap();
    let (a, b) = r.split_at_mut(1);
    send(&a[0], &mut b[0]);
    assert_eq!(b[0].get::<Person>(&id).unwrap(), base, "the peer reads it with the key");

    // Offline, each phone adds a label.
    let mut on_a = base.clone();
    on_a.labels
        .push(label("community_correction", LabelCategory::Special, RESPONSIBLE_B));
    a[0].update(&id, &on_a).unwrap();
    let mut on_b = base.clone();
    on_b.labels.push(label("disabled", LabelCategory::Care, RESPONSIBLE_A));
    b[0].update(&id, &on_b).unwrap();
    send(&a[0], &mut b[0]);
    send(&b[0], &mut a[0]);

    let merged_a = a[0].get::<Person>(&id).unwrap();
    let merged_b = b[0].get::<Person>(&id).unwrap();
    assert_eq!(merged_a, merged_b, "converged");
    let mut keys: Vec<&str> = merged_a.labels.iter().map(|l| l.label.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["community_correction", "disabled", "low_income"],
        "both adds survive"
    );
    assert_eq!(merged_a.birth_date, Some(day(1936, 7, 19)));
    for s in [&a[0], &b[0]] {
        assert_eq!(label_rows(s, &id).len(), 3, "query rows of every label");
        // Sealed in the document: each element's key, family and responsible person; dates and
        // attention plain.
        let body = stored_body(s, &id);
        assert!(shred::is_sealed(&body["birth_date"]));
        for l in body["labels"].as_array().unwrap() {
            for f in ["label", "category", "responsible"] {
                assert!(shred::is_sealed(&l[f]), "{f} sealed: {l}");
            }
            assert_eq!(l["start"], "2026-02-01");
            assert_eq!(l["attention"], "key");
        }
        let blobs = record_blobs(s, &id);
        for needle in [
            "community_correction",
            "low_income",
            "disabled",
            RESPONSIBLE_A,
            RESPONSIBLE_B,
            "1936-07-19",
            "special",
        ] {
            assert!(!contains(&blobs, needle), "`{needle}` in a stored change or snapshot");
        }
    }
    // An edit of another field leaves every sealed value as it was (writes nothing sealed).
    let before = stored_body(&a[0], &id);
    let mut moved = merged_a.clone();
    moved.relation = "本人".into();
    a[0].update(&id, &moved).unwrap();
    let after = stored_body(&a[0], &id);
    assert_eq!(after["labels"], before["labels"]);
    assert_eq!(after["birth_date"], before["birth_date"]);
    assert_eq!(after["relation"], "本人");
}

#[test]
fn without_the_key_labels_are_absent_and_the_birth_date_unavailable() {
    let (mut r, org) = replicas(2);
    let hh = r[0].create(&household(&org.grid_a, "302")).unwrap();
    let id = r[0]
        .create(&person(
            &org.grid_a,
            &hh,
            vec![label("community_correction", LabelCategory::Special, RESPONSIBLE_A)],
        ))
        .unwrap();
    // The changes only, not the key (a device whose key has not arrived, or after erasure).
    let (a, b) = r.split_at_mut(1);
    let batch = a[0].changes_since(&b[0].doc_heads().unwrap()).unwrap();
    b[0].apply_remote_changes(&batch).unwrap();
    let blind = &b[0];
    assert_eq!(blind.get::<Person>(&id).unwrap_err().code(), "sensitive_unavailable");
    let json = blind.get_json(&id).unwrap();
    assert_eq!(json["birth_date"], Json::Null);
    assert_eq!(json["labels"], json!([]), "a label that cannot be opened is left out");
    assert_eq!(
        json[UNAVAILABLE_KEY],
        json!(["name", "birth_date", "labels"]),
        "id number and phone were never set"
    );
    assert_eq!(blind.get_json_masked(&id).unwrap()["labels"], json!([]));
    let (name, birth): (String, Option<String>) = blind
        .connection()
        .query_row(
            "SELECT name_masked, birth_date FROM persons WHERE id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (name.as_str(), birth.as_deref()),
        (UNAVAILABLE_TEXT, Some(UNAVAILABLE_TEXT))
    );
    assert!(
        label_rows(blind, &id).is_empty(),
        "no label rows: no visits due from them"
    );
    // The key arrives: everything reads, the rows are rebuilt.
    b[0].import_person_keys(&a[0].export_person_keys().unwrap()).unwrap();
    assert_eq!(b[0].get::<Person>(&id).unwrap().labels.len(), 1);
    assert_eq!(
        label_rows(&b[0], &id),
        [(
            "community_correction".to_string(),
            "special".to_string(),
            Some(RESPONSIBLE_A.to_string())
        )]
    );
}

/// A person document as written before labels and birth dates were sealed: the same layout as
/// `Store::create`, body in plain.
fn legacy_person_change(id: &str, p: &Person) -> RemoteChange {
    let mut doc = automerge::AutoCommit::new();
    doc.put(automerge::ROOT, "id", id).unwrap();
    doc.put(automerge::ROOT, "kind", "person").unwrap();
    doc.put(automerge::ROOT, "schema", <Person as Record>::SCHEMA).unwrap();
    doc.put(automerge::ROOT, "scope", p.grid_id.as_str()).unwrap();
    doc.put(automerge::ROOT, "created_at", "2026-01-02T03:04:05+00:00")
        .unwrap();
    doc.put(automerge::ROOT, "created_by", "worker-1").unwrap();
    let b = doc
        .put_object(automerge::ROOT, "body", automerge::ObjType::Map)
        .unwrap();
    let body = serde_json::to_value(p).unwrap();
    gridbook_core::doc::write_map(&mut doc, &b, &Json::Null, body.as_object().unwrap()).unwrap();
    doc.commit();
    let bytes = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
    RemoteChange {
        doc_id: id.into(),
        bytes,
    }
}

#[test]
fn plain_legacy_labels_and_birth_dates_read_as_is_and_the_next_write_seals_them() {
    let (mut r, org) = replicas(1);
    let store = &mut r[0];
    let hh = store.create(&household(&org.grid_a, "303")).unwrap();
    let old = person(
        &org.grid_a,
        &hh,
        vec![label("community_correction", LabelCategory::Special, RESPONSIBLE_A)],
    );
    let id = uuid::Uuid::now_v7().to_string();
    store.apply_remote_changes(&[legacy_person_change(&id, &old)]).unwrap();
    assert_eq!(store.get::<Person>(&id).unwrap(), old, "plain values read as they are");
    assert!(store.get_json(&id).unwrap().get(UNAVAILABLE_KEY).is_none());
    assert_eq!(label_rows(store, &id).len(), 1);

    let mut edited = old.clone();
    edited
        .labels
        .push(label("disabled", LabelCategory::Care, RESPONSIBLE_B));
    store.update(&id, &edited).unwrap();
    assert_eq!(store.get::<Person>(&id).unwrap(), edited);
    let body = stored_body(store, &id);
    assert!(shred::is_sealed(&body["name"]) && shred::is_sealed(&body["birth_date"]));
    for l in body["labels"].as_array().unwrap() {
        assert!(
            shred::is_sealed(&l["label"]) && shred::is_sealed(&l["responsible"]),
            "{l}"
        );
    }
    assert_eq!(label_rows(store, &id).len(), 2);
}

#[test]
fn a_label_conflict_resolved_with_a_plain_value_is_sealed() {
    let (mut r, org) = replicas(2);
    let hh = r[0].create(&household(&org.grid_a, "304")).unwrap();
    let base = person(
        &org.grid_a,
        &hh,
        vec![label("low_income", LabelCategory::Care, RESPONSIBLE_A)],
    );
    let id = r[0].create(&base).unwrap();
    let (a, b) = r.split_at_mut(1);
    send(&a[0], &mut b[0]);
    let mut on_a = base.clone();
    on_a.labels[0].responsible = Some(RESPONSIBLE_B.into());
    a[0].update(&id, &on_a).unwrap();
    let mut on_b = base.clone();
    on_b.labels[0].responsible = Some("第三人".into());
    b[0].update(&id, &on_b).unwrap();
    send(&b[0], &mut a[0]);
    a[0].resolve_conflict(&id, "body/labels/0/responsible", &json!(RESPONSIBLE_B))
        .unwrap();
    assert_eq!(
        a[0].get::<Person>(&id).unwrap().labels[0].responsible.as_deref(),
        Some(RESPONSIBLE_B)
    );
    assert!(shred::is_sealed(&stored_body(&a[0], &id)["labels"][0]["responsible"]));
}
