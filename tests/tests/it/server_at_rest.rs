//! The server's database encrypted at rest (issue 9, ADR 0009): a stolen server disk or backup
//! reveals no resident. Real server on 127.0.0.1, real files, a real phone store; the key file
//! lives in another folder than the data (standing in for another volume).
//!
//! The raw bytes of the database, its WAL and a backup are searched for every imported and
//! phone-registered resident's name, ID number and phone, for every person key (raw and hex),
//! and for the query rows' masked values and addresses. The plain-database test shows the same
//! search finding them in a plain file, so an empty result means something.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gridbook_core::StoreKey;
use gridbook_core::domain::Person;
use gridbook_core::domain::ids::id_check_char;
use gridbook_sync_server::admin::backup;
use gridbook_sync_server::admin::residents;
use gridbook_sync_server::server_db::{self, ServerDb};
use gridbook_sync_server::{AppState, audit};
use gridbook_tests::{Phone, TestServer, fast_client, household, test_config};
use rusqlite::Connection;

const NAME: &str = "欧阳淑珍";
const PHONE: &str = "13905371234";

fn id_number() -> String {
    let first17 = "37088319580315442";
    format!("{first17}{}", id_check_char(first17).unwrap())
}

/// A new key file in its own folder (the folder is kept alive by the caller).
fn key_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gridbook-db.key");
    server_db::new_key_file(&path).unwrap();
    (dir, path)
}

/// Which needles occur in the files of the database at `path` (file, WAL, shared memory).
fn in_files(path: &Path, needles: &[(String, Vec<u8>)]) -> Vec<String> {
    let search = aho_corasick::AhoCorasick::new(needles.iter().map(|(_, n)| n)).unwrap();
    let mut found = vec![];
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let file = format!("{}{suffix}", path.display());
        let Ok(raw) = std::fs::read(&file) else { continue };
        let hits: std::collections::BTreeSet<usize> = search
            .find_overlapping_iter(&raw)
            .map(|m| m.pattern().as_usize())
            .collect();
        for i in hits {
            found.push(format!("{} in {file}", needles[i].0));
        }
    }
    found
}

/// Import `n` residents (the sample file) through the district admin's import; the table.
async fn import_residents(server: &TestServer, n: usize) -> Vec<Vec<String>> {
    let db = server.db();
    let codes: Vec<String> = server
        .plan
        .grids
        .iter()
        .map(|g| {
            db.query_row("SELECT code FROM org_nodes WHERE id = ?1", [g], |r| r.get(0))
                .unwrap()
        })
        .collect();
    let rows = residents::sample_rows(&codes, n);
    let bytes = residents::to_csv(&rows);
    let storage = server.state.storage.clone();
    let today = residents::today();
    let out = tokio::task::spawn_blocking(move || residents::import(storage.as_ref(), &bytes, "admin", today))
        .await
        .unwrap()
        .expect("import");
    assert_eq!(out.persons, n);
    rows
}

