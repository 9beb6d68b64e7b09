//! [`Store`]: the phone's offline record store, the entry point of `core`.
//!
//! Every write is one SQLite transaction that saves the record's Automerge document, appends
//! the change to the outbox and rebuilds the record's query-table rows; it commits whole or
//! not at all. Remote changes come in through [`Store::apply_remote_changes`] and go out
//! through [`Store::outbox`] (to the server) or [`Store::changes_since`] (to any peer).
//!
//! Rank 6 of the crate's layers (core/README.md): every `impl Store` lives here or under
//! `store/` (besides `sync/apply.rs`): cases ([`cases`]), ledgers ([`ledger`]), the list
//! queries ([`queries`]), writing query rows ([`query_rows`]) and the remote wipe ([`wipe`]).

pub mod cases;
pub mod ledger;
pub mod queries;
pub mod query_rows;
pub mod wipe;

use std::collections::BTreeMap;
use std::path::Path;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, Change, ChangeHash, ObjType};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use uuid::Uuid;

use crate::doc::{self, MSG_CONFIRM_DELETE, MSG_DELETE, MSG_RESOLVE, MSG_TRANSITION};
use crate::domain::{ChecklistTemplate, DISTRICT_SCOPE, GridCodeScheme, Lookup, OrgNode, Record, RecordKind, Role};
use crate::error::{Error, Result};

/// Who is using the store: the signed-in account and the grids it may write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// Account id.
    pub account_id: String,
    /// Role of the account.
    pub role: Role,
    /// The org node the role is bound to.
    pub org_node: String,
    /// Grids (org node ids) this account may write; a district admin may write all.
    pub grids: Vec<String>,
}

impl Identity {
    /// Whether records of `scope` may be written.
    pub fn may_write(&self, scope: &str) -> bool {
        self.role == Role::DistrictAdmin || (scope != DISTRICT_SCOPE && self.grids.iter().any(|g| g == scope))
    }
}

/// One Automerge change of one record, as it travels between replicas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteChange {
    /// Record id.
    pub doc_id: String,
    /// The change's bytes.
    #[serde(with = "serde_bytes_hex")]
    pub bytes: Vec<u8>,
}

mod serde_bytes_hex {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

/// A local change waiting for the server's ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Order of making.
    pub seq: i64,
    /// Record id.
    pub doc_id: String,
    /// Change hash (hex).
    pub hash: String,
    /// Change bytes.
    pub bytes: Vec<u8>,
}

/// What [`Store::apply_remote_changes`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplySummary {
    /// Changes newly applied.
    pub applied: u64,
    /// Changes already held (re-deliveries).
    pub duplicates: u64,
    /// Changes waiting for dependencies that have not arrived.
    pub pending: u64,
    /// Records whose state changed.
    pub records_changed: u64,
}

/// Conflicts of one record: concurrent values of a field, or an edit concurrent with a delete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordConflicts {
    /// Record id.
    pub id: String,
    /// Kind.
    pub kind: RecordKind,
    /// Fields with concurrent values.
    pub fields: Vec<doc::FieldConflict>,
    /// The record was deleted on one replica while edited on another.
    pub edited_while_deleted: bool,
}

/// How to settle an edit that raced a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteResolution {
    /// Bring the record back with the edits.
    Restore,
    /// Keep it deleted; the edits stay in history.
    ConfirmDelete,
}

/// Where "now" comes from: the system clock, or a fixed instant (tests, demo data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// `Utc::now()`.
    System,
    /// Always this instant.
    Fixed(DateTime<Utc>),
}

impl Clock {
    /// The current instant.
    pub fn now(self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(t) => t,
        }
    }
}

