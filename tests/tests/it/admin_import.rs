//! Residents import (issue 11): a 10,000-row file with 50 planted errors is rejected with a
//! report naming exactly those rows and nothing is written; the corrected file imports, and a
//! grid worker's phone receives exactly its grid's households at its next sync.

use std::collections::{BTreeSet, HashMap};

use gridbook_sync_server::admin::residents::{self, ImportError};
use gridbook_tests::{Phone, TestServer, fast_client};

/// Grid codes of the demo district, in the order of `plan.grids`.
fn grid_codes(server: &TestServer) -> Vec<String> {
    let db = server.db();
    server
        .plan
        .grids
        .iter()
        .map(|g| {
            db.query_row("SELECT code FROM org_nodes WHERE id = ?1", [g], |r| r.get(0))
                .expect("grid code")
        })
        .collect()
}

fn counts(server: &TestServer) -> (i64, i64, i64, i64) {
    let db = server.db();
    let n = |sql: &str| db.query_row(sql, [], |r| r.get::<_, i64>(0)).expect(sql);
    (
        n("SELECT count(*) FROM households"),
        n("SELECT count(*) FROM persons"),
        n("SELECT count(*) FROM docs"),
        n("SELECT count(*) FROM change_log"),
    )
}

/// Plant 50 errors (10 of each kind) in a clean table; returns the spreadsheet row numbers.
fn plant_errors(table: &mut [Vec<String>]) -> BTreeSet<usize> {
    let col = |key: &str| residents::COLUMNS.iter().position(|c| c.key == key).unwrap();
    let (grid, reg, name, id) = (col("grid_code"), col("registered_on"), col("name"), col("id_number"));
    let mut planted = BTreeSet::new();
    for k in 0..50 {
        let i = 100 + k * 197; // index in the table; the header is index 0 = row 1
        match k % 5 {
            0 => {
                // A wrong check digit.
                let last = table[i][id].pop().unwrap();
                table[i][id].push(if last == '1' { '2' } else { '1' });
            }
            1 => table[i][grid] = "370883999999999".into(),
            2 => table[i][id] = table[i - 1][id].clone(),
            3 => table[i][reg] = "2099-01-01".into(),
            _ => table[i][name] = String::new(),
        }
        planted.insert(i + 1);
    }
    planted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_file_is_rejected_whole_and_the_corrected_one_reaches_the_grid_phone() {
    let server = TestServer::start().await;
    let codes = grid_codes(&server);
    let grid0 = server.plan.grids[0].clone();
    // A phone that is already in use; the import must reach it at its next sync.
    let mut phone = Phone::login(&server.url, "grid01", &server.password("grid01"), fast_client()).await;
    phone.sync().await;

    let clean = residents::sample_rows(&codes, 10_000);
    let mut bad = clean.clone();
    let planted = plant_errors(&mut bad);
    assert_eq!(planted.len(), 50);
    let before = counts(&server);

    // The bad file, as XLSX: rejected, every planted row named, nothing else, nothing written.
    let bytes = residents::to_xlsx(&bad).unwrap();
    let storage = server.state.storage.clone();
    let today = residents::today();
    let result = tokio::task::spawn_blocking(move || residents::import(storage.as_ref(), &bytes, "admin", today))
        .await
        .unwrap();
    let Err(ImportError::Rejected(report)) = result else {
        panic!("the bad file was not rejected: {result:?}")
    };
    assert_eq!(report.rows, 10_000);
    assert_eq!(report.bad_rows(), planted, "the report names exactly the planted rows");
    let mut by_code: HashMap<&str, usize> = HashMap::new();
    for i in &report.issues {
        *by_code.entry(i.code).or_default() += 1;
        assert!(!i.message_zh.is_empty() && !i.message.is_empty());
    }
    for code in [
        "invalid_id_number",
        "unknown_grid",
        "duplicate_id_number",
        "future_date",
        "empty_name",
    ] {
        assert_eq!(by_code.get(code), Some(&10), "{code}: {by_code:?}");
    }
    assert_eq!(counts(&server), before, "nothing was written");

    // The corrected file, as CSV: imported whole.
    let bytes = residents::to_csv(&clean);
    let storage = server.state.storage.clone();
    let outcome = tokio::task::spawn_blocking(move || residents::import(storage.as_ref(), &bytes, "admin", today))
        .await
        .unwrap()
        .expect("the corrected file imports");
    assert_eq!(
        (outcome.rows, outcome.households, outcome.persons),
        (10_000, 3_334, 10_000)
    );
    let after = counts(&server);
    assert_eq!((after.0 - before.0, after.1 - before.1), (3_334, 10_000));
    assert_eq!(server.integrity(), "ok");
    // Imported persons are sealed like those made on a phone (crypto-shredding, ADR 0004): no
    // stored change or document holds an ID number or a phone number in clear.
    let col = |name: &str| clean[0].iter().position(|h| h == name).unwrap();
    let (id_col, phone_col) = (col("身份证号"), col("联系电话"));
    for row in clean.iter().skip(1).step_by(997) {
        for value in [&row[id_col], &row[phone_col]].into_iter().filter(|v| !v.is_empty()) {
            let found: i64 = server
                .db()
                .query_row(
                    "SELECT (SELECT count(*) FROM change_log WHERE instr(bytes, CAST(?1 AS BLOB)) > 0)
                          + (SELECT count(*) FROM docs WHERE instr(bytes, CAST(?1 AS BLOB)) > 0)",
                    [value],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(found, 0, "{value} in clear on the server");
        }
    }

    // Importing it again finds every ID number in the database.
    let bytes = residents::to_csv(&clean);
    let storage = server.state.storage.clone();
    let again = tokio::task::spawn_blocking(move || residents::import(storage.as_ref(), &bytes, "admin", today))
        .await
        .unwrap();
    let Err(ImportError::Rejected(r)) = again else {
        panic!("a second import must be refused")
    };
    assert_eq!(r.bad_rows().len(), 10_000);
    assert!(r.issues.iter().all(|i| i.code == "id_number_exists"));

    // The grid worker's phone, at its next sync: exactly its grid's households.
    phone.sync().await;
    let ids = |conn: &rusqlite::Connection, sql: &str, grid: &str| -> BTreeSet<String> {
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([grid], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let on_server = ids(&server.db(), "SELECT id FROM households WHERE grid_id = ?1", &grid0);
    let on_phone = ids(
        phone.store.connection(),
        "SELECT id FROM households WHERE grid_id = ?1",
        &grid0,
    );
    let everything_on_phone = ids(phone.store.connection(), "SELECT id FROM households WHERE ?1 = ?1", "");
    let in_file = clean.iter().skip(1).step_by(3).filter(|r| r[1] == codes[0]).count();
    assert_eq!(in_file, 278);
    assert_eq!(on_server.len(), in_file + 2, "the demo's 2 households and the file's");
    assert_eq!(on_phone, on_server, "the phone has its grid's households");
    assert_eq!(everything_on_phone, on_server, "and no other grid's");
    let persons = phone
        .store
        .connection()
        .query_row("SELECT count(*) FROM persons", [], |r| r.get::<_, i64>(0))
        .unwrap();
    assert_eq!(persons as usize, in_file * 3 + 2 * 3);
}
