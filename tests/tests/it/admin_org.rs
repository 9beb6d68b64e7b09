//! Org tree (issue 11): create and edit nodes, import the usual spreadsheet (街道 / 社区 / 网格 /
//! 楼栋 / 单元 / 户) all or nothing; the new nodes and households reach phones.

use chrono::NaiveDate;
use gridbook_core::domain::{OrgLevel, OrgNode};
use gridbook_sync_server::admin::org::{self, NodeEdit};
use gridbook_sync_server::admin::residents::{self, ImportError};
use gridbook_tests::{Phone, TestServer, fast_client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn org_nodes_are_created_edited_and_imported_all_or_nothing() {
    let server = TestServer::start().await;
    let s = server.state.storage.as_ref();
    let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let community = server.plan.communities[0].clone();
    let code: String = server
        .db()
        .query_row("SELECT code FROM org_nodes WHERE id = ?1", [&community], |r| r.get(0))
        .unwrap();

    // A grid under a community: ok. Under a grid, or with a code outside its community: refused.
    let grid = OrgNode {
        name: "幸福社区第4网格".into(),
        level: OrgLevel::Grid,
        code: format!("{code}004"),
        parent: Some(community.clone()),
        effective_from: day,
        effective_to: None,
    };
    let id = org::create_node(s, &grid, "admin").unwrap();
    let bad_parent = OrgNode {
        parent: Some(id.clone()),
        code: format!("{code}005"),
        ..grid.clone()
    };
    assert_eq!(
        org::create_node(s, &bad_parent, "admin").unwrap_err().code(),
        "invalid_parent"
    );
    let bad_code = OrgNode {
        code: "370883999999005".into(),
        ..grid.clone()
    };
    assert_eq!(
        org::create_node(s, &bad_code, "admin").unwrap_err().code(),
        "invalid_grid_code"
    );

    // Edit: rename and close it.
    let edited = org::edit_node(
        s,
        &id,
        &NodeEdit {
            name: Some("幸福社区第四网格".into()),
            effective_to: Some(NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()),
            ..NodeEdit::default()
        },
        "admin",
    )
    .unwrap();
    assert_eq!(edited.name, "幸福社区第四网格");
    assert_eq!(
        org::edit_node(s, "nope", &NodeEdit::default(), "admin")
            .unwrap_err()
            .code(),
        "not_found"
    );
    let name: String = server
        .db()
        .query_row("SELECT name FROM org_nodes WHERE id = ?1", [&id], |r| r.get(0))
        .unwrap();
    assert_eq!(name, "幸福社区第四网格");

    // The org spreadsheet: one bad row (a grid code outside its community) rejects the file.
    let header = [
        "街道",
        "街道编码",
        "社区",
        "社区编码",
        "网格",
        "网格编码",
        "楼栋",
        "单元",
        "户",
    ];
    let row = |g: &str, gc: &str, b: &str, u: &str, h: &str| -> Vec<String> {
        ["新城街道", "370883003", "新城社区", "370883003001", g, gc, b, u, h]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let mut table = vec![header.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    table.push(row("新城第1网格", "370883003001001", "1栋", "1单元", "101"));
    table.push(row("新城第1网格", "370883003001001", "1栋", "1单元", "102"));
    table.push(row("新城第1网格", "370883003001001", "1栋", "2单元", "201"));
    table.push(row("新城第2网格", "370883009009002", "", "", ""));
    let nodes_before: i64 = server
        .db()
        .query_row("SELECT count(*) FROM org_nodes", [], |r| r.get(0))
        .unwrap();
    let err = org::import_org(s, &residents::to_csv(&table), "admin", day).unwrap_err();
    let ImportError::Rejected(report) = err else {
        panic!("{err:?}")
    };
    assert_eq!(report.bad_rows().into_iter().collect::<Vec<_>>(), vec![5]);
    assert_eq!(report.issues[0].code, "invalid_grid_code");
    let nodes_now: i64 = server
        .db()
        .query_row("SELECT count(*) FROM org_nodes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(nodes_now, nodes_before, "nothing written");

    // Corrected: 1 sub-district, 1 community, 2 grids, 1 building, 2 units, 3 households.
    table[4] = row("新城第2网格", "370883003001002", "", "", "");
    let outcome = org::import_org(s, &residents::to_xlsx(&table).unwrap(), "admin", day).unwrap();
    assert_eq!((outcome.nodes, outcome.households), (7, 3));
    // Importing it again reuses the nodes (households are new records each time).
    let again = org::import_org(s, &residents::to_csv(&table[..1]), "admin", day).unwrap();
    assert_eq!(again.nodes, 0);

    // A phone sees the new grids in its org tree at its next sync.
    let mut phone = Phone::login(&server.url, "grid01", &server.password("grid01"), fast_client()).await;
    phone.sync().await;
    let grids: i64 = phone
        .store
        .connection()
        .query_row(
            "SELECT count(*) FROM org_nodes WHERE code IN ('370883003001001', '370883003001002')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(grids, 2);
}