/// The phone's record store.
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) actor: ActorId,
    device_id: Uuid,
    identity: Identity,
    scheme: GridCodeScheme,
    clock: Clock,
    /// Moves the WAL into the database off the writer's path (file-backed stores only).
    checkpointer: Option<crate::db::Checkpointer>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Open (or create) the store file at `path`, unencrypted (tests, tools, server-side use).
    /// An encrypted store opened this way is [`Error::WrongKey`].
    #[tracing::instrument(skip_all)]
    pub fn open(path: &Path, identity: Identity) -> Result<Store> {
        Store::open_with(path, None, identity)
    }

    /// Open (or create) the store file at `path` encrypted with `key` (SQLCipher; the key comes
    /// from the platform keystore). A key that does not open the file is [`Error::WrongKey`]; a
    /// plain store made before encryption is encrypted in place first
    /// (see [`crate::at_rest`], docs/adr/0003-store-encryption-at-rest.md).
    #[tracing::instrument(skip_all)]
    pub fn open_encrypted(path: &Path, key: &crate::StoreKey, identity: Identity) -> Result<Store> {
        Store::open_with(path, Some(key), identity)
    }

    fn open_with(path: &Path, key: Option<&crate::StoreKey>, identity: Identity) -> Result<Store> {
        if wipe::is_wiped(path) {
            return Err(Error::StoreWiped);
        }
        let conn = crate::at_rest::open(path, key)?;
        let mut store = Store::from_connection(conn, identity)?;
        store.checkpointer = Some(crate::db::Checkpointer::start(path, key, &store.conn)?);
        Ok(store)
    }

    /// Stop background work (the checkpointer) before the connection is closed.
    pub(crate) fn stop_background(&mut self) {
        self.checkpointer.take();
    }

    /// A store in memory (tests and tools).
    pub fn open_in_memory(identity: Identity) -> Result<Store> {
        Store::from_connection(Connection::open_in_memory()?, identity)
    }

    fn from_connection(mut conn: Connection, identity: Identity) -> Result<Store> {
        crate::db::prepare(&conn)?;
        crate::db::migrate(&mut conn)?;
        let device_id = match conn
            .query_row("SELECT value FROM meta WHERE key = 'device_id'", [], |r| {
                r.get::<_, String>(0)
            })
            .optional()?
        {
            Some(s) => Uuid::parse_str(&s).map_err(|e| Error::Corrupt {
                id: "meta.device_id".into(),
                reason: e.to_string(),
            })?,
            None => {
                let id = Uuid::new_v4();
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('device_id', ?1)",
                    [id.to_string()],
                )?;
                id
            }
        };
        let scheme = match conn
            .query_row("SELECT value FROM meta WHERE key = 'grid_scheme'", [], |r| {
                r.get::<_, String>(0)
            })
            .optional()?
        {
            Some(s) => serde_json::from_value(Json::String(s)).unwrap_or_default(),
            None => GridCodeScheme::default(),
        };
        let builtin = ChecklistTemplate::builtin();
        conn.execute(
            "INSERT OR IGNORE INTO templates (template_id, version, json, doc_id) VALUES (?1, ?2, ?3, NULL)",
            params![
                builtin.template_id,
                builtin.version,
                crate::domain::template::DEFAULT_TEMPLATE_JSON
            ],
        )?;
        Ok(Store {
            conn,
            actor: ActorId::from(device_id.as_bytes().as_slice()),
            device_id,
            identity,
            scheme,
            clock: Clock::System,
            checkpointer: None,
        })
    }

    /// This device's id: also its Automerge actor id.
    pub fn device_id(&self) -> Uuid {
        self.device_id
    }

    /// Replace the device id (only before any record was written: a device registered with the
    /// server takes the id the server knows).
    pub fn set_device_id(&mut self, id: Uuid) -> Result<()> {
        let n: i64 = self.conn.query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))?;
        if n > 0 {
            return Err(Error::invalid(
                "device_id_in_use",
                "device_id",
                "changes were already made with the old id",
            ));
        }
        self.conn
            .execute("UPDATE meta SET value = ?1 WHERE key = 'device_id'", [id.to_string()])?;
        self.device_id = id;
        self.actor = ActorId::from(id.as_bytes().as_slice());
        Ok(())
    }

    /// The signed-in identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Change the signed-in identity (another account on the same phone).
    pub fn set_identity(&mut self, identity: Identity) {
        self.identity = identity;
    }

    /// Use another clock.
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// The current instant by this store's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Configure the grid code scheme of this district.
    pub fn set_grid_scheme(&mut self, scheme: GridCodeScheme) -> Result<()> {
        let text = serde_json::to_value(scheme)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('grid_scheme', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [text],
        )?;
        self.scheme = scheme;
        Ok(())
    }

    /// Read-only access to the SQLite connection (queries, tests).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    // ---------------------------------------------------------------- writing records

    /// Create a record; returns its new id (UUID v7).
    #[tracing::instrument(skip_all, fields(kind = R::KIND.as_str()))]
    pub fn create<R: Record>(&mut self, record: &R) -> Result<String> {
        let id = Uuid::now_v7().to_string();
        self.create_with_id(&id, record)?;
        Ok(id)
    }

    /// Create a record with a given id (imports, demo data with stable ids).
    pub fn create_with_id<R: Record>(&mut self, id: &str, record: &R) -> Result<()> {
        self.check_record(record)?;
        let exists: bool = self
            .conn
            .query_row("SELECT count(*) FROM docs WHERE id = ?1", [id], |r| r.get::<_, i64>(0))?
            > 0;
        if exists {
            return Err(Error::invalid("duplicate_id", "id", "a record with this id exists"));
        }
        let mut body =
            serde_json::to_value(record).map_err(|e| Error::invalid("invalid_record", "body", e.to_string()))?;
        if crate::shred::has_sealed_fields(R::KIND) {
            let key = self.person_key_for_write(id, &Json::Null)?;
            crate::shred::seal_body(R::KIND, id, &key, &mut body, &Json::Null)?;
        }
        let now = self.now();
        let (kind, scope, account) = (record.kind(), record.scope(), self.identity.account_id.clone());
        // A case pins the newest rule versions held (crate::rules); the shipped ones are not
        // written, so such documents read as they always did.
        let pins = match crate::cases::case_kind(kind) {
            Some(_) => Some(crate::rules::RuleBook::load(&self.conn)?.pins_for_new())
                .filter(|p| *p != crate::rules::RulePins::SHIPPED),
            None => None,
        };
        self.write(id, None, move |doc, _| {
            doc.put(automerge::ROOT, "id", id)?;
            doc.put(automerge::ROOT, "kind", kind.as_str())?;
            doc.put(automerge::ROOT, "schema", R::SCHEMA)?;
            doc.put(automerge::ROOT, "scope", scope.as_str())?;
            doc.put(automerge::ROOT, "created_at", now.to_rfc3339())?;
            doc.put(automerge::ROOT, "created_by", account.as_str())?;
            let b = doc.put_object(automerge::ROOT, "body", ObjType::Map)?;
            doc::write_map(doc, &b, &Json::Null, body.as_object().unwrap_or(&Default::default()))?;
            if kind.has_workflow() {
                doc.put_object(automerge::ROOT, "transitions", ObjType::List)?;
            }
            if let Some(pins) = pins {
                let o = doc.put_object(automerge::ROOT, "rules", ObjType::Map)?;
                let json =
                    serde_json::to_value(pins).map_err(|e| Error::invalid("invalid_record", "rules", e.to_string()))?;
                doc::write_map(doc, &o, &Json::Null, json.as_object().unwrap_or(&Default::default()))?;
            }
            Ok(())
        })
    }

    /// Replace a record's fields; only what differs is written, so concurrent edits of other
    /// fields merge.
    #[tracing::instrument(skip_all, fields(doc_id = id))]
    pub fn update<R: Record>(&mut self, id: &str, record: &R) -> Result<()> {
        self.check_record(record)?;
        let mut body =
            serde_json::to_value(record).map_err(|e| Error::invalid("invalid_record", "body", e.to_string()))?;
        if crate::shred::has_sealed_fields(R::KIND) {
            let old = self.stored_body(id)?;
            let key = self.person_key_for_write(id, &old)?;
            crate::shred::seal_body(R::KIND, id, &key, &mut body, &old)?;
        }
        let scope = record.scope();
        self.write(id, None, move |doc, _| {
            check_live(doc, id, R::KIND)?;
            if doc::root_str(doc, "scope").as_deref() != Some(scope.as_str()) {
                return Err(Error::invalid(
                    "scope_change",
                    "grid_id",
                    "a record cannot move to another grid this way",
                ));
            }
            let b = doc::root_obj(doc, "body").ok_or_else(|| Error::Corrupt {
                id: id.to_string(),
                reason: "no body".into(),
            })?;
            let old = doc::read_json(doc, &b);
            doc::write_map(doc, &b, &old, body.as_object().unwrap_or(&Default::default()))
        })
    }

    /// Read a record's fields. A person whose sealed fields this device cannot open (no key, or
    /// erased) is [`Error::SensitiveUnavailable`].
    pub fn get<R: Record>(&self, id: &str) -> Result<R> {
        let doc = self.load(id)?;
        if !crate::shred::has_sealed_fields(R::KIND) {
            return doc::body::read_as(&doc, id);
        }
        let mut body = self.stored_body(id)?;
        let key = crate::db::person_keys::key_of(&self.conn, id)?;
        if !crate::shred::open_body(R::KIND, id, key.as_ref(), &mut body).is_empty() {
            return Err(Error::SensitiveUnavailable { id: id.to_string() });
        }
        serde_json::from_value(body).map_err(|e| Error::Corrupt {
            id: id.to_string(),
            reason: e.to_string(),
        })
    }

    /// Read a record's body as JSON (any kind). Sealed fields are opened; those this device
    /// cannot open are `null` and listed under [`crate::shred::UNAVAILABLE_KEY`].
    pub fn get_json(&self, id: &str) -> Result<Json> {
        let mut body = self.stored_body(id)?;
        if let Ok(kind) = self.kind_of(id)
            && crate::shred::has_sealed_fields(kind)
        {
            let key = crate::db::person_keys::key_of(&self.conn, id)?;
            let missing = crate::shred::open_body(kind, id, key.as_ref(), &mut body);
            if !missing.is_empty() {
                body[crate::shred::UNAVAILABLE_KEY] = Json::from(missing);
            }
        }
        Ok(body)
    }

    /// A record's body as stored in its document (sealed fields still sealed).
    fn stored_body(&self, id: &str) -> Result<Json> {
        let doc = self.load(id)?;
        doc::body::read(&doc).ok_or_else(|| Error::NotFound {
            kind: "record",
            id: id.to_string(),
        })
    }

    /// The key to seal a person's fields with: the one held, or a new one for a person that has
    /// no sealed values yet (a new person, or one written before sealing). Refused for an erased
    /// person, and for a person sealed elsewhere whose key has not arrived.
    fn person_key_for_write(&self, id: &str, stored: &Json) -> Result<crate::shred::PersonKey> {
        if crate::db::person_keys::is_erased(&self.conn, id)? {
            return Err(Error::Erased { id: id.to_string() });
        }
        if let Some(k) = crate::db::person_keys::key_of(&self.conn, id)? {
            return Ok(k);
        }
        if crate::shred::has_sealed_values(RecordKind::Person, stored) {
            return Err(Error::SensitiveUnavailable { id: id.to_string() });
        }
        let key = crate::shred::PersonKey::generate()?;
        crate::db::person_keys::put_key(&self.conn, id, &key, false)?;
        Ok(key)
    }

    /// Read a record's body as JSON with every sensitive field masked
    /// ([`crate::sensitive::SENSITIVE_FIELDS`]): what lists and exports show by default.
    pub fn get_json_masked(&self, id: &str) -> Result<Json> {
        let mut body = self.get_json(id)?;
        crate::sensitive::mask_body(self.kind_of(id)?, &mut body);
        Ok(body)
    }

    /// The kind of a stored record.
    pub fn kind_of(&self, id: &str) -> Result<RecordKind> {
        let kind: Option<String> = self
            .conn
            .query_row("SELECT kind FROM docs WHERE id = ?1", [id], |r| r.get(0))
            .optional()?
            .flatten();
        kind.ok_or_else(|| Error::NotFound {
            kind: "record",
            id: id.to_string(),
        })?
        .parse()
    }

    /// Delete a record: a tombstone that syncs. An edit made elsewhere while this delete was
    /// unknown there surfaces as a conflict on every replica.
    pub fn delete(&mut self, id: &str) -> Result<()> {
        let now = self.now().to_rfc3339();
        let by = self.identity.account_id.clone();
        self.write(id, Some(MSG_DELETE), move |doc, who| {
            check_scope_of(who, doc)?;
            if doc::root_obj(doc, "deleted").is_some() {
                return Err(Error::Deleted { id: id.to_string() });
            }
            let base = doc::heads_hex(&doc.get_heads());
            let d = doc.put_object(automerge::ROOT, "deleted", ObjType::Map)?;
            doc::write_map(
                doc,
                &d,
                &Json::Null,
                json!({"at": now, "by": by, "base": base})
                    .as_object()
                    .unwrap_or(&Default::default()),
            )
        })
    }

    /// Settle an edit that raced a delete.
    pub fn resolve_delete(&mut self, id: &str, resolution: DeleteResolution) -> Result<()> {
        let msg = match resolution {
            DeleteResolution::Restore => MSG_RESOLVE,
            DeleteResolution::ConfirmDelete => MSG_CONFIRM_DELETE,
        };
        self.write(id, Some(msg), move |doc, who| {
            check_scope_of(who, doc)?;
            let Some(d) = doc::root_obj(doc, "deleted") else {
                return Err(Error::NoConflict {
                    id: id.to_string(),
                    path: "deleted".into(),
                });
            };
            match resolution {
                DeleteResolution::Restore => doc.delete(automerge::ROOT, "deleted")?,
                DeleteResolution::ConfirmDelete => {
                    let heads = doc::heads_hex(&doc.get_heads());
                    let list = doc.put_object(&d, "base", ObjType::List)?;
                    for (i, h) in heads.iter().enumerate() {
                        doc.insert(&list, i, h.as_str())?;
                    }
                }
            }
            Ok(())
        })
    }

    /// Pick the value of a field that holds concurrent values; the choice is itself a change
    /// that merges everywhere.
    pub fn resolve_conflict(&mut self, id: &str, path: &str, value: &Json) -> Result<()> {
        let mut value = value.clone();
        if let Some(field) = path.strip_prefix("body/")
            && let Ok(kind) = self.kind_of(id)
            && let Some(sealed_as) = crate::shred::sealed_field_of_path(kind, field)
            && let Some(plain) = value.as_str().filter(|v| !crate::shred::is_sealed(&Json::from(*v)))
        {
            let key = self.person_key_for_write(id, &Json::Null)?;
            value = Json::String(crate::shred::seal(&key, id, sealed_as, plain)?);
        }
        self.write(id, Some(MSG_RESOLVE), |doc, who| {
            check_scope_of(who, doc)?;
            let found = doc::body::conflicts(doc);
            if !found.iter().any(|c| c.path == path) {
                return Err(Error::NoConflict {
                    id: id.to_string(),
                    path: path.to_string(),
                });
            }
            doc::put_path(doc, path, &value)
        })
    }

    /// Append one entry to a record's workflow history (used by the workflow API).
    pub(crate) fn append_transition(&mut self, id: &str, expected_kind: &[RecordKind], entry: &Json) -> Result<()> {
        self.write(id, Some(MSG_TRANSITION), |doc, _| {
            let kind: RecordKind = doc::root_str(doc, "kind").unwrap_or_default().parse()?;
            if !expected_kind.contains(&kind) {
                return Err(Error::NotFound {
                    kind: "case",
                    id: id.to_string(),
                });
            }
            if doc::root_obj(doc, "deleted").is_some() {
                return Err(Error::Deleted { id: id.to_string() });
            }
            doc::history::append(doc, entry)
        })
    }

    /// Load a record's document (read-only use).
    pub(crate) fn load(&self, id: &str) -> Result<AutoCommit> {
        let bytes: Vec<u8> = self
            .conn
            .query_row("SELECT bytes FROM docs WHERE id = ?1", [id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| Error::NotFound {
                kind: "record",
                id: id.to_string(),
            })?;
        doc::load_doc(&bytes, &self.actor)
    }

    fn check_record<R: Record>(&self, record: &R) -> Result<()> {
        record.validate()?;
        let scope = record.scope();
        if !self.identity.may_write(&scope) {
            return Err(Error::OutOfScope { scope });
        }
        record.check_refs(&DbLookup {
            conn: &self.conn,
            scheme: self.scheme,
        })
    }

    /// The one write path: load (or start) the document, let `edit` change it, then in one
    /// transaction save it, queue the change in the outbox and rebuild its query rows.
    fn write(
        &mut self,
        id: &str,
        message: Option<&str>,
        edit: impl FnOnce(&mut AutoCommit, &Identity) -> Result<()>,
    ) -> Result<()> {
        let mut doc = match self.load(id) {
            Ok(d) => d,
            Err(Error::NotFound { .. }) => doc::new_doc(&self.actor),
            Err(e) => return Err(e),
        };
        edit(&mut doc, &self.identity)?;
        let opts = match message {
            Some(m) => CommitOptions::default().with_message(m.to_string()),
            None => CommitOptions::default(),
        };
        let opts = opts.with_time(self.now().timestamp());
        if doc.commit_with(opts).is_none() {
            return Ok(()); // nothing changed
        }
        let change = doc.get_last_local_change().ok_or_else(|| Error::Corrupt {
            id: id.to_string(),
            reason: "no local change after commit".into(),
        })?;
        let tx = self.conn.transaction()?;
        save_doc(&tx, id, &mut doc)?;
        tx.execute(
            "INSERT INTO outbox (doc_id, hash, bytes) VALUES (?1, ?2, ?3)",
            params![id, change.hash().to_string(), change.raw_bytes()],
        )?;
        query_rows::record(&tx, id, &mut doc)?;
        tx.commit()?;
        if let Some(c) = &mut self.checkpointer {
            c.wrote();
        }
        Ok(())
    }

    // ---------------------------------------------------------------- exchanging changes

    /// Local changes not yet acknowledged, oldest first.
    pub fn outbox(&self, limit: usize) -> Result<Vec<OutboxEntry>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, doc_id, hash, bytes FROM outbox ORDER BY seq LIMIT ?1")?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(OutboxEntry {
                seq: r.get(0)?,
                doc_id: r.get(1)?,
                hash: r.get(2)?,
                bytes: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// How many changes wait in the outbox.
    pub fn outbox_len(&self) -> Result<usize> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM outbox", [], |r| r.get::<_, i64>(0))? as usize)
    }

    /// The server durably holds these changes: drop them from the outbox.
    pub fn ack(&mut self, hashes: &[String]) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let mut n = 0;
        {
            let mut stmt = tx.prepare_cached("DELETE FROM outbox WHERE hash = ?1")?;
            for h in hashes {
                n += stmt.execute([h])?;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// Heads of every document held, as hex: what a peer needs to send only what is missing.
    pub fn doc_heads(&self) -> Result<BTreeMap<String, Vec<String>>> {
        let mut stmt = self.conn.prepare_cached("SELECT id, heads FROM docs")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (id, heads) = row?;
            out.insert(id, split_heads(&heads));
        }
        Ok(out)
    }

    /// Every change this store holds that a peer with `their_heads` lacks.
    pub fn changes_since(&self, their_heads: &BTreeMap<String, Vec<String>>) -> Result<Vec<RemoteChange>> {
        let mut out = Vec::new();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, heads, bytes FROM docs ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Vec<u8>>(2)?))
        })?;
        for row in rows {
            let (id, heads, bytes) = row?;
            let theirs = their_heads.get(&id);
            if theirs.is_some_and(|t| *t == split_heads(&heads)) {
                continue;
            }
            let mut doc = doc::load_doc(&bytes, &self.actor)?;
            let known: Vec<ChangeHash> = doc::parse_heads(theirs.map_or(&[][..], |v| v.as_slice()))?
                .into_iter()
                .filter(|h| has_change(&mut doc, *h))
                .collect();
            for c in doc.get_changes(&known) {
                out.push(RemoteChange {
                    doc_id: id.clone(),
                    bytes: c.raw_bytes().to_vec(),
                });
            }
        }
        Ok(out)
    }

    /// Merge changes from elsewhere (the server or a peer). Garbage bytes are refused before
    /// anything is written; re-deliveries are no-ops; changes whose dependencies are missing
    /// are kept until those arrive. One transaction for the whole batch.
    #[tracing::instrument(skip_all, fields(n = changes.len()))]
    pub fn apply_remote_changes(&mut self, changes: &[RemoteChange]) -> Result<ApplySummary> {
        let mut by_doc: BTreeMap<&str, Vec<Change>> = BTreeMap::new();
        for c in changes {
            let change = crate::doc::parse_change(&c.bytes)?;
            by_doc.entry(c.doc_id.as_str()).or_default().push(change);
        }
        let mut summary = ApplySummary::default();
        let tx = self.conn.transaction()?;
        for (id, incoming) in by_doc {
            let mut doc = match load_in(&tx, id, &self.actor)? {
                Some(d) => d,
                None => doc::new_doc(&self.actor),
            };
            let before = doc.get_heads();
            let mut all: Vec<Change> = Vec::with_capacity(incoming.len());
            for c in incoming {
                if has_change(&mut doc, c.hash()) {
                    summary.duplicates += 1;
                } else {
                    all.push(c);
                }
            }
            if all.is_empty() {
                continue;
            }
            let fresh = all.len();
            all.extend(load_pending(&tx, id)?);
            // A crafted change can make Automerge panic; the batch is refused instead (the
            // transaction rolls back, nothing is written).
            doc::guard(|| doc.apply_changes(all.clone()))?;
            let mut still_pending = 0;
            for c in &all {
                let hash = c.hash().to_string();
                if has_change(&mut doc, c.hash()) {
                    tx.execute(
                        "DELETE FROM pending_changes WHERE doc_id = ?1 AND hash = ?2",
                        params![id, hash],
                    )?;
                } else {
                    still_pending += 1;
                    tx.execute(
                        "INSERT OR IGNORE INTO pending_changes (doc_id, hash, bytes) VALUES (?1, ?2, ?3)",
                        params![id, hash, c.raw_bytes()],
                    )?;
                }
            }
            summary.pending += still_pending as u64;
            summary.applied += fresh.saturating_sub(still_pending.min(fresh)) as u64;
            if doc.get_heads() != before {
                save_doc(&tx, id, &mut doc)?;
                query_rows::record(&tx, id, &mut doc)?;
                summary.records_changed += 1;
            }
        }
        tx.commit()?;
        Ok(summary)
    }

    /// Merge compacted documents (a new device bootstrapping a scope from snapshots rather
    /// than the whole change log). Each item's bytes are a saved document; merging is
    /// idempotent like changes. One transaction for the batch; garbage is refused whole.
    #[tracing::instrument(skip_all, fields(n = docs.len()))]
    pub fn apply_snapshots(&mut self, docs: &[RemoteChange]) -> Result<ApplySummary> {
        let mut parsed = Vec::with_capacity(docs.len());
        for d in docs {
            let loaded = doc::guard(|| AutoCommit::load(&d.bytes))?;
            parsed.push((d.doc_id.as_str(), loaded));
        }
        let mut summary = ApplySummary::default();
        let tx = self.conn.transaction()?;
        for (id, mut incoming) in parsed {
            let mut doc = load_in(&tx, id, &self.actor)?.unwrap_or_else(|| doc::new_doc(&self.actor));
            let before = doc.get_heads();
            doc::guard(|| doc.merge(&mut incoming))?;
            if doc.get_heads() != before {
                save_doc(&tx, id, &mut doc)?;
                query_rows::record(&tx, id, &mut doc)?;
                summary.records_changed += 1;
                summary.applied += 1;
            } else {
                summary.duplicates += 1;
            }
        }
        tx.commit()?;
        Ok(summary)
    }

    // ---------------------------------------------------------------- conflicts

    /// Every record with unresolved conflicts.
    pub fn conflicts(&self) -> Result<Vec<RecordConflicts>> {
        let mut out: BTreeMap<String, RecordConflicts> = BTreeMap::new();
        let mut stmt = self.conn.prepare_cached(
            "SELECT f.doc_id, r.kind, f.path, f.values_json FROM field_conflicts f JOIN records r ON r.id = f.doc_id ORDER BY f.doc_id, f.path",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        for row in rows {
            let (id, kind, path, values) = row?;
            let entry = out.entry(id.clone()).or_insert_with(|| RecordConflicts {
                id,
                kind: kind.parse().unwrap_or(RecordKind::Household),
                fields: vec![],
                edited_while_deleted: false,
            });
            entry.fields.push(doc::FieldConflict {
                path,
                values: serde_json::from_str(&values).unwrap_or_default(),
            });
        }
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, kind FROM records WHERE delete_conflict = 1")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (id, kind) = row?;
            out.entry(id.clone())
                .or_insert_with(|| RecordConflicts {
                    id,
                    kind: kind.parse().unwrap_or(RecordKind::Household),
                    fields: vec![],
                    edited_while_deleted: false,
                })
                .edited_while_deleted = true;
        }
        Ok(out.into_values().collect())
    }

    // ---------------------------------------------------------------- inspection

    /// Row counts of every table (tests: a refused write changes none).
    pub fn table_counts(&self) -> Result<BTreeMap<String, i64>> {
        let tables: Vec<String> = self
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = BTreeMap::new();
        for t in tables {
            let n: i64 = self
                .conn
                .query_row(&format!("SELECT count(*) FROM \"{t}\""), [], |r| r.get(0))?;
            out.insert(t, n);
        }
        Ok(out)
    }

    /// Every row of every query table, as sorted text: equal on two replicas iff their query
    /// tables are equal.
    pub fn query_table_dump(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for t in crate::db::query_rows::QUERY_TABLES {
            let mut stmt = self.conn.prepare(&format!("SELECT * FROM {t}"))?;
            let cols = stmt.column_count();
            let mut rows = stmt.query([])?;
            let mut lines = Vec::new();
            while let Some(r) = rows.next()? {
                let mut line = format!("{t}:");
                for i in 0..cols {
                    let v: rusqlite::types::Value = r.get(i)?;
                    line.push_str(&format!(" {v:?}"));
                }
                lines.push(line);
            }
            lines.sort();
            out.extend(lines);
        }
        Ok(out)
    }

    /// Throw away the query tables and rebuild them from the documents.
    pub fn rebuild_query_tables(&mut self) -> Result<()> {
        let tx = self.conn.transaction()?;
        for t in crate::db::query_rows::QUERY_TABLES {
            if *t != "templates" {
                tx.execute(&format!("DELETE FROM {t}"), [])?;
            }
        }
        tx.execute("DELETE FROM templates WHERE doc_id IS NOT NULL", [])?;
        let ids: Vec<(String, Vec<u8>)> = tx
            .prepare("SELECT id, bytes FROM docs ORDER BY id")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (id, bytes) in ids {
            let mut d = doc::load_doc(&bytes, &self.actor)?;
            query_rows::record(&tx, &id, &mut d)?;
        }
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn lookup(&self) -> DbLookup<'_> {
        DbLookup {
            conn: &self.conn,
            scheme: self.scheme,
        }
    }
}