/// A phone of grid01: pulls its grid (imported residents included), registers a resident of
/// its own offline and pushes it (the person key goes to the server).
async fn phone_registers_a_resident(server: &TestServer) -> (Phone, String) {
    let grid = server.plan.grids[0].clone();
    let mut phone = Phone::login(&server.url, "grid01", &server.password("grid01"), fast_client()).await;
    phone.sync().await;
    let imported: i64 = phone
        .store
        .connection()
        .query_row("SELECT count(*) FROM persons", [], |r| r.get(0))
        .unwrap();
    assert!(imported > 0, "the phone received its grid's imported residents");
    let hh = phone.store.create(&household(&grid, "901")).unwrap();
    let id = phone
        .store
        .create(&Person {
            household_id: hh,
            grid_id: grid,
            name: NAME.into(),
            id_number: Some(id_number()),
            phone: Some(PHONE.into()),
            relation: "户主".into(),
            birth_date: None,
            labels: vec![],
        })
        .unwrap();
    phone.sync().await;
    assert_eq!(phone.store.outbox_len().unwrap(), 0);
    let on_server: i64 = server
        .db()
        .query_row("SELECT count(*) FROM person_keys WHERE person_id = ?1", [&id], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(on_server, 1, "the server holds the person's key");
    (phone, id)
}

/// What a stolen disk must not show: every resident's name, ID number and phone (imported and
/// registered on the phone), every person key the server holds (raw, hex in both cases), and
/// the query rows' masked ID numbers, masked phones and addresses.
fn needles(server: &TestServer, rows: &[Vec<String>]) -> Vec<(String, Vec<u8>)> {
    let col = |key: &str| residents::COLUMNS.iter().position(|c| c.key == key).unwrap();
    let mut out: Vec<(String, Vec<u8>)> = vec![
        ("name".into(), NAME.as_bytes().to_vec()),
        ("id number".into(), id_number().into_bytes()),
        ("phone".into(), PHONE.as_bytes().to_vec()),
    ];
    for r in &rows[1..] {
        for key in ["name", "id_number", "phone"] {
            out.push((
                format!("imported {key} {}", r[col(key)]),
                r[col(key)].as_bytes().to_vec(),
            ));
        }
    }
    let db = server.db();
    let strings = |sql: &str| -> Vec<String> {
        let mut stmt = db.prepare(sql).unwrap();
        stmt.query_map([], |r| r.get::<_, Option<String>>(0))
            .unwrap()
            .filter_map(Result::unwrap)
            .collect()
    };
    let mut keys = 0;
    let mut stmt = db.prepare("SELECT key FROM person_keys").unwrap();
    for k in stmt.query_map([], |r| r.get::<_, Vec<u8>>(0)).unwrap() {
        let k = k.unwrap();
        out.push((format!("person key {}", hex::encode(&k)), k.clone()));
        out.push(("person key (hex)".into(), hex::encode(&k).into_bytes()));
        out.push(("person key (HEX)".into(), hex::encode_upper(&k).into_bytes()));
        keys += 1;
    }
    assert!(keys >= rows.len() - 1, "every imported person has a key");
    for (what, sql) in [
        ("masked id number", "SELECT id_number_masked FROM persons"),
        ("masked phone", "SELECT phone_masked FROM persons"),
        ("address", "SELECT address FROM households"),
    ] {
        for v in strings(sql) {
            // Short values could match encrypted bytes by chance.
            if v.len() >= 10 {
                out.push((format!("{what} {v}"), v.into_bytes()));
            }
        }
    }
    out
}

/// Every table's rows, as text, in order: what "keeps every record" compares.
fn snapshot(db: &Connection) -> BTreeMap<String, Vec<String>> {
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = BTreeMap::new();
    for t in tables {
        let mut stmt = db.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                let mut line = String::new();
                for i in 0..n {
                    line.push_str(&format!("{:?}|", r.get_ref(i)?));
                }
                Ok(line)
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.sort();
        out.insert(t, rows);
    }
    out
}

fn is_plain(path: &Path) -> bool {
    std::fs::read(path).unwrap().starts_with(b"SQLite format 3\0")
}

/// A backup of the running server, in `dir`.
async fn backup_of(server: &TestServer, dir: &Path, name: &str) -> PathBuf {
    let file = dir.join(name);
    let storage = server.state.storage.clone();
    let f = file.clone();
    tokio::task::spawn_blocking(move || backup::backup(storage.as_ref(), &f, "admin"))
        .await
        .unwrap()
        .expect("backup");
    file
}

/// The files of a data folder (but the lock file that `restore` makes).
fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f != "gridbook.lock")
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_server_database_wal_and_backup_reveal_no_resident_and_need_the_right_key() {
    let (_keys, key) = key_file();
    let k = key.clone();
    let server = TestServer::start_with(move |c| c.database_key_file = Some(k)).await;
    assert!(server.state.db.is_encrypted());
    let addr = server.addr.to_string();
    let rows = import_residents(&server, 30).await;
    let (mut phone, id) = phone_registers_a_resident(&server).await;
    let needles = needles(&server, &rows);
    let persons = snapshot(&server.db())["persons"].clone();

    // While the server runs: the file and its live WAL.
    let db = server.state.config.db_path();
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    assert!(std::fs::metadata(&wal).unwrap().len() > 0, "a live WAL to search");
    assert!(!is_plain(&db));
    assert_eq!(in_files(&db, &needles), Vec::<String>::new());

    // An online backup: encrypted with the same key, nothing readable.
    let backups = tempfile::tempdir().unwrap();
    let file = backup_of(&server, backups.path(), "backup.sqlite3").await;
    assert!(!is_plain(&file));
    assert_eq!(in_files(&file, &needles), Vec::<String>::new());
    let backup_db = server.state.db.with_path(&file);
    assert_eq!(snapshot(&backup_db.open_read_only().unwrap())["persons"], persons);

    // The audit log verifies on the encrypted file (with the key, not without).
    assert!(matches!(
        audit::verify_db(&server.state.db).unwrap(),
        audit::Verdict::Intact { entries, .. } if entries > 0
    ));
    assert_eq!(audit::verify_file(&db).unwrap_err().code(), "wrong_key");

    let before = snapshot(&server.db());
    let dir = server.into_data_dir().await;
    assert_eq!(
        in_files(&db, &needles),
        Vec::<String>::new(),
        "after the last checkpoint"
    );

    // A wrong key, and no key: a typed startup error, no file added or half-written. (SQLite
    // may checkpoint the WAL left by the last read-only connection when the refused connection
    // closes: a raw copy of already encrypted pages. The restart below shows every record.)
    let files = files_in(dir.path());
    let (_other_dir, other) = key_file();
    for key_file in [Some(other), None] {
        let mut config = test_config(dir.path().to_path_buf());
        config.database_key_file = key_file.clone();
        let e = AppState::open(config).err().expect("refused");
        assert_eq!(e.code(), "wrong_key", "{key_file:?}: {e}");
        assert!(e.message_zh().contains("密钥"), "{}", e.message_zh());
        assert!(e.to_string().contains("gridbook.sqlite3"), "{e}");
        assert!(!is_plain(&db));
        let now = files_in(dir.path());
        assert!(now.iter().all(|f| files.contains(f)), "no file added: {now:?}");
    }

    // The right key: the same records, and the phone syncs on (same address, same token).
    let k = key.clone();
    let server = TestServer::start_at(dir, &addr, move |c| c.database_key_file = Some(k)).await;
    assert_eq!(snapshot(&server.db()), before);
    assert_eq!(server.integrity(), "ok");
    let hh = phone.store.create(&household(&server.plan.grids[0], "902")).unwrap();
    phone.sync().await;
    let n: i64 = server
        .db()
        .query_row("SELECT count(*) FROM households WHERE id = ?1", [&hh], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    assert!(phone.store.get::<Person>(&id).is_ok());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_database_is_encrypted_in_place_on_first_start_with_a_key_and_keeps_every_record() {
    let server = TestServer::start().await;
    assert!(!server.state.db.is_encrypted());
    let addr = server.addr.to_string();
    let rows = import_residents(&server, 30).await;
    let (mut phone, _) = phone_registers_a_resident(&server).await;
    let needles = needles(&server, &rows);
    let backups = tempfile::tempdir().unwrap();
    let plain_backup = backup_of(&server, backups.path(), "plain.sqlite3").await;
    assert!(is_plain(&plain_backup));
    let before = snapshot(&server.db());
    let db = server.state.config.db_path();
    let dir = server.into_data_dir().await;

    // The search works: the plain file shows the person keys and the query rows.
    let found = in_files(&db, &needles);
    assert!(found.iter().any(|f| f.starts_with("person key ")), "{found:?}");
    assert!(found.iter().any(|f| f.starts_with("masked id number ")), "{found:?}");
    assert!(found.iter().any(|f| f.starts_with("address ")), "{found:?}");

    // First start with a key: encrypted in place, every record kept.
    let (_keys, key) = key_file();
    let k = key.clone();
    let server = TestServer::start_at(dir, &addr, move |c| c.database_key_file = Some(k)).await;
    assert!(!is_plain(&db));
    assert_eq!(in_files(&db, &needles), Vec::<String>::new());
    assert_eq!(snapshot(&server.db()), before);
    assert_eq!(server.integrity(), "ok");
    assert!(
        files_in(db.parent().unwrap()).iter().all(|f| !f.contains("encrypting")),
        "no export left behind"
    );
    // The phone syncs on.
    phone.store.create(&household(&server.plan.grids[0], "903")).unwrap();
    phone.sync().await;
    assert_eq!(phone.store.outbox_len().unwrap(), 0);
    let dir = server.into_data_dir().await;

    // A plain backup (made before the key was set) restores into the keyed server encrypted.
    let key_bytes = server_db::read_key_file(&key).unwrap();
    backup::restore_with_key(&plain_backup, dir.path(), Some(&key_bytes), "admin").expect("restore");
    assert!(!is_plain(&db));
    assert_eq!(in_files(&db, &needles), Vec::<String>::new());
    let restored = ServerDb::new(&db, Some(key_bytes)).open_read_only().unwrap();
    let after = snapshot(&restored);
    for table in ["persons", "households", "person_keys", "docs", "accounts"] {
        assert_eq!(after[table], before[table], "{table}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_checks_the_key_and_audit_verify_works_on_an_encrypted_backup() {
    let (_keys, key) = key_file();
    let k = key.clone();
    let server = TestServer::start_with(move |c| c.database_key_file = Some(k)).await;
    let addr = server.addr.to_string();
    let rows = import_residents(&server, 12).await;
    let needles = needles(&server, &rows);
    let before = snapshot(&server.db());
    let backups = tempfile::tempdir().unwrap();
    let file = backup_of(&server, backups.path(), "encrypted.sqlite3").await;
    let db = server.state.config.db_path();
    let dir = server.into_data_dir().await;
    assert_eq!(in_files(&file, &needles), Vec::<String>::new());

    // A backup made with another key (or restored without one) is refused; nothing replaced.
    let bytes = std::fs::read(&db).unwrap();
    let files = files_in(dir.path());
    let (_other_dir, other) = key_file();
    let other = server_db::read_key_file(&other).unwrap();
    let e = backup::restore_with_key(&file, dir.path(), Some(&other), "admin").unwrap_err();
    assert_eq!(e.code(), "wrong_key", "{e}");
    assert!(!e.message_zh().is_empty());
    let e = backup::restore(&file, dir.path(), "admin").unwrap_err();
    assert_eq!(e.code(), "backup_unsound", "{e}");
    assert_eq!(std::fs::read(&db).unwrap(), bytes, "nothing replaced");
    assert_eq!(files_in(dir.path()), files, "nothing staged left behind");

    // The right key: restored, encrypted, the audit log intact (it records the restore).
    let right: StoreKey = server_db::read_key_file(&key).unwrap();
    let info = backup::restore_with_key(&file, dir.path(), Some(&right), "admin").expect("restore");
    assert!(
        info.previous.is_some_and(|p| !is_plain(&p)),
        "the replaced database is kept, encrypted"
    );
    assert!(!is_plain(&db));
    assert_eq!(in_files(&db, &needles), Vec::<String>::new());
    let restored = ServerDb::new(&db, Some(right));
    assert!(matches!(
        audit::verify_db(&restored).unwrap(),
        audit::Verdict::Intact { .. }
    ));
    assert_eq!(
        backup::schema_versions_of(&restored).unwrap(),
        backup::schema_versions_of(&restored.with_path(&file)).unwrap()
    );
    let k = key.clone();
    let server = TestServer::start_at(dir, &addr, move |c| c.database_key_file = Some(k)).await;
    assert_eq!(server.integrity(), "ok");
    let after = snapshot(&server.db());
    for table in ["persons", "households", "person_keys", "accounts"] {
        assert_eq!(after[table], before[table], "{table}");
    }
    server.stop().await;
}
