//! [`Store`]: the phone's record store, one-line wrappers over [`gridbook_core::Store`].
//!
//! Every method here is **blocking** (SQLite, Automerge): call it from a background dispatcher
//! (`Dispatchers.IO` in Kotlin, a detached `Task` or background queue in Swift), never from the
//! UI thread. Calls are serialised by one lock per store; a running `SyncClient.sync` holds it
//! too, so a call made during a sync waits for the sync to finish or be cancelled.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use tokio::sync::{Mutex, MutexGuard};

use crate::error::{ApiError, ApiResult};
use crate::types::*;

/// The phone's offline record store.
///
/// Every method is blocking (SQLite, Automerge): call it from a background dispatcher
/// (`Dispatchers.IO`, a detached `Task`), never from the UI thread. Instants are ms since the
/// epoch (UTC), calendar days `YYYY-MM-DD` text; errors are `ApiError` with a stable `code`.
#[derive(uniffi::Object)]
pub struct Store {
    inner: Mutex<Option<gridbook_core::Store>>,
}

/// The store key from the keystore's bytes, with a message the app can show.
fn store_key(key: &[u8]) -> ApiResult<gridbook_core::StoreKey> {
    if key.is_empty() {
        return Err(ApiError::invalid(
            "invalid_key",
            "the store key is empty",
            "数据库密钥为空",
        ));
    }
    gridbook_core::StoreKey::from_bytes(key).map_err(|_| {
        ApiError::invalid(
            "invalid_key",
            "the store key must be 32 bytes",
            "数据库密钥长度应为 32 字节",
        )
    })
}

impl Store {
    /// Run `f` on the open store (blocking lock; never called from an async context).
    fn with<T>(&self, f: impl FnOnce(&mut gridbook_core::Store) -> ApiResult<T>) -> ApiResult<T> {
        let mut guard = self.inner.blocking_lock();
        f(guard.as_mut().ok_or_else(ApiError::closed)?)
    }

    /// The open store, for async callers (sync). Fails if the store was closed.
    pub(crate) async fn lock(&self) -> ApiResult<MutexGuard<'_, Option<gridbook_core::Store>>> {
        let guard = self.inner.lock().await;
        if guard.is_none() {
            return Err(ApiError::closed());
        }
        Ok(guard)
    }

    fn wrap(store: gridbook_core::Store) -> Arc<Self> {
        Arc::new(Store {
            inner: Mutex::new(Some(store)),
        })
    }
}

#[uniffi::export]
impl Store {
    /// Open (or create) the store file at `path`, encrypted at rest (SQLCipher) with `key`: 32
    /// random bytes the app keeps in the Android Keystore / iOS Keychain. Empty or not 32 bytes →
    /// `invalid_key`; a key that does not open the file → `wrong_key`. A plain store made by an
    /// older app version is encrypted in place on its first open with a key.
    #[uniffi::constructor]
    pub fn open(path: String, key: Vec<u8>, identity: Identity) -> ApiResult<Arc<Self>> {
        let key = store_key(&key)?;
        Ok(Store::wrap(gridbook_core::Store::open_encrypted(
            Path::new(&path),
            &key,
            identity,
        )?))
    }

    /// A store in memory (tests, previews): nothing reaches the disk; the key is only checked.
    #[uniffi::constructor]
    pub fn open_in_memory(key: Vec<u8>, identity: Identity) -> ApiResult<Arc<Self>> {
        store_key(&key)?;
        Ok(Store::wrap(gridbook_core::Store::open_in_memory(identity)?))
    }

    /// Close the database; every later call fails with `store_closed`. Idempotent. (Named so
    /// as not to clash with the generated `close()`/`destroy()` that free the object handle.)
    pub fn close_store(&self) {
        self.inner.blocking_lock().take();
    }