/// Whether the document holds the change (cheap: no change is rebuilt).
pub(crate) fn has_change(doc: &mut AutoCommit, hash: ChangeHash) -> bool {
    doc.get_missing_deps(&[hash]).is_empty()
}

fn check_scope_of(who: &Identity, doc: &AutoCommit) -> Result<()> {
    let scope = doc::root_str(doc, "scope").unwrap_or_default();
    if who.may_write(&scope) {
        Ok(())
    } else {
        Err(Error::OutOfScope { scope })
    }
}

fn split_heads(s: &str) -> Vec<String> {
    if s.is_empty() {
        vec![]
    } else {
        s.split(',').map(str::to_string).collect()
    }
}

fn check_live(doc: &AutoCommit, id: &str, kind: RecordKind) -> Result<()> {
    let found = doc::root_str(doc, "kind");
    let matches = match kind {
        RecordKind::Incident | RecordKind::Request => matches!(found.as_deref(), Some("incident" | "request")),
        k => found.as_deref() == Some(k.as_str()),
    };
    if !matches {
        return Err(Error::NotFound {
            kind: kind.as_str(),
            id: id.to_string(),
        });
    }
    if doc::root_obj(doc, "deleted").is_some() {
        return Err(Error::Deleted { id: id.to_string() });
    }
    Ok(())
}

