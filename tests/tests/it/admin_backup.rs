//! Backups (issue 11): a backup taken while phones sync restores to a sound database that
//! serves those phones again without losing anything acked before the backup; restore refuses
//! a running server's folder and a database newer than the binary.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use gridbook_core::sync::SyncClient;
use gridbook_sync_server::admin::backup::{self, DataLock, RESTORE_SEQ_GAP};
use gridbook_tests::{Phone, TestServer, fast_client, household};

/// A phone that creates a household and syncs, over and over, recording what was acked.
async fn keep_syncing(
    mut phone: Phone,
    grid: String,
    acked: Arc<Mutex<BTreeSet<String>>>,
    stop: Arc<AtomicBool>,
) -> Phone {
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let id = phone.store.create(&household(&grid, &format!("{n}"))).unwrap();
        phone.sync().await;
        assert_eq!(phone.store.outbox_len().unwrap(), 0, "acked");
        acked.lock().unwrap().insert(id);
    }
    phone
}

fn household_ids(conn: &rusqlite::Connection) -> BTreeSet<String> {
    let mut stmt = conn.prepare("SELECT id FROM households").unwrap();
    stmt.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_phones_sync_restores_and_serves_them_again() {
    let server = TestServer::start().await;
    let addr = server.addr.to_string();
    let grids = [server.plan.grids[0].clone(), server.plan.grids[1].clone()];
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (i, user) in ["grid01", "grid02"].into_iter().enumerate() {
        let mut phone = Phone::login(&server.url, user, &server.password(user), fast_client()).await;
        phone.sync().await;
        tasks.push(tokio::spawn(keep_syncing(
            phone,
            grids[i].clone(),
            acked.clone(),
            stop.clone(),
        )));
    }
    let wait_for = |n: usize| {
        let acked = acked.clone();
        async move {
            for _ in 0..2_000 {
                if acked.lock().unwrap().len() >= n {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            panic!("the phones did not sync {n} records");
        }
    };
    wait_for(6).await;

    // The backup, while both phones keep syncing.
    let backups = tempfile::tempdir().unwrap();
    let file = backups.path().join("gridbook-backup.sqlite3");
    let before_backup = acked.lock().unwrap().clone();
    let storage = server.state.storage.clone();
    let f = file.clone();
    let info = tokio::task::spawn_blocking(move || backup::backup(storage.as_ref(), &f, "admin"))
        .await
        .unwrap()
        .expect("online backup");
    let n = acked.lock().unwrap().len();
    wait_for(n + 4).await; // changes acked after the backup: lost by the restore, by design
    stop.store(true, Ordering::SeqCst);
    let mut phones = Vec::new();
    for t in tasks {
        phones.push(t.await.unwrap());
    }
    assert!(info.bytes > 0 && info.last_seq > 0);
    // Backups never overwrite.
    let storage = server.state.storage.clone();
    let f = file.clone();
    let again = tokio::task::spawn_blocking(move || backup::backup(storage.as_ref(), &f, "admin"))
        .await
        .unwrap();
    assert_eq!(again.unwrap_err().code(), "backup_exists");

    // Restore refuses while a server holds the folder.
    let dir = server.into_data_dir().await;
    let held = DataLock::acquire(dir.path()).unwrap();
    assert_eq!(
        backup::restore(&file, dir.path(), "admin").unwrap_err().code(),
        "server_running"
    );
    drop(held);
    let restored = backup::restore(&file, dir.path(), "admin").expect("restore");
    assert_eq!(restored.last_seq, info.last_seq);
    assert_eq!(restored.marker_seq, info.last_seq + RESTORE_SEQ_GAP);
    assert!(
        restored.previous.is_some_and(|p| p.exists()),
        "the replaced database is kept"
    );

    // The restored server: sound, everything acked before the backup is there.
    let server = TestServer::start_at(dir, &addr, |_| {}).await;
    assert_eq!(server.integrity(), "ok");
    let on_server = household_ids(&server.db());
    let lost: Vec<_> = before_backup.difference(&on_server).collect();
    assert!(lost.is_empty(), "acked before the backup and lost: {lost:?}");

    // It serves the same phones (same tokens, same address) again, both ways: a new record
    // of phone 1 reaches phone 2's supervisor... and phone 1's own new record is stored.
    for (i, p) in phones.iter_mut().enumerate() {
        p.client = SyncClient::with_config(&server.url, fast_client()).unwrap();
        p.client.set_token(p.token());
        p.sync().await;
        let id = p.store.create(&household(&grids[i], "after-restore")).unwrap();
        let s = p.sync().await;
        assert_eq!((s.sent, s.rejected), (1, 0), "{s:?}");
        assert!(household_ids(&server.db()).contains(&id));
    }
    // A phone that joins after the restore gets the restored grid, and a change made after
    // the restore reaches a phone whose cursor came from the lost tail.
    let mut fresh = Phone::login(&server.url, "grid01", &server.password("grid01"), fast_client()).await;
    fresh.sync().await;
    let id = fresh.store.create(&household(&grids[0], "fresh")).unwrap();
    fresh.sync().await;
    phones[0].sync().await;
    assert!(
        household_ids(phones[0].store.connection()).contains(&id),
        "seqs after the restore are not skipped"
    );
    let theirs = household_ids(fresh.store.connection());
    for id in before_backup.iter().filter(|id| on_server.contains(*id)) {
        let grid: String = server
            .db()
            .query_row("SELECT grid_id FROM households WHERE id = ?1", [id], |r| r.get(0))
            .unwrap();
        if grid == grids[0] {
            assert!(theirs.contains(id));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_newer_than_the_binary_is_refused_with_a_typed_error() {
    let server = TestServer::start().await;
    let backups = tempfile::tempdir().unwrap();
    let file = backups.path().join("b.sqlite3");
    backup::backup(server.state.storage.as_ref(), &file, "admin").unwrap();
    let dir = server.into_data_dir().await;
    let db = dir.path().join("gridbook.sqlite3");
    let (core, srv) = backup::schema_versions(&db).unwrap();
    assert!(core >= 1 && srv >= 1);
    // A later binary migrated this file.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "UPDATE server_meta SET value = ?1 WHERE key = 'schema_version'",
            [(srv + 1).to_string()],
        )
        .unwrap();
    let err = gridbook_sync_server::AppState::open(gridbook_tests::test_config(dir.path().to_path_buf()))
        .err()
        .expect("refused");
    assert_eq!(err.code(), "schema_too_new");
    assert!(err.message_zh().contains("版本"));
    // And a backup from such a binary is refused by restore, the current database untouched.
    let newer = backups.path().join("newer.sqlite3");
    std::fs::copy(&db, &newer).unwrap();
    std::fs::copy(&file, &db).unwrap();
    assert_eq!(
        backup::restore(&newer, dir.path(), "admin").unwrap_err().code(),
        "schema_too_new"
    );
    assert_eq!(backup::schema_versions(&db).unwrap(), (core, srv));
    // A file that is not a database is refused too.
    let junk = backups.path().join("junk.sqlite3");
    std::fs::write(&junk, b"not a database").unwrap();
    assert_eq!(
        backup::restore(&junk, dir.path(), "admin").unwrap_err().code(),
        "backup_unsound"
    );
}
