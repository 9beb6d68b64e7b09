//! Helpers shared by the store tests: identities, a seeded org tree, fixtures, exchange.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use gridbook_core::domain::{GridAssignment, HouseCall, Household, HousingUse, OrgLevel, OrgNode, Role};
use gridbook_core::{Identity, Store};
use serde_json::json;

pub fn admin() -> Identity {
    Identity {
        account_id: "admin".into(),
        role: Role::DistrictAdmin,
        org_node: "district".into(),
        grids: vec![],
    }
}

pub fn worker(grid: &str) -> Identity {
    Identity {
        account_id: "worker-1".into(),
        role: Role::GridWorker,
        org_node: grid.into(),
        grids: vec![grid.into()],
    }
}

pub fn supervisor(grids: &[&str]) -> Identity {
    Identity {
        account_id: "secretary".into(),
        role: Role::CommunitySupervisor,
        org_node: "community".into(),
        grids: grids.iter().map(|g| g.to_string()).collect(),
    }
}

/// China time on `day` at `hour`:`minute`, as UTC.
pub fn cst(y: i32, m: u32, d: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, hour, minute, 0).unwrap() - chrono::Duration::hours(8)
}

pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Ids of the org tree made by [`seed_org`].
pub struct Org {
    pub community: String,
    pub grid_a: String,
    pub grid_b: String,
}

/// District → sub-district → community → grids A and B.
pub fn seed_org(store: &mut Store) -> Org {
    let node = |name: &str, level, code: &str, parent: Option<String>| OrgNode {
        name: name.into(),
        level,
        code: code.into(),
        parent,
        effective_from: day(2024, 1, 1),
        effective_to: None,
    };
    let d = store
        .create(&node("邹城市", OrgLevel::District, "370883", None))
        .unwrap();
    let s = store
        .create(&node("钢山街道", OrgLevel::SubDistrict, "370883001", Some(d)))
        .unwrap();
    let c = store
        .create(&node("幸福社区", OrgLevel::Community, "370883001002", Some(s)))
        .unwrap();
    let grid_a = store
        .create(&node("第一网格", OrgLevel::Grid, "370883001002001", Some(c.clone())))
        .unwrap();
    let grid_b = store
        .create(&node("第二网格", OrgLevel::Grid, "370883001002002", Some(c.clone())))
        .unwrap();
    Org {
        community: c,
        grid_a,
        grid_b,
    }
}

pub fn household(grid: &str, room: &str) -> Household {
    Household {
        grid_assignments: vec![GridAssignment {
            grid_id: grid.into(),
            from: day(2026, 1, 1),
        }],
        building: "3栋".into(),
        unit: "2单元".into(),
        room: room.into(),
        address: format!("幸福小区3栋2单元{room}室"),
        housing_use: HousingUse::OwnerOccupied,
        registered_on: day(2026, 1, 1),
    }
}

pub fn house_call(grid: &str, household: &str, start: DateTime<Utc>) -> HouseCall {
    let mut answers = BTreeMap::new();
    answers.insert("know.situation".to_string(), json!(true));
    answers.insert("clear.housing".to_string(), json!("自住"));
    HouseCall {
        grid_id: grid.into(),
        household_id: household.into(),
        person_ids: vec![],
        visitor: "worker-1".into(),
        companions: vec![],
        started_at: start,
        ended_at: start + chrono::Duration::minutes(20),
        location: None,
        template_id: "3456".into(),
        template_version: 1,
        answers,
        problems: vec![],
        photos: vec![],
        follow_up_due: None,
        notes: "入户走访，情况正常。".into(),
    }
}

/// Send `from` everything `to` lacks (changes, and the person keys that open them).
pub fn send(from: &Store, to: &mut Store) {
    let batch = from.changes_since(&to.doc_heads().unwrap()).unwrap();
    to.apply_remote_changes(&batch).unwrap();
    to.import_person_keys(&from.export_person_keys().unwrap()).unwrap();
}

/// Stores that hold the same org tree: the first made it, the others received it.
pub fn replicas(n: usize) -> (Vec<Store>, Org) {
    let mut first = Store::open_in_memory(admin()).unwrap();
    let org = seed_org(&mut first);
    let mut out = vec![first];
    for _ in 1..n {
        let mut s = Store::open_in_memory(admin()).unwrap();
        send(&out[0], &mut s);
        out.push(s);
    }
    (out, org)
}