pub(crate) fn load_in(tx: &Transaction<'_>, id: &str, actor: &ActorId) -> Result<Option<AutoCommit>> {
    let bytes: Option<Vec<u8>> = tx
        .query_row("SELECT bytes FROM docs WHERE id = ?1", [id], |r| r.get(0))
        .optional()?;
    bytes.map(|b| doc::load_doc(&b, actor)).transpose()
}

pub(crate) fn load_pending(tx: &Transaction<'_>, id: &str) -> Result<Vec<Change>> {
    let mut stmt = tx.prepare_cached("SELECT bytes FROM pending_changes WHERE doc_id = ?1")?;
    let rows = stmt.query_map([id], |r| r.get::<_, Vec<u8>>(0))?;
    let mut out = Vec::new();
    for b in rows {
        out.push(crate::doc::parse_change(&b?)?);
    }
    Ok(out)
}

pub(crate) fn save_doc(tx: &Transaction<'_>, id: &str, doc: &mut AutoCommit) -> Result<()> {
    let heads = doc::heads_hex(&doc.get_heads()).join(",");
    let kind = doc::root_str(doc, "kind");
    let scope = doc::root_str(doc, "scope");
    tx.execute(
        "INSERT INTO docs (id, kind, scope, bytes, heads) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, scope = excluded.scope, bytes = excluded.bytes, heads = excluded.heads",
        params![id, kind, scope, doc.save(), heads],
    )?;
    Ok(())
}

