//! The store file encrypted at rest (SQLCipher, issue 9): raw bytes hold no plaintext, a wrong
//! key is a typed error, a plain store is encrypted in place and keeps every record.
//! Keys here are constants: a FAKE KEYSTORE (a phone takes them from Android Keystore / iOS
//! Keychain, which do not exist on this machine).

use std::collections::BTreeMap;
use std::path::Path;

use gridbook_core::domain::ids::id_check_char;
use gridbook_core::domain::{Case, CaseKind, Person};
use gridbook_core::{Store, StoreKey};

use crate::common::*;

fn key(byte: u8) -> StoreKey {
    StoreKey::from_bytes(&[byte; 32]).unwrap()
}

/// A valid ID number (GB 11643 check character) for person `i`.
fn id_number(i: usize) -> String {
    let first17 = format!("3708831962{:02}{:02}{:03}", 1 + i % 12, 1 + i % 28, i % 1000);
    let check = id_check_char(&first17).unwrap();
    format!("{first17}{check}")
}

/// The plaintext written for person `i`: name, ID number, phone.
fn secrets(i: usize) -> [String; 3] {
    const SURNAMES: [&str; 5] = ["王", "李", "张", "刘", "陈"];
    [
        format!("{}秀英{}", SURNAMES[i % 5], ["甲", "乙", "丙", "丁"][i % 4]),
        id_number(i),
        format!("139{:08}", 10_000_000 + i * 7919),
    ]
}

/// A household and `n` persons in grid A, and for each a citizen request naming them (a case
/// keeps the caller's name and phone as written, and here the ID number in its text); returns
/// every plaintext written.
fn write_people(s: &mut Store, n: usize) -> Vec<String> {
    let org = seed_org(s);
    let hh = s.create(&household(&org.grid_a, "501")).unwrap();
    let mut written = vec![];
    for i in 0..n {
        let [name, id, phone] = secrets(i);
        s.create(&Person {
            household_id: hh.clone(),
            grid_id: org.grid_a.clone(),
            name: name.clone(),
            id_number: Some(id.clone()),
            phone: Some(phone.clone()),
            relation: "户主".into(),
            birth_date: None,
            labels: vec![],
        })
        .unwrap();
        s.create(&Case {
            grid_id: org.grid_a.clone(),
            case_kind: CaseKind::Request,
            category: "city_appearance".into(),
            subcategory: None,
            scale: "individual".into(),
            title: "楼道灯不亮".into(),
            description: format!("来电人身份证号{id}，反映3栋楼道灯坏了一周"),
            location: None,
            address: "幸福小区3栋".into(),
            reporter: "worker-1".into(),
            channel: Some("phone".into()),
            resident_name: Some(name.clone()),
            resident_phone: Some(phone.clone()),
            photos: vec![],
            occurred_at: cst(2026, 11, 23, 9, 0),
        })
        .unwrap();
        written.extend([name, id, phone]);
    }
    written
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every needle found in the raw bytes of `path` and its WAL, as `file: needle`.
fn plaintext_in(path: &Path, needles: &[String]) -> Vec<String> {
    let mut found = vec![];
    for suffix in ["", "-wal"] {
        let file = format!("{}{suffix}", path.display());
        let Ok(raw) = std::fs::read(&file) else { continue };
        found.extend(
            needles
                .iter()
                .filter(|n| contains(&raw, n.as_bytes()))
                .map(|n| format!("{file}: {n}")),
        );
    }
    found
}

/// Every record's body, by id.
fn all_records(s: &Store) -> BTreeMap<String, serde_json::Value> {
    let ids: Vec<String> = s
        .connection()
        .prepare("SELECT id FROM docs ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    ids.into_iter()
        .map(|id| (id.clone(), s.get_json(&id).unwrap()))
        .collect()
}

#[test]
fn encrypted_file_and_wal_hold_no_plaintext_open_or_closed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    let mut s = Store::open_encrypted(&path, &key(7), admin()).unwrap();
    let written = write_people(&mut s, 40);
    // The test can fail: the same writes to a plain store leave the plaintext in its files.
    {
        let plain_path = dir.path().join("plain.db");
        let mut plain = Store::open(&plain_path, admin()).unwrap();
        let plain_written = write_people(&mut plain, 40);
        assert_eq!(plain_written, written);
        assert!(
            !plaintext_in(&plain_path, &written).is_empty(),
            "a plain store shows its plaintext"
        );
    }
    // While open: the WAL holds the latest pages.
    let wal = std::fs::metadata(format!("{}-wal", path.display()))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(wal > 0, "the open store has a WAL with pages in it");
    assert_eq!(plaintext_in(&path, &written), Vec::<String>::new());
    assert_ne!(&std::fs::read(&path).unwrap()[..16], b"SQLite format 3\0");
    drop(s);
    assert_eq!(plaintext_in(&path, &written), Vec::<String>::new());
    // And it still opens with its key, every person intact.
    let s = Store::open_encrypted(&path, &key(7), admin()).unwrap();
    let names: Vec<String> = all_records(&s)
        .values()
        .filter_map(|b| b.get("name").and_then(|n| n.as_str()).map(str::to_string))
        .collect();
    for i in 0..40 {
        assert!(names.contains(&secrets(i)[0]), "person {i} readable with the key");
    }
}

#[test]
fn wrong_or_missing_key_fails_with_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    {
        let mut s = Store::open_encrypted(&path, &key(1), admin()).unwrap();
        write_people(&mut s, 2);
    }
    let e = Store::open_encrypted(&path, &key(2), admin()).unwrap_err();
    assert_eq!(e.code(), "wrong_key");
    assert_eq!(e.message_zh(), "数据库密钥错误，无法打开本地数据");
    assert_eq!(Store::open(&path, admin()).unwrap_err().code(), "wrong_key");
    // A failed open changes nothing: the right key still opens it.
    let s = Store::open_encrypted(&path, &key(1), admin()).unwrap();
    assert!(all_records(&s).len() > 2);
    drop(s);
    // Not a store at all: a typed error too, not a panic, and the file is left alone.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![0x5a; 8192]).unwrap();
    assert_eq!(
        Store::open_encrypted(&junk, &key(1), admin()).unwrap_err().code(),
        "wrong_key"
    );
    assert_eq!(std::fs::read(&junk).unwrap(), vec![0x5a; 8192]);
    // A key of the wrong length never reaches SQLCipher.
    assert_eq!(StoreKey::from_bytes(&[1; 16]).unwrap_err().code(), "invalid_key");
    assert_eq!(StoreKey::from_bytes(&[]).unwrap_err().code(), "invalid_key");
    assert_eq!(format!("{:?}", key(9)), "StoreKey(..)");
}