    /// Whether [`Store::close_store`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.blocking_lock().is_none()
    }

    /// This device's id (UUID text).
    pub fn device_id(&self) -> ApiResult<String> {
        self.with(|s| Ok(s.device_id().to_string()))
    }

    /// The signed-in identity.
    pub fn identity(&self) -> ApiResult<Identity> {
        self.with(|s| Ok(s.identity().clone()))
    }

    /// Change the signed-in identity (another account on the same phone).
    pub fn set_identity(&self, identity: Identity) -> ApiResult<()> {
        self.with(|s| {
            s.set_identity(identity);
            Ok(())
        })
    }

    /// Use a fixed "now" (ms since the epoch) for every write, or the system clock with `None`
    /// (tests, demos, training mode).
    pub fn set_fixed_clock(&self, now: Option<i64>) -> ApiResult<()> {
        let clock = now.map(|t| instant("now", t)).transpose()?;
        self.with(|s| {
            s.set_clock(clock.map_or(gridbook_core::Clock::System, gridbook_core::Clock::Fixed));
            Ok(())
        })
    }

    /// The kind of a stored record.
    pub fn kind_of(&self, id: String) -> ApiResult<RecordKind> {
        self.with(|s| Ok(s.kind_of(&id)?))
    }

    /// A record's fields as JSON text (any kind).
    pub fn get_json(&self, id: String) -> ApiResult<String> {
        self.with(|s| Ok(s.get_json(&id)?.to_string()))
    }

    // -------------------------------------------------------------- records

    /// Create an org node; returns its id.
    pub fn create_org_node(&self, node: OrgNode) -> ApiResult<String> {
        self.with(|s| Ok(s.create(&node)?))
    }

    /// Replace an org node's fields.
    pub fn update_org_node(&self, id: String, node: OrgNode) -> ApiResult<()> {
        self.with(|s| Ok(s.update(&id, &node)?))
    }

    /// Read an org node.
    pub fn get_org_node(&self, id: String) -> ApiResult<OrgNode> {
        self.with(|s| Ok(s.get::<OrgNode>(&id)?))
    }

    /// Create a household; returns its id.
    pub fn create_household(&self, household: Household) -> ApiResult<String> {
        self.with(|s| Ok(s.create(&household)?))
    }

    /// Replace a household's fields (only what differs is written).
    pub fn update_household(&self, id: String, household: Household) -> ApiResult<()> {
        self.with(|s| Ok(s.update(&id, &household)?))
    }

    /// Read a household.
    pub fn get_household(&self, id: String) -> ApiResult<Household> {
        self.with(|s| Ok(s.get::<Household>(&id)?))
    }

    /// Create a person; returns its id.
    pub fn create_person(&self, person: Person) -> ApiResult<String> {
        self.with(|s| Ok(s.create(&person)?))
    }

    /// Replace a person's fields.
    pub fn update_person(&self, id: String, person: Person) -> ApiResult<()> {
        self.with(|s| Ok(s.update(&id, &person)?))
    }

    /// Read a person.
    pub fn get_person(&self, id: String) -> ApiResult<Person> {
        self.with(|s| Ok(s.get::<Person>(&id)?))
    }

    /// Save a house call (入户走访); returns its id.
    pub fn create_house_call(&self, call: HouseCall) -> ApiResult<String> {
        self.with(|s| Ok(s.create(&call)?))
    }

    /// Replace a house call's fields.
    pub fn update_house_call(&self, id: String, call: HouseCall) -> ApiResult<()> {
        self.with(|s| Ok(s.update(&id, &call)?))
    }

    /// Read a house call.
    pub fn get_house_call(&self, id: String) -> ApiResult<HouseCall> {
        self.with(|s| Ok(s.get::<HouseCall>(&id)?))
    }

    /// Create a patrol (巡查); returns its id.
    pub fn create_patrol(&self, patrol: Patrol) -> ApiResult<String> {
        self.with(|s| Ok(s.create(&patrol)?))
    }

    /// Replace a patrol's fields.
    pub fn update_patrol(&self, id: String, patrol: Patrol) -> ApiResult<()> {
        self.with(|s| Ok(s.update(&id, &patrol)?))
    }

    /// Read a patrol.
    pub fn get_patrol(&self, id: String) -> ApiResult<Patrol> {
        self.with(|s| Ok(s.get::<Patrol>(&id)?))
    }

    /// Create a day's ledger (走访台账); returns its id.
    pub fn create_ledger(&self, ledger: Ledger) -> ApiResult<String> {
        self.with(|s| Ok(s.create(&ledger)?))
    }

    /// Edit a ledger: allowed while a draft or returned (`ledger_locked` otherwise).
    pub fn update_ledger(&self, id: String, ledger: Ledger) -> ApiResult<()> {
        self.with(|s| Ok(s.update_ledger(&id, &ledger)?))
    }

    /// Read a ledger's fields.
    pub fn get_ledger(&self, id: String) -> ApiResult<Ledger> {
        self.with(|s| Ok(s.get::<Ledger>(&id)?))
    }

    /// Create an incident or request (its kind is `case.case_kind`); returns its id. It starts
    /// in state `draft`; take it through its loop with [`Store::case_action`].
    pub fn create_case(&self, case: Case) -> ApiResult<String> {
        self.with(|s| Ok(s.create(&case)?))
    }

    /// Replace a case's fields.
    pub fn update_case(&self, id: String, case: Case) -> ApiResult<()> {
        self.with(|s| Ok(s.update(&id, &case)?))
    }

    /// Read a case's fields.
    pub fn get_case(&self, id: String) -> ApiResult<Case> {
        self.with(|s| Ok(s.get::<Case>(&id)?))
    }

    /// Publish a checklist template version (district admin); returns its record id.
    pub fn create_template(&self, template: ChecklistTemplate) -> ApiResult<String> {
        self.with(|s| Ok(s.create(&template)?))
    }

    /// Replace a template record's fields (a correction of a published version; publish a new
    /// version for changed questions).
    pub fn update_template(&self, id: String, template: ChecklistTemplate) -> ApiResult<()> {
        self.with(|s| Ok(s.update(&id, &template)?))
    }

    /// Read a template record.
    pub fn get_template_record(&self, id: String) -> ApiResult<ChecklistTemplate> {
        self.with(|s| Ok(s.get::<ChecklistTemplate>(&id)?))
    }

    /// A template version by template id and version.
    pub fn template(&self, template_id: String, version: u32) -> ApiResult<ChecklistTemplate> {
        self.with(|s| Ok(s.template(&template_id, version)?))
    }

    /// The latest version of the template that drives visit frequencies (三知四清五报六访).
    pub fn active_template(&self) -> ApiResult<ChecklistTemplate> {
        self.with(|s| Ok(s.active_template()?))
    }

    /// Delete a record (a tombstone that syncs).
    pub fn delete(&self, id: String) -> ApiResult<()> {
        self.with(|s| Ok(s.delete(&id)?))
    }

    /// Bring a deleted record back.
    pub fn restore(&self, id: String) -> ApiResult<()> {
        self.with(|s| Ok(s.resolve_delete(&id, gridbook_core::DeleteResolution::Restore)?))
    }

    // -------------------------------------------------------------- lists and queries

    /// Households of a grid (all when `None`), by address.
    pub fn households(&self, grid: Option<String>) -> ApiResult<Vec<HouseholdRow>> {
        self.with(|s| Ok(s.households(grid.as_deref())?))
    }

    /// 应访清单: visits due or overdue on `today` (YYYY-MM-DD), most overdue first.
    pub fn visits_due(&self, today: String, grid: Option<String>) -> ApiResult<Vec<VisitDue>> {
        let today = parse_day("today", &today)?;
        self.with(|s| Ok(s.visits_due(today, grid.as_deref())?))
    }

    /// Ledgers of a worker (all when `None`) between two days (YYYY-MM-DD, inclusive).
    pub fn ledgers(&self, worker: Option<String>, from: String, to: String) -> ApiResult<Vec<LedgerRow>> {
        let (from, to) = (parse_day("from", &from)?, parse_day("to", &to)?);
        self.with(|s| Ok(s.ledgers(worker.as_deref(), from, to)?))
    }

    /// One ledger with its derived counts and review state.
    pub fn ledger(&self, id: String) -> ApiResult<LedgerRow> {
        self.with(|s| Ok(s.ledger(&id)?))
    }

    /// 提交: the worker submits a ledger for review.
    pub fn submit_ledger(&self, id: String) -> ApiResult<()> {
        self.with(|s| Ok(s.submit_ledger(&id)?))
    }

    /// 通过: a supervisor approves a ledger.
    pub fn approve_ledger(&self, id: String) -> ApiResult<()> {
        self.with(|s| Ok(s.approve_ledger(&id)?))
    }

    /// 退回: a supervisor returns a ledger with a comment; it becomes editable again.
    pub fn return_ledger(&self, id: String, comment: String) -> ApiResult<()> {
        self.with(|s| Ok(s.return_ledger(&id, &comment)?))
    }

    /// Cases of a grid (all when `None`), optionally in one state, newest first.
    pub fn cases(&self, grid: Option<String>, state: Option<String>) -> ApiResult<Vec<CaseListRow>> {
        self.with(|s| Ok(s.cases(grid.as_deref(), state.as_deref())?))
    }

    /// A case with its folded workflow, deadline and the actions open to the signed-in account.
    pub fn case_view(&self, id: String) -> ApiResult<CaseView> {
        self.with(|s| Ok(s.case(&id)?.into()))
    }

    /// Take a workflow action (`report`, `accept`, `dispatch`, `complete`, `verify_pass`,
    /// `claim` …) with an optional reason and parameters. An unknown action, or one the state or
    /// role does not allow, is refused with a typed error and writes nothing.
    pub fn case_action(
        &self,
        id: String,
        action: String,
        reason: Option<String>,
        params: HashMap<String, String>,
    ) -> ApiResult<CaseView> {
        let params: BTreeMap<String, String> = params.into_iter().collect();
        self.with(|s| Ok(s.case_action(&id, &action, reason.as_deref(), params)?.into()))
    }

    // -------------------------------------------------------------- conflicts

    /// Every record with unresolved conflicts.
    pub fn conflicts(&self) -> ApiResult<Vec<RecordConflicts>> {
        self.with(|s| Ok(s.conflicts()?))
    }

    /// Pick the value (JSON text) of a field that holds concurrent values.
    pub fn resolve_conflict(&self, id: String, path: String, value_json: String) -> ApiResult<()> {
        let value = parse_json("value", &value_json)?;
        self.with(|s| Ok(s.resolve_conflict(&id, &path, &value)?))
    }

    /// Settle an edit that raced a delete.
    pub fn resolve_delete(&self, id: String, resolution: DeleteResolution) -> ApiResult<()> {
        self.with(|s| Ok(s.resolve_delete(&id, resolution)?))
    }

    // -------------------------------------------------------------- exchanging changes

    /// Local changes waiting for the server's ack.
    pub fn outbox_len(&self) -> ApiResult<u64> {
        self.with(|s| Ok(s.outbox_len()? as u64))
    }

    /// Heads of every document held (record id → change hashes): what a peer needs to send only
    /// what this store lacks.
    pub fn doc_heads(&self) -> ApiResult<HashMap<String, Vec<String>>> {
        self.with(|s| Ok(s.doc_heads()?.into_iter().collect()))
    }

    /// Every change this store holds that a peer with `their_heads` lacks (peer-to-peer
    /// exchange, e.g. two phones over a local link; the server uses `SyncClient`).
    pub fn changes_since(&self, their_heads: HashMap<String, Vec<String>>) -> ApiResult<Vec<RemoteChange>> {
        self.with(|s| Ok(s.changes_since(&their_heads.into_iter().collect())?))
    }

    /// Merge changes from a peer: garbage is refused whole (`invalid_change`), re-deliveries are
    /// no-ops, one transaction for the batch.
    pub fn apply_remote_changes(&self, changes: Vec<RemoteChange>) -> ApiResult<ApplySummary> {
        self.with(|s| Ok(s.apply_remote_changes(&changes)?))
    }

    // -------------------------------------------------------------- demo

    /// Fill this store with a demo grid (org tree, households, persons, `days` of work ending
    /// the day before `today`, YYYY-MM-DD), deterministic for `seed`. Needs a district admin
    /// identity; the store's clock is left fixed at the end of `today`. Training mode and
    /// benchmarks.
    pub fn seed_demo_grid(&self, seed: u64, households: u32, days: u32, today: String) -> ApiResult<DemoGrid> {
        let opts = gridbook_core::demo::DemoOptions {
            households: households as usize,
            days,
            today: parse_day("today", &today)?,
        };
        self.with(|s| {
            let org = gridbook_core::demo::seed_org(s, seed)?;
            let worker = s.identity().account_id.clone();
            Ok(gridbook_core::demo::generate_grid(s, &org.grid, &worker, seed, opts)?)
        })
    }
}