/// [`Lookup`] over the store's query tables.
pub(crate) struct DbLookup<'a> {
    pub(crate) conn: &'a Connection,
    pub(crate) scheme: GridCodeScheme,
}

impl Lookup for DbLookup<'_> {
    fn template(&self, id: &str, version: u32) -> Result<Option<ChecklistTemplate>> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT json FROM templates WHERE template_id = ?1 AND version = ?2",
                params![id, version],
                |r| r.get(0),
            )
            .optional()?;
        json.map(|j| ChecklistTemplate::from_json(&j)).transpose()
    }
    fn household_exists(&self, id: &str) -> Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM households WHERE id = ?1", [id], |r| {
                r.get::<_, i64>(0)
            })?
            > 0)
    }
    fn org_node(&self, id: &str) -> Result<Option<OrgNode>> {
        let row = self
            .conn
            .query_row(
                "SELECT name, level, code, parent, effective_from, effective_to FROM org_nodes WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, Option<String>>(5)?,
                    ))
                },
            )
            .optional()?;
        let Some((name, level, code, parent, from, to)) = row else {
            return Ok(None);
        };
        let parse_date = |s: &str| {
            s.parse().map_err(|_| Error::Corrupt {
                id: id.to_string(),
                reason: "bad date".into(),
            })
        };
        Ok(Some(OrgNode {
            name,
            level: serde_json::from_value(Json::String(level)).map_err(|e| Error::Corrupt {
                id: id.to_string(),
                reason: e.to_string(),
            })?,
            code,
            parent,
            effective_from: parse_date(&from)?,
            effective_to: to.as_deref().map(parse_date).transpose()?,
        }))
    }
    fn grid_scheme(&self) -> GridCodeScheme {
        self.scheme
    }
}
