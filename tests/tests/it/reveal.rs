//! Masking and reveal (issue 9): exports show masked ID numbers and phones unless the reveal
//! permission is used with a reason, and then an audit entry exists; without the permission a
//! reveal is refused with 403 `reveal_not_permitted`. Real server, real HTTP, the dashboard's
//! own login.

use calamine::{Reader, Xlsx};
use gridbook_tests::TestServer;
use gridbook_tests::web::{get, login as web_login};

/// Every cell of every sheet of an XLSX export, as text (the persons are on sheet 2).
async fn xlsx_text(url: &str, cookie: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    if status != 200 {
        return (status, String::from_utf8_lossy(&bytes).into_owned());
    }
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).expect("xlsx");
    let mut text = String::new();
    for name in book.sheet_names() {
        let range = book.worksheet_range(&name).expect("sheet");
        for row in range.rows() {
            for cell in row {
                text.push_str(&cell.to_string());
                text.push('\t');
            }
            text.push('\n');
        }
    }
    (status, text)
}

async fn reveal(url: &str, cookie: &str, person: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{url}/review/api/persons/{person}/reveal"))
        .header("cookie", cookie)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_are_masked_unless_the_reveal_permission_is_used_and_then_audited() {
    let server = TestServer::start().await;
    let url = &server.url;
    // A person met on a house call (so the ledger export lists them), with an ID number.
    let (person, masked): (String, String) = server
        .db()
        .query_row(
            "SELECT p.id, p.id_number_masked FROM persons p JOIN house_calls c ON c.household_id = p.household_id
             WHERE p.id_number_masked IS NOT NULL AND p.id_number_masked != '' LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("a visited person with an ID number");
    assert!(masked.contains('*'), "{masked}");

    let admin = web_login(url, "admin", &server.password("admin")).await;
    let supervisor = web_login(url, "community1", &server.password("community1")).await;

    // Without the permission: refused, typed, bilingual.
    let (status, body) = reveal(
        url,
        &supervisor,
        &person,
        serde_json::json!({"field": "id_number", "reason": "核实"}),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("reveal_not_permitted")));
    assert!(body["message_zh"].as_str().unwrap().contains("权限"));
    assert!(body["message"].as_str().unwrap().contains("permission"));
    let (status, page) = get(
        &format!("{url}/review/exports/ledgers.xlsx?unmasked=1&reason=x"),
        &supervisor,
    )
    .await;
    assert_eq!(status, 403);
    assert!(page.contains("reveal_not_permitted"), "{page}");

    // With the permission but no reason: refused.
    let (status, body) = reveal(url, &admin, &person, serde_json::json!({"field": "id_number"})).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("reveal_reason_required")));
    let audited_before: i64 = server
        .db()
        .query_row("SELECT count(*) FROM audit_log WHERE action = 'reveal'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(audited_before, 0, "nothing revealed, nothing audited");

    // With both: the full value, and an audit entry (who, what, when, why).
    let (status, body) = reveal(
        url,
        &admin,
        &person,
        serde_json::json!({"field": "id_number", "reason": "户籍核查"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let full = body["value"].as_str().unwrap().to_string();
    assert_eq!(full.chars().count(), 18, "{full}");
    assert!(!full.contains('*'));
    let (actor, target, detail, at): (String, String, String, i64) = server
        .db()
        .query_row(
            "SELECT actor, target, detail, at FROM audit_log WHERE action = 'reveal' ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!((actor.as_str(), target), ("admin", format!("person:{person}")));
    assert!(detail.contains("户籍核查") && detail.contains("id_number"), "{detail}");
    assert!(!detail.contains(&full), "the audit log does not hold the value");
    assert!((chrono::Utc::now().timestamp_millis() - at).abs() < 60_000);

    // Exports: masked by default (even for the admin) ...
    let (status, xlsx) = xlsx_text(&format!("{url}/review/exports/ledgers.xlsx"), &admin).await;
    assert_eq!(status, 200);
    assert!(xlsx.contains(&masked), "the masked value {masked} is listed");
    assert!(!xlsx.contains(&full), "the full value is not");
    // ... unmasked only with a reason ...
    let (status, page) = get(&format!("{url}/review/exports/ledgers.xlsx?unmasked=1"), &admin).await;
    assert_eq!(status, 400);
    assert!(page.contains("reveal_reason_required"), "{page}");
    let (status, xlsx) = xlsx_text(
        &format!("{url}/review/exports/ledgers.xlsx?unmasked=1&reason=%E5%B9%B4%E5%BA%A6%E6%A0%B8%E6%9F%A5"),
        &admin,
    )
    .await;
    assert_eq!(status, 200);
    assert!(xlsx.contains(&full), "the unmasked export holds the full value");
    // ... and every export is audited, the unmasked one with its reason.
    let exports: Vec<String> = {
        let db = server.db();
        let mut stmt = db
            .prepare("SELECT detail FROM audit_log WHERE action = 'export' AND actor = 'admin' ORDER BY seq")
            .unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(exports.len(), 2, "{exports:?}");
    assert!(exports[0].contains("\"unmasked\":false"));
    assert!(exports[1].contains("\"unmasked\":true") && exports[1].contains("年度核查"));
    // The chain still verifies.
    assert!(matches!(
        gridbook_sync_server::audit::verify_file(&server.state.config.db_path()).unwrap(),
        gridbook_sync_server::audit::Verdict::Intact { .. }
    ));
    server.stop().await;
}
