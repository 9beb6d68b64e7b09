//! A demo district: 2 sub-districts, 4 communities, 12 grids filled by
//! `gridbook_core::demo`, a department, and an account for every role. Ids and passwords are
//! deterministic, so a restarted demo prints the same accounts and does not seed twice.
//!
//! [`seed_lived_in`] (the `gridbook-server demo` command) also works three months of cases and
//! ledgers through the closed loop up to the day it starts ([`gridbook_core::demo::run_workflow`]),
//! so the dashboard's every page, metric and chart has real values. Every record reaches the
//! server as its account's push would: each account's changes are validated by the sync
//! endpoint's own rules ([`crate::sync::validate`]) under that account's grants before they are
//! committed; a refused change fails the seed.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Days, NaiveDate, Utc};
use gridbook_core::demo::{DemoCrew, DemoGrid, DemoOptions, generate_grid_reporting, run_workflow, seeded_id};
use gridbook_core::domain::{OrgLevel, OrgNode, Role};
use gridbook_core::sync::PushChange;
use gridbook_core::{Clock, Identity, Store};

use crate::auth;
use crate::error::{ApiError, ApiResult};
use crate::storage::{Account, CommitBatch, OrgGrid, Storage};
use crate::sync::validate::{self, Pusher};

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

/// Seed `storage` with the demo district unless it already has accounts: the org tree, the
/// accounts and `opts` of house calls, patrols, ledgers and incident drafts per grid (no
/// workflow: what the tests build on). Returns the plan.
pub fn seed(
    storage: &dyn Storage,
    opts: DemoOptions,
    argon2_memory_kib: u32,
    argon2_iterations: u32,
) -> ApiResult<DemoDistrict> {
    seed_with(storage, opts, false, argon2_memory_kib, argon2_iterations)
}

/// The options of the lived-in demo that starts on `today` (China date): 12 households per
/// grid and three months of work up to the end of `today`'s working day.
pub fn lived_in_options(today: NaiveDate) -> DemoOptions {
    DemoOptions {
        households: 12,
        days: 92,
        today,
    }
}

/// The day a lived-in demo started at `now` runs through: today (China time) once today's
/// working day is over (18:00), yesterday before that, so nothing it shows is in the future.
pub fn demo_day(now: DateTime<Utc>) -> NaiveDate {
    gridbook_core::china_day(now - chrono::Duration::hours(18))
}

/// The moment the lived-in demo's work stops: 18:00 China time of `opts.today`.
pub fn lived_in_until(opts: DemoOptions) -> DateTime<Utc> {
    let local = opts.today.and_hms_opt(18, 0, 0).unwrap_or_default();
    (local - chrono::Duration::hours(8)).and_utc()
}

/// [`seed`], then the lived-in district: house calls and patrols of `opts.days` days through
/// `opts.today` itself, every case and ledger worked through the closed loop by the accounts
/// whose work it is, up to [`lived_in_until`] (see the module doc).
pub fn seed_lived_in(
    storage: &dyn Storage,
    opts: DemoOptions,
    argon2_memory_kib: u32,
    argon2_iterations: u32,
) -> ApiResult<DemoDistrict> {
    seed_with(storage, opts, true, argon2_memory_kib, argon2_iterations)
}

fn identity(plan: &DemoDistrict, username: &str, grids: &[OrgGrid]) -> Identity {
    let a = plan.account(username);
    let (role, org_node) = a.map_or((Role::GridWorker, String::new()), |a| (a.role, a.org_node.clone()));
    Identity {
        account_id: username.to_string(),
        role,
        grids: crate::scope::grants(role, &org_node, grids).grids(),
        org_node,
    }
}