#[test]
fn plain_store_with_unfinished_wal_is_encrypted_in_place_and_keeps_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.db");
    let path = dir.path().join("phone.db");
    let mut s = Store::open(&live, admin()).unwrap();
    let written = write_people(&mut s, 30);
    let before = all_records(&s);
    let outbox = s.outbox_len().unwrap();
    // Copy the files while the store is open, as an app killed mid-use leaves them: the latest
    // commits are only in the WAL.
    let wal = std::fs::read(format!("{}-wal", live.display())).unwrap();
    assert!(!wal.is_empty(), "commits wait in the WAL");
    std::fs::copy(&live, &path).unwrap();
    std::fs::write(format!("{}-wal", path.display()), wal).unwrap();
    drop(s);
    assert!(!plaintext_in(&path, &written).is_empty(), "the old store is plain");
    // A leftover of an export that crashed is replaced, not trusted.
    std::fs::write(dir.path().join("phone.db.encrypting"), b"half an export").unwrap();

    let s = Store::open_encrypted(&path, &key(3), admin()).unwrap();
    assert_eq!(all_records(&s), before, "every record survives the migration");
    assert_eq!(s.outbox_len().unwrap(), outbox, "unsent changes are kept");
    assert!(!dir.path().join("phone.db.encrypting").exists());
    drop(s);
    assert_eq!(plaintext_in(&path, &written), Vec::<String>::new());
    assert_eq!(Store::open(&path, admin()).unwrap_err().code(), "wrong_key");
    // Opened again with its key: no second migration, same records.
    let s = Store::open_encrypted(&path, &key(3), admin()).unwrap();
    assert_eq!(all_records(&s), before);
}
