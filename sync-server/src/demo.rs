//! A demo district: 2 sub-districts, 4 communities, 12 grids filled by
//! `gridbook_core::demo`, a department, and an account for every role. Ids and passwords are
//! deterministic, so a restarted demo prints the same accounts and does not seed twice.

use chrono::NaiveDate;
use gridbook_core::demo::{DemoOptions, generate_grid, seeded_id};
use gridbook_core::domain::{OrgLevel, OrgNode, Role};
use gridbook_core::{Clock, Identity, Store};

use crate::auth;
use crate::error::ApiResult;
use crate::storage::{Account, Storage};

/// One demo account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoAccount {
    /// Login name (also the account id).
    pub username: String,
    /// Password (demo only!).
    pub password: String,
    /// Role.
    pub role: Role,
    /// Org node id.
    pub org_node: String,
    /// Org node name.
    pub org_name: String,
}

/// The demo district's ids and accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoDistrict {
    /// 区
    pub district: String,
    /// 街道 (2)
    pub sub_districts: Vec<String>,
    /// 社区 (4): index i belongs to sub-district i / 2.
    pub communities: Vec<String>,
    /// 网格 (12): index i belongs to community i / 3.
    pub grids: Vec<String>,
    /// Accounts, every role.
    pub accounts: Vec<DemoAccount>,
}

impl DemoDistrict {
    /// The account with this username.
    pub fn account(&self, username: &str) -> Option<&DemoAccount> {
        self.accounts.iter().find(|a| a.username == username)
    }
}

const COMMUNITIES: [&str; 4] = ["幸福社区", "和平社区", "光明社区", "东城社区"];
const SUB_DISTRICTS: [&str; 2] = ["钢山街道", "千泉街道"];

/// The plan: ids, names and accounts (no I/O).
pub fn plan() -> DemoDistrict {
    let district = seeded_id(0xD15);
    let sub_districts: Vec<String> = (0..2).map(|i| seeded_id(0x5B00 + i)).collect();
    let communities: Vec<String> = (0..4).map(|i| seeded_id(0xC000 + i)).collect();
    let grids: Vec<String> = (0..12).map(|i| seeded_id(0x6000 + i)).collect();
    let acct = |username: String, role, org_node: &String, org_name: String| DemoAccount {
        password: format!("demo-{username}"),
        username,
        role,
        org_node: org_node.clone(),
        org_name,
    };
    let mut accounts = vec![acct("admin".into(), Role::DistrictAdmin, &district, "邹城市".into())];
    for (i, s) in sub_districts.iter().enumerate() {
        accounts.push(acct(
            format!("street{}", i + 1),
            Role::SubDistrictSupervisor,
            s,
            SUB_DISTRICTS[i].into(),
        ));
    }
    for (i, c) in communities.iter().enumerate() {
        accounts.push(acct(
            format!("community{}", i + 1),
            Role::CommunitySupervisor,
            c,
            COMMUNITIES[i].into(),
        ));
    }
    for (i, g) in grids.iter().enumerate() {
        accounts.push(acct(format!("grid{:02}", i + 1), Role::GridWorker, g, grid_name(i)));
    }
    accounts.push(acct("leader01".into(), Role::GridLeader, &grids[0], grid_name(0)));
    accounts.push(acct(
        "dept1".into(),
        Role::Department,
        &seeded_id(0xDE97),
        "城市管理局".into(),
    ));
    DemoDistrict {
        district,
        sub_districts,
        communities,
        grids,
        accounts,
    }
}

fn grid_name(i: usize) -> String {
    format!("{}第{}网格", COMMUNITIES[i / 3], i % 3 + 1)
}

/// Seed `storage` with the demo district unless it already has accounts. Returns the plan.
pub fn seed(
    storage: &dyn Storage,
    opts: DemoOptions,
    argon2_memory_kib: u32,
    argon2_iterations: u32,
) -> ApiResult<DemoDistrict> {
    let plan = plan();
    if storage.account_count()? > 0 {
        return Ok(plan);
    }
    let admin = Identity {
        account_id: "admin".into(),
        role: Role::DistrictAdmin,
        org_node: plan.district.clone(),
        grids: vec![],
    };
    let mut store = Store::open_in_memory(admin)?;
    let from = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default();
    store.set_clock(Clock::Fixed(from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()));
    let node = |name: &str, level, code: String, parent: Option<&String>| OrgNode {
        name: name.into(),
        level,
        code,
        parent: parent.cloned(),
        effective_from: from,
        effective_to: None,
    };
    store.create_with_id(
        &plan.district,
        &node("邹城市", OrgLevel::District, "370883".into(), None),
    )?;
    store.create_with_id(
        &seeded_id(0xDE97),
        &node(
            "城市管理局",
            OrgLevel::Department,
            "370883900".into(),
            Some(&plan.district),
        ),
    )?;
    for (s, sid) in plan.sub_districts.iter().enumerate() {
        store.create_with_id(
            sid,
            &node(
                SUB_DISTRICTS[s],
                OrgLevel::SubDistrict,
                format!("370883{:03}", s + 1),
                Some(&plan.district),
            ),
        )?;
    }
    for (c, cid) in plan.communities.iter().enumerate() {
        let code = format!("370883{:03}{:03}", c / 2 + 1, c % 2 + 1);
        store.create_with_id(
            cid,
            &node(
                COMMUNITIES[c],
                OrgLevel::Community,
                code,
                Some(&plan.sub_districts[c / 2]),
            ),
        )?;
    }
    for (g, gid) in plan.grids.iter().enumerate() {
        let c = g / 3;
        let code = format!("370883{:03}{:03}{:03}", c / 2 + 1, c % 2 + 1, g % 3 + 1);
        store.create_with_id(
            gid,
            &node(&grid_name(g), OrgLevel::Grid, code, Some(&plan.communities[c])),
        )?;
    }
    if opts.households > 0 {
        for (g, gid) in plan.grids.iter().enumerate() {
            generate_grid(&mut store, gid, &format!("grid{:02}", g + 1), 1_000 + g as u64, opts)?;
        }
    }
    import(storage, &store)?;
    for a in &plan.accounts {
        // Through the password policy and the audit log like any account (`demo-<username>`
        // passes the policy).
        auth::create_account(
            storage,
            "system",
            Account {
                id: a.username.clone(),
                username: a.username.clone(),
                display_name: format!("{}（{}）", a.username, a.org_name),
                password_hash: String::new(),
                role: a.role,
                org_node: a.org_node.clone(),
                disabled: false,
            },
            &a.password,
            argon2_memory_kib,
            argon2_iterations,
        )?;
    }
    Ok(plan)
}

/// Copy every change and document of a store into the server, as if pushed by that store.
pub fn import(storage: &dyn Storage, store: &Store) -> ApiResult<()> {
    // The demo store never synced: its outbox holds every change of every document it made.
    crate::admin::residents::commit_outbox(storage, store)
}

/// The account table printed at start.
pub fn account_table(d: &DemoDistrict) -> String {
    let mut out = String::from("demo accounts (username / password / role / org node):\n");
    for a in &d.accounts {
        out.push_str(&format!(
            "  {:<12} {:<18} {:<24} {}\n",
            a.username,
            a.password,
            a.role.as_str(),
            a.org_name
        ));
    }
    out
}
