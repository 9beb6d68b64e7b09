//! Accounts and devices (issue 11): create an account bound to an org node, assign another
//! role, reset the password, disable and enable it; list devices with their last sync and app
//! version; revoke a device. Every refusal has its typed code.

use gridbook_core::domain::Role;
use gridbook_sync_server::admin::accounts::{self, HashCost, NewAccount};
use gridbook_tests::{Phone, TestServer, fast_client};

const COST: HashCost = HashCost {
    memory_kib: 256,
    iterations: 1,
};

/// POST /v1/login; (status, code).
async fn login(url: &str, username: &str, password: &str) -> (u16, String) {
    let resp = reqwest::Client::new()
        .post(format!("{url}/v1/login"))
        .json(&serde_json::json!({
            "username": username, "password": password, "device_id": uuid::Uuid::new_v4(),
        }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap();
    (status, body["code"].as_str().unwrap_or("").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_devices_are_managed_with_typed_refusals() {
    let server = TestServer::start().await;
    let storage = server.state.storage.clone();
    let s = storage.as_ref();
    let (g0, g1) = (server.plan.grids[0].clone(), server.plan.grids[1].clone());
    let community = server.plan.communities[0].clone();
    let new = NewAccount {
        username: "wang.wei".into(),
        display_name: "王伟".into(),
        role: Role::GridWorker,
        org_node: g0.clone(),
    };

    // Refusals first: nothing is created by them.
    let bad = |n: &NewAccount| accounts::create(s, n, COST, "admin").unwrap_err().code();
    assert_eq!(
        bad(&NewAccount {
            org_node: community.clone(),
            ..new.clone()
        }),
        "role_level_mismatch"
    );
    assert_eq!(
        bad(&NewAccount {
            org_node: "nope".into(),
            ..new.clone()
        }),
        "not_found"
    );
    assert_eq!(
        bad(&NewAccount {
            username: "x".into(),
            ..new.clone()
        }),
        "invalid_username"
    );
    assert_eq!(
        bad(&NewAccount {
            username: "grid01".into(),
            ..new.clone()
        }),
        "username_taken"
    );
    assert_eq!(
        bad(&NewAccount {
            display_name: " ".into(),
            ..new.clone()
        }),
        "invalid_display_name"
    );

    let (account, password) = accounts::create(s, &new, COST, "admin").unwrap();
    assert_eq!(
        (account.role, account.org_node.as_str()),
        (Role::GridWorker, g0.as_str())
    );
    let mut phone = Phone::login(&server.url, "wang.wei", &password, fast_client()).await;
    assert_eq!(phone.info.grids, vec![g0.clone()]);
    phone.sync().await;

    // The device list shows the phone with its last sync and app version.
    let mut row = None;
    for _ in 0..200 {
        row = accounts::devices(s)
            .unwrap()
            .into_iter()
            .find(|d| d.id == phone.info.device_id.to_string() && d.last_sync_at.is_some());
        if row.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let row = row.expect("the device is listed with its last sync");
    assert_eq!(row.account_id, "wang.wei");
    assert!(
        row.app_version
            .as_deref()
            .is_some_and(|v| v.starts_with("gridbook-core/")),
        "{row:?}"
    );
    assert!(row.revoked_at.is_none());

    // Another role: grid leader of grid 2; grants follow at the next request.
    assert_eq!(
        accounts::assign_role(s, "wang.wei", Role::CommunitySupervisor, &g1, "admin")
            .unwrap_err()
            .code(),
        "role_level_mismatch"
    );
    accounts::assign_role(s, "wang.wei", Role::GridLeader, &g1, "admin").unwrap();
    let records_of_g1 = |p: &Phone| -> i64 {
        p.store
            .connection()
            .query_row("SELECT count(*) FROM records WHERE scope = ?1", [&g1], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(records_of_g1(&phone), 0);
    phone.sync().await;
    assert!(records_of_g1(&phone) > 0, "the new grid's records arrive");

    // Password reset: the old token and password stop working, the new one works.
    let new_password = accounts::reset_password(s, "wang.wei", COST, "admin").unwrap();
    assert_ne!(new_password, password);
    let err = phone.client.sync(&mut phone.store).await.unwrap_err();
    assert_eq!(err.code(), "token_revoked");
    assert_eq!(
        login(&server.url, "wang.wei", &password).await,
        (401, "bad_credentials".into())
    );
    assert_eq!(login(&server.url, "wang.wei", &new_password).await.0, 200);

    // Disable: no login, tokens revoked; enable: login again. An admin cannot lock themselves out.
    let mut phone = Phone::login(&server.url, "wang.wei", &new_password, fast_client()).await;
    accounts::set_disabled(s, "wang.wei", true, "admin").unwrap();
    assert_eq!(
        login(&server.url, "wang.wei", &new_password).await,
        (403, "account_disabled".into())
    );
    let code = phone
        .client
        .sync(&mut phone.store)
        .await
        .unwrap_err()
        .code()
        .to_string();
    assert!(code == "token_revoked" || code == "account_disabled", "{code}");
    accounts::set_disabled(s, "wang.wei", false, "admin").unwrap();
    assert_eq!(login(&server.url, "wang.wei", &new_password).await.0, 200);
    assert_eq!(
        accounts::set_disabled(s, "admin", true, "admin").unwrap_err().code(),
        "forbidden"
    );
    assert_eq!(
        accounts::set_disabled(s, "nobody", true, "admin").unwrap_err().code(),
        "not_found"
    );

    // Revoke a device: its token stops, and it cannot sign in again.
    let mut phone = Phone::login(&server.url, "wang.wei", &new_password, fast_client()).await;
    phone.sync().await;
    accounts::revoke_device(s, &phone.info.device_id.to_string(), "admin").unwrap();
    assert_eq!(
        phone.client.sync(&mut phone.store).await.unwrap_err().code(),
        // The server answers device_revoked; the client wipes its store (issue 9, remote wipe).
        "device_wiped"
    );
    let listed = accounts::devices(s).unwrap();
    let d = listed
        .iter()
        .find(|d| d.id == phone.info.device_id.to_string())
        .unwrap();
    assert!(d.revoked_at.is_some());
    assert_eq!(
        accounts::revoke_device(s, "not-a-uuid", "admin").unwrap_err().code(),
        "not_found"
    );
    assert_eq!(
        accounts::revoke_device(s, &uuid::Uuid::new_v4().to_string(), "admin")
            .unwrap_err()
            .code(),
        "not_found"
    );
    let names: Vec<String> = storage.accounts().unwrap().into_iter().map(|a| a.username).collect();
    assert!(names.contains(&"wang.wei".to_string()) && names.contains(&"admin".to_string()));
    // Every change above is in the tamper-evident audit log, by the operator; refusals are not.
    let actions: Vec<String> = server
        .db()
        .prepare("SELECT action FROM audit_log WHERE actor = 'admin' ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for action in [
        "account.create",
        "account.grant_change",
        "account.password_reset",
        "account.status",
        "device.revoke",
    ] {
        assert!(actions.iter().any(|a| a == action), "{action} missing from {actions:?}");
    }
    assert_eq!(
        actions.iter().filter(|a| *a == "account.status").count(),
        2,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| *a == "device.revoke").count(),
        1,
        "{actions:?}"
    );
}