/// Hand the store's outbox to the server as a push by the store's current account: the sync
/// endpoint's checks ([`validate::parse`], [`validate::validate_group`]) under that account's
/// grants, then one commit; the store's outbox is acknowledged. Any refusal is an error.
fn push_as(storage: &dyn Storage, store: &mut Store, grids: &[OrgGrid]) -> ApiResult<()> {
    let outbox = store.outbox(usize::MAX >> 1)?;
    if outbox.is_empty() {
        return Ok(());
    }
    let who = store.identity().clone();
    let grants = crate::scope::grants(who.role, &who.org_node, grids);
    let device = store.device_id();
    let refused = |r: &gridbook_core::sync::Rejection| {
        ApiError::Internal(format!(
            "demo change of {} by {} refused: {} ({})",
            r.doc_id, who.account_id, r.code, r.message
        ))
    };
    let push = outbox
        .into_iter()
        .map(|e| PushChange {
            doc_id: e.doc_id,
            hash: e.hash,
            bytes: e.bytes,
        })
        .collect();
    let (parsed, bad) = validate::parse(push, device);
    if let Some(r) = bad.first() {
        return Err(refused(r));
    }
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, Vec<validate::Parsed>> = HashMap::new();
    for p in parsed {
        if !groups.contains_key(&p.doc_id) {
            order.push(p.doc_id.clone());
        }
        groups.entry(p.doc_id.clone()).or_default().push(p);
    }
    let stored = storage.load_docs(&order)?;
    let pusher = Pusher {
        account_id: who.account_id.clone(),
        role: who.role,
        grants,
        device_id: device,
        rules: Arc::new(storage.rule_book()?),
    };
    let mut batch = CommitBatch {
        origin_device: device.to_string(),
        received_at: crate::model::clock::now_ms(),
        changes: vec![],
        docs: vec![],
    };
    for id in order {
        let changes = groups.remove(&id).unwrap_or_default();
        let outcome = validate::validate_group(&id, stored.get(&id).map(Vec::as_slice), changes, &pusher);
        if let Some(r) = outcome.rejections.first() {
            return Err(refused(r));
        }
        batch.changes.extend(outcome.accepted);
        if let Some(doc) = outcome.doc {
            batch.docs.push(doc?);
        }
    }
    let hashes: Vec<String> = batch.changes.iter().map(|c| c.hash.clone()).collect();
    storage.commit(batch)?;
    store.ack(&hashes)?;
    Ok(())
}

fn seed_with(
    storage: &dyn Storage,
    opts: DemoOptions,
    lived_in: bool,
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
    // The org tree, as the district admin.
    push_as(storage, &mut store, &[])?;
    let org_grids = storage.org_grids()?;
    let mut generated: Vec<DemoGrid> = Vec::new();
    if opts.households > 0 {
        // The lived-in demo's history runs through its first day.
        let grid_opts = if lived_in {
            DemoOptions {
                today: opts.today + Days::new(1),
                ..opts
            }
        } else {
            opts
        };
        for (g, gid) in plan.grids.iter().enumerate() {
            // Each grid's records as its worker's phone makes and pushes them.
            let worker = format!("grid{:02}", g + 1);
            store.set_identity(identity(&plan, &worker, &org_grids));
            // The lived-in demo reports fewer problems (a district's pace, and a quick start).
            let reported = if lived_in { 0.12 } else { 0.4 };
            generated.push(generate_grid_reporting(
                &mut store,
                gid,
                &worker,
                1_000 + g as u64,
                grid_opts,
                reported,
            )?);
            let grants = crate::scope::grants(Role::GridWorker, gid, &org_grids);
            storage.put_person_keys(&store.export_person_keys()?, &|scope| grants.may_write(scope))?;
            push_as(storage, &mut store, &org_grids)?;
        }
    }
    if lived_in && !generated.is_empty() {
        let crews: Vec<DemoCrew> = plan
            .grids
            .iter()
            .enumerate()
            .map(|(g, gid)| DemoCrew {
                grid: gid.clone(),
                worker: identity(&plan, &format!("grid{:02}", g + 1), &org_grids),
                community: identity(&plan, &format!("community{}", g / 3 + 1), &org_grids),
                sub_district: identity(&plan, &format!("street{}", g / 6 + 1), &org_grids),
                department: identity(&plan, "dept1", &org_grids),
            })
            .collect();
        run_workflow(
            &mut store,
            &crews,
            &generated,
            0xD3E0,
            lived_in_until(opts),
            &mut |s: &mut Store| {
                push_as(storage, s, &org_grids).map_err(|e| gridbook_core::Error::Workflow {
                    code: "demo_push_refused",
                    message: e.to_string(),
                })
            },
        )?;
    }
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
