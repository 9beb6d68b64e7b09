//! [`SqliteStorage`]: the embedded default. One file, WAL, `synchronous=FULL`; one writer
//! connection behind a mutex and a small pool of readers.
//!
//! The file holds the phone's schema (`gridbook_core::db::migrate`: `docs` and the query
//! tables, filled by `gridbook_core::materialize::record`, so supervisor review can query the
//! same tables as a phone) plus the server's own tables below, versioned in `server_meta`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use gridbook_core::domain::Role;
use gridbook_core::sync::{Cursor, PulledDoc, wire};
use gridbook_core::{Error, Result};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

pub mod audit;
mod keys;

use super::{Account, CommitBatch, Device, DeviceStatus, OrgGrid, PullPage, PullQuery, RefreshToken, Storage, Token};
use crate::model::scopes::DEPARTMENT_SCOPE_PREFIX;
use crate::server_db::ServerDb;

/// Server-only schema steps; index + 1 = `server_meta.schema_version` after the step.
const SERVER_MIGRATIONS: &[&str] = &[
    "
CREATE TABLE change_log (
    seq           INTEGER PRIMARY KEY,
    scope         TEXT NOT NULL,
    doc_id        TEXT NOT NULL,
    hash          TEXT NOT NULL UNIQUE,
    bytes         BLOB NOT NULL,
    origin_device TEXT NOT NULL,
    received_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX change_log_scope ON change_log (scope, seq);
CREATE INDEX server_docs_scope ON docs (scope, id);
CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    org_node      TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE devices (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY,
    device_id  TEXT NOT NULL REFERENCES devices (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX tokens_device ON tokens (device_id);
",
    "
-- 分派: the cases dispatched to each department, and the log position of each case's latest
-- change, so a department's devices pull exactly those cases (as whole documents).
CREATE TABLE case_departments (
    department TEXT NOT NULL,
    doc_id     TEXT NOT NULL,
    last_seq   INTEGER NOT NULL,
    PRIMARY KEY (department, doc_id)
) STRICT;
CREATE INDEX case_departments_seq ON case_departments (department, last_seq);
CREATE INDEX case_departments_doc ON case_departments (doc_id);
",
    // 3: district administration (issue 11): when each device last synced, with which app.
    "
ALTER TABLE devices ADD COLUMN last_sync_at INTEGER;
ALTER TABLE devices ADD COLUMN app_version TEXT;
",
    "
CREATE TABLE refresh_tokens (
    hash       TEXT PRIMARY KEY,
    device_id  TEXT NOT NULL REFERENCES devices (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX refresh_tokens_device ON refresh_tokens (device_id);
",
    // 审计日志 (issue 9): see `audit` (and `crate::audit`).
    audit::SCHEMA,
    // 6: sessions that end (issue 24): revoked refresh tokens, dashboard-session tokens.
    "
ALTER TABLE refresh_tokens ADD COLUMN revoked_at INTEGER;
ALTER TABLE tokens ADD COLUMN web INTEGER NOT NULL DEFAULT 0;
",
];

/// The embedded SQLite storage.
pub struct SqliteStorage {
    db: ServerDb,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    max_readers: usize,
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

fn poisoned() -> Error {
    Error::Corrupt {
        id: "storage".into(),
        reason: "a connection lock was poisoned".into(),
    }
}

impl SqliteStorage {
    /// Open (or create) the plain database file and bring both schemas up to date.
    pub fn open(path: &Path, max_readers: usize) -> Result<SqliteStorage> {
        SqliteStorage::open_db(&ServerDb::plain(path), max_readers)
    }

    /// Open (or create) the database file with its key, if any (a plain file is encrypted in
    /// place first; a key that does not fit is [`Error::WrongKey`]), and bring both schemas up
    /// to date. Every connection, writer and readers, gets the key (ADR 0009).
    pub fn open_db(db: &ServerDb, max_readers: usize) -> Result<SqliteStorage> {
        let mut conn = db.open_writer()?;
        gridbook_core::db::prepare(&conn)?;
        // The server acks only after a commit that survives power loss, whatever the phone's
        // store chose for itself.
        conn.pragma_update(None, "synchronous", "FULL")?;
        gridbook_core::db::migrate(&mut conn)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS server_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;",
        )?;
        let found: i64 = conn
            .query_row("SELECT value FROM server_meta WHERE key = 'schema_version'", [], |r| {
                r.get::<_, String>(0)
            })
            .optional()?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if found > SERVER_MIGRATIONS.len() as i64 {
            return Err(Error::SchemaTooNew {
                found,
                supported: SERVER_MIGRATIONS.len() as i64,
            });
        }
        for (i, sql) in SERVER_MIGRATIONS.iter().enumerate().skip(found as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO server_meta (key, value) VALUES ('schema_version', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [(i + 1).to_string()],
            )?;
            tx.commit()?;
        }
        Ok(SqliteStorage {
            db: db.clone(),
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            max_readers,
        })
    }

    fn open_reader(&self) -> Result<Connection> {
        let conn = self.db.open_read_only()?;
        conn.pragma_update(None, "temp_store", 2)?;
        Ok(conn)
    }

    fn read<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let pooled = self.readers.lock().map_err(|_| poisoned())?.pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => self.open_reader()?,
        };
        let out = f(&mut conn);
        let mut pool = self.readers.lock().map_err(|_| poisoned())?;
        if pool.len() < self.max_readers {
            pool.push(conn);
        }
        out
    }

    fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self.writer.lock().map_err(|_| poisoned())?;
        f(&mut conn)
    }

    /// [`Self::write`] for unit tests of other modules.
    #[cfg(test)]
    pub(crate) fn write_for_test<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        self.write(f)
    }
}

fn account_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    let role: String = r.get(4)?;
    Ok(Account {
        id: r.get(0)?,
        username: r.get(1)?,
        display_name: r.get(2)?,
        password_hash: r.get(3)?,
        role: role.parse().unwrap_or(Role::GridLeader),
        org_node: r.get(5)?,
        disabled: r.get(6)?,
    })
}

fn device_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Device> {
    let id: String = r.get(0)?;
    Ok(Device {
        id: Uuid::parse_str(&id).unwrap_or_default(),
        account_id: r.get(1)?,
        name: r.get(2)?,
        created_at: r.get(3)?,
        revoked_at: r.get(4)?,
    })
}

fn insert_refresh(c: &Connection, t: &RefreshToken) -> Result<()> {
    c.execute(
        "INSERT INTO refresh_tokens (hash, device_id, created_at, expires_at, used_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![t.hash, t.device_id.to_string(), t.created_at, t.expires_at, t.used_at, t.revoked_at],
    )?;
    Ok(())
}

fn json_list(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}

impl Storage for SqliteStorage {
    fn create_account(&self, a: &Account) -> Result<()> {
        self.write(|c| {
            c.execute(
                "INSERT INTO accounts (id, username, display_name, password_hash, role, org_node, disabled) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![a.id, a.username, a.display_name, a.password_hash, a.role.as_str(), a.org_node, a.disabled],
            )?;
            Ok(())
        })
    }

    fn account_by_username(&self, username: &str) -> Result<Option<Account>> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT id, username, display_name, password_hash, role, org_node, disabled FROM accounts WHERE username = ?1")?
                .query_row([username], account_row)
                .optional()?)
        })
    }

    fn account(&self, id: &str) -> Result<Option<Account>> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT id, username, display_name, password_hash, role, org_node, disabled FROM accounts WHERE id = ?1")?
                .query_row([id], account_row)
                .optional()?)
        })
    }

    fn account_count(&self) -> Result<u64> {
        self.read(|c| Ok(c.query_row("SELECT count(*) FROM accounts", [], |r| r.get::<_, i64>(0))? as u64))
    }

    fn register_device(&self, d: &Device) -> Result<Device> {
        self.write(|c| {
            c.execute(
                "INSERT OR IGNORE INTO devices (id, account_id, name, created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![d.id.to_string(), d.account_id, d.name, d.created_at, d.revoked_at],
            )?;
            Ok(c.prepare_cached("SELECT id, account_id, name, created_at, revoked_at FROM devices WHERE id = ?1")?
                .query_row([d.id.to_string()], device_row)?)
        })
    }

    fn device(&self, id: Uuid) -> Result<Option<Device>> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT id, account_id, name, created_at, revoked_at FROM devices WHERE id = ?1")?
                    .query_row([id.to_string()], device_row)
                    .optional()?,
            )
        })
    }

    fn revoke_device(&self, id: Uuid, at: i64) -> Result<bool> {
        self.write(|c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE devices SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
                params![id.to_string(), at],
            )?;
            tx.execute(
                "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?2) WHERE device_id = ?1",
                params![id.to_string(), at],
            )?;
            tx.execute(
                "UPDATE refresh_tokens SET used_at = coalesce(used_at, ?2) WHERE device_id = ?1",
                params![id.to_string(), at],
            )?;
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn revoke_device_tokens(&self, device: Uuid, at: i64) -> Result<u64> {
        self.write(|c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE tokens SET revoked_at = ?2 WHERE device_id = ?1 AND revoked_at IS NULL",
                params![device.to_string(), at],
            )? + tx.execute(
                "UPDATE refresh_tokens SET revoked_at = ?2 WHERE device_id = ?1 AND revoked_at IS NULL AND used_at IS NULL",
                params![device.to_string(), at],
            )?;
            tx.commit()?;
            Ok(n as u64)
        })
    }

    fn insert_token(&self, t: &Token) -> Result<()> {
        self.write(|c| {
            c.execute(
                "INSERT INTO tokens (hash, device_id, created_at, expires_at, revoked_at, web) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    t.hash,
                    t.device_id.to_string(),
                    t.created_at,
                    t.expires_at,
                    t.revoked_at,
                    t.web
                ],
            )?;
            Ok(())
        })
    }

    fn token(&self, hash: &str) -> Result<Option<Token>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT hash, device_id, created_at, expires_at, revoked_at, web FROM tokens WHERE hash = ?1",
            )?
            .query_row([hash], |r| {
                let d: String = r.get(1)?;
                Ok(Token {
                    hash: r.get(0)?,
                    device_id: Uuid::parse_str(&d).unwrap_or_default(),
                    created_at: r.get(2)?,
                    expires_at: r.get(3)?,
                    revoked_at: r.get(4)?,
                    web: r.get(5)?,
                })
            })
            .optional()?)
        })
    }

    fn revoke_token(&self, hash: &str, at: i64) -> Result<bool> {
        self.write(|c| {
            Ok(c.execute(
                "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?2) WHERE hash = ?1",
                params![hash, at],
            )? > 0)
        })
    }

    fn set_password(&self, account_id: &str, password_hash: &str) -> Result<bool> {
        self.write(|c| {
            Ok(c.execute(
                "UPDATE accounts SET password_hash = ?2 WHERE id = ?1",
                params![account_id, password_hash],
            )? > 0)
        })
    }

    fn insert_refresh_token(&self, t: &RefreshToken) -> Result<()> {
        self.write(|c| insert_refresh(c, t))
    }

    fn refresh_token(&self, hash: &str) -> Result<Option<RefreshToken>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT hash, device_id, created_at, expires_at, used_at, revoked_at FROM refresh_tokens WHERE hash = ?1",
            )?
            .query_row([hash], |r| {
                let d: String = r.get(1)?;
                Ok(RefreshToken {
                    hash: r.get(0)?,
                    device_id: Uuid::parse_str(&d).unwrap_or_default(),
                    created_at: r.get(2)?,
                    expires_at: r.get(3)?,
                    used_at: r.get(4)?,
                    revoked_at: r.get(5)?,
                })
            })
            .optional()?)
        })
    }

    fn exchange_refresh_token(&self, hash: &str, at: i64, access: &Token, refresh: &RefreshToken) -> Result<bool> {
        self.write(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "UPDATE refresh_tokens SET used_at = ?2
                 WHERE hash = ?1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?2",
                params![hash, at],
            )?;
            if n == 0 {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO tokens (hash, device_id, created_at, expires_at, revoked_at, web) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    access.hash,
                    access.device_id.to_string(),
                    access.created_at,
                    access.expires_at,
                    access.revoked_at,
                    access.web
                ],
            )?;
            insert_refresh(&tx, refresh)?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn audit_append(&self, entry: &crate::model::audit::NewEntry) -> Result<crate::model::audit::Entry> {
        self.write(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let e = audit::append_sql(&tx, entry)?;
            tx.commit()?;
            Ok(e)
        })
    }

    fn org_grids(&self) -> Result<Vec<OrgGrid>> {
        // Grids, and sub-grids (二级网格) with the community and sub-district of their grid:
        // a sub-grid's records belong to that community's area like its grid's.
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT g.id, CASE g.level WHEN 'grid' THEN g.parent ELSE p.parent END AS community, c.parent
                 FROM org_nodes g
                 LEFT JOIN org_nodes p ON p.id = g.parent AND g.level = 'sub_grid'
                 LEFT JOIN org_nodes c ON c.id = (CASE g.level WHEN 'grid' THEN g.parent ELSE p.parent END)
                 WHERE g.level = 'grid' OR (g.level = 'sub_grid' AND p.level = 'grid')
                 ORDER BY g.id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(OrgGrid {
                    id: r.get(0)?,
                    community: r.get(1)?,
                    sub_district: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn known_changes(&self, hashes: &[String]) -> Result<HashSet<String>> {
        if hashes.is_empty() {
            return Ok(HashSet::new());
        }
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT hash FROM change_log WHERE hash IN (SELECT value FROM json_each(?1))")?;
            let rows = stmt.query_map([json_list(hashes)], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn load_docs(&self, ids: &[String]) -> Result<HashMap<String, Vec<u8>>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT id, bytes FROM docs WHERE id IN (SELECT value FROM json_each(?1))")?;
            let rows = stmt.query_map([json_list(ids)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn commit(&self, mut batch: CommitBatch) -> Result<()> {
        self.write(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut log = tx.prepare_cached(
                    "INSERT OR IGNORE INTO change_log (scope, doc_id, hash, bytes, origin_device, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                // The log position of each document's latest change in this batch.
                let mut last_seq: HashMap<&str, i64> = HashMap::new();
                for e in &batch.changes {
                    if log.execute(params![e.scope, e.doc_id, e.hash, e.bytes, batch.origin_device, batch.received_at])? > 0 {
                        last_seq.insert(e.doc_id.as_str(), tx.last_insert_rowid());
                    }
                }
                let mut dispatched = tx.prepare_cached(
                    "INSERT INTO case_departments (department, doc_id, last_seq) VALUES (?1, ?2, ?3)
                     ON CONFLICT (department, doc_id) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)",
                )?;
                for d in &batch.docs {
                    if let Some(seq) = last_seq.get(d.id.as_str()) {
                        for dept in &d.departments {
                            dispatched.execute(params![dept, d.id, seq])?;
                        }
                    }
                }
                let mut save = tx.prepare_cached(
                    "INSERT INTO docs (id, kind, scope, bytes, heads) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, scope = excluded.scope, bytes = excluded.bytes, heads = excluded.heads",
                )?;
                for d in std::mem::take(&mut batch.docs) {
                    if gridbook_core::materialize::needs_key(d.kind.as_deref()) {
                        // A person: its rows open its sealed fields with the key held here (the
                        // validating cores had no key). Persons are few next to visits.
                        let mut doc = gridbook_core::doc::guard(|| automerge::AutoCommit::load(&d.bytes))?;
                        gridbook_core::materialize::record(&tx, &d.id, &mut doc)?;
                    } else {
                        d.rows.write(&tx)?;
                    }
                    save.execute(params![d.id, d.kind, d.scope, d.bytes, d.heads])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn pull(&self, q: &PullQuery) -> Result<PullPage> {
        self.read(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let high: i64 = tx.query_row("SELECT coalesce(max(seq), 0) FROM change_log", [], |r| r.get(0))?;
            let high = high.max(0) as u64;
            let mut page = PullPage::default();
            let mut budget = q.max_bytes.max(1);
            let mut spent = 0u64;
            let mut cursors: BTreeMap<String, Cursor> = q.cursors.iter().map(|c| (c.scope.clone(), c.clone())).collect();
            // 0. Department scopes: every case dispatched to the department whose latest change
            // is after the cursor, as a whole document, in log order (a case changed again
            // later is sent again; the device merges it).
            let departments: Vec<String> =
                cursors.keys().filter(|s| s.starts_with(DEPARTMENT_SCOPE_PREFIX)).cloned().collect();
            for scope in departments {
                let Some(mut cur) = cursors.remove(&scope) else { continue };
                if !page.more {
                    let dept = &scope[DEPARTMENT_SCOPE_PREFIX.len()..];
                    let mut stmt = tx.prepare_cached(
                        "SELECT cd.last_seq, d.id, d.bytes FROM case_departments cd JOIN docs d ON d.id = cd.doc_id
                         WHERE cd.department = ?1 AND cd.last_seq > ?2 AND cd.last_seq <= ?3 ORDER BY cd.last_seq",
                    )?;
                    let mut rows = stmt.query(params![dept, cur.seq as i64, high as i64])?;
                    // Where the cursor may move: past what was sent, or to `high` once all was.
                    let mut reached = cur.seq;
                    while let Some(r) = rows.next()? {
                        if spent > 0 && spent >= budget {
                            page.more = true;
                            break;
                        }
                        let seq = r.get::<_, i64>(0)?.max(0) as u64;
                        let item = PulledDoc { scope: scope.clone(), doc_id: r.get(1)?, bytes: r.get(2)? };
                        spent += wire::item_size(&item);
                        page.snapshots.push(item);
                        reached = seq;
                    }
                    if !page.more {
                        reached = high;
                    }
                    cur = Cursor { scope: scope.clone(), seq: cur.seq.max(reached), snapshot_after: None };
                }
                page.cursors.push(cur);
            }
            // 1. Scopes that bootstrap from snapshots, in scope order, each from where it stopped.
            {
                let mut stmt = tx.prepare_cached("SELECT id, bytes FROM docs WHERE scope = ?1 AND id > ?2 ORDER BY id")?;
                for cur in cursors.values_mut() {
                    if cur.seq != 0 && cur.snapshot_after.is_none() {
                        continue;
                    }
                    if page.more {
                        break;
                    }
                    let taken_at = if cur.snapshot_after.is_some() { cur.seq } else { high };
                    let after = cur.snapshot_after.clone().unwrap_or_default();
                    let mut rows = stmt.query(params![cur.scope, after])?;
                    let mut last = None;
                    let mut finished = true;
                    while let Some(r) = rows.next()? {
                        if spent > 0 && spent >= budget {
                            finished = false;
                            break;
                        }
                        let item = PulledDoc { scope: cur.scope.clone(), doc_id: r.get(0)?, bytes: r.get(1)? };
                        spent += wire::item_size(&item);
                        last = Some(item.doc_id.clone());
                        page.snapshots.push(item);
                    }
                    if finished {
                        *cur = Cursor { scope: cur.scope.clone(), seq: taken_at, snapshot_after: None };
                    } else {
                        page.more = true;
                        // The budget ran out before this scope's first document: the cursor stays
                        // as it was (moving it to `taken_at` with no position would mark the
                        // scope bootstrapped and its documents would never be sent).
                        if let Some(last) = last {
                            *cur = Cursor { scope: cur.scope.clone(), seq: taken_at, snapshot_after: Some(last) };
                        }
                    }
                }
            }
            // 2. The log after the cursors of the other scopes: one query for all of them.
            if !page.more {
                budget = budget.max(spent + 1);
                let steady: Vec<String> =
                    cursors.values().filter(|c| c.snapshot_after.is_none() && c.seq > 0).map(|c| c.scope.clone()).collect();
                let from = cursors.values().filter(|c| c.snapshot_after.is_none() && c.seq > 0).map(|c| c.seq).min();
                if let Some(from) = from
                    && from < high
                {
                    let mut stmt = tx.prepare_cached(
                        "SELECT seq, scope, doc_id, bytes FROM change_log
                         WHERE seq > ?1 AND seq <= ?2 AND origin_device != ?3 AND scope IN (SELECT value FROM json_each(?4))
                         ORDER BY seq",
                    )?;
                    let mut rows = stmt.query(params![from as i64, high as i64, q.exclude_origin, json_list(&steady)])?;
                    let mut reached = high;
                    while let Some(r) = rows.next()? {
                        let seq = r.get::<_, i64>(0)?.max(0) as u64;
                        let scope: String = r.get(1)?;
                        if cursors.get(&scope).is_some_and(|c| seq <= c.seq) {
                            continue;
                        }
                        if spent > 0 && spent >= budget {
                            reached = seq - 1;
                            page.more = true;
                            break;
                        }
                        let item = PulledDoc { scope, doc_id: r.get(2)?, bytes: r.get(3)? };
                        spent += wire::item_size(&item);
                        page.changes.push(item);
                    }
                    for s in &steady {
                        if let Some(c) = cursors.get_mut(s) {
                            c.seq = c.seq.max(reached);
                        }
                    }
                } else if let Some(_from) = from {
                    // Nothing new; keep cursors.
                }
            }
            tx.commit()?;
            page.cursors.extend(cursors.into_values());
            Ok(page)
        })
    }

    fn ping(&self) -> Result<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).map(|_| ())?))
    }

    fn log_len(&self) -> Result<u64> {
        self.read(|c| Ok(c.query_row("SELECT count(*) FROM change_log", [], |r| r.get::<_, i64>(0))? as u64))
    }

    fn integrity_check(&self) -> Result<String> {
        self.read(|c| Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))?))
    }

    fn docs_of_kind(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT id, bytes FROM docs WHERE kind = ?1 ORDER BY id")?;
            let rows = stmt.query_map([kind], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn rule_book(&self) -> Result<gridbook_core::rules::RuleBook> {
        self.read(|c| gridbook_core::rules::RuleBook::load(c))
    }

    fn accounts(&self) -> Result<Vec<Account>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, username, display_name, password_hash, role, org_node, disabled FROM accounts ORDER BY username",
            )?;
            let rows = stmt.query_map([], account_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn update_account(&self, a: &Account) -> Result<bool> {
        self.write(|c| {
            Ok(c.execute(
                "UPDATE accounts SET username = ?2, display_name = ?3, password_hash = ?4, role = ?5, org_node = ?6, disabled = ?7 WHERE id = ?1",
                params![a.id, a.username, a.display_name, a.password_hash, a.role.as_str(), a.org_node, a.disabled],
            )? > 0)
        })
    }

    fn revoke_account_tokens(&self, account_id: &str, at: i64) -> Result<u64> {
        self.write(|c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE tokens SET revoked_at = ?2 WHERE revoked_at IS NULL
                 AND device_id IN (SELECT id FROM devices WHERE account_id = ?1)",
                params![account_id, at],
            )? + tx.execute(
                "UPDATE refresh_tokens SET revoked_at = ?2 WHERE revoked_at IS NULL AND used_at IS NULL
                 AND device_id IN (SELECT id FROM devices WHERE account_id = ?1)",
                params![account_id, at],
            )?;
            tx.commit()?;
            Ok(n as u64)
        })
    }

    fn devices(&self) -> Result<Vec<DeviceStatus>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, account_id, name, created_at, revoked_at, last_sync_at, app_version FROM devices
                 ORDER BY coalesce(last_sync_at, created_at) DESC, id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(DeviceStatus {
                    device: device_row(r)?,
                    last_sync_at: r.get(5)?,
                    app_version: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn record_sync(&self, device: Uuid, at: i64, app_version: Option<&str>) -> Result<()> {
        // Never wait behind a push's commit for this: when the writer is busy, a later sync
        // records it.
        let c = match self.writer.try_lock() {
            Ok(c) => c,
            Err(std::sync::TryLockError::WouldBlock) => return Ok(()),
            Err(std::sync::TryLockError::Poisoned(_)) => return Err(poisoned()),
        };
        c.prepare_cached(
            "UPDATE devices SET last_sync_at = ?2, app_version = coalesce(?3, app_version)
             WHERE id = ?1 AND (last_sync_at IS NULL OR last_sync_at <= ?2 - 60000 OR app_version IS NOT coalesce(?3, app_version))",
        )?
        .execute(params![device.to_string(), at, app_version])?;
        Ok(())
    }

    fn server_db(&self) -> Option<&ServerDb> {
        Some(&self.db)
    }

    fn backup_to(&self, dest: &Path) -> Result<()> {
        if let Some(key) = self.db.key() {
            // Encrypted (ADR 0009): `VACUUM INTO` would write the copy with SQLCipher's default
            // cipher settings, not ours, so the copy is exported with the same key and settings
            // in one read transaction on a connection of its own (it must create the file);
            // the writer carries on meanwhile (WAL).
            let conn = self.db.open(crate::server_db::Access::Export)?;
            return gridbook_core::at_rest::export_encrypted(&conn, dest, key);
        }
        // `VACUUM INTO` reads one consistent snapshot (a WAL read transaction) on a reader
        // connection: the writer and the other readers carry on while it runs.
        self.read(|c| {
            c.execute("VACUUM INTO ?1", [dest.to_string_lossy()])?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn durable_settings_and_an_empty_pull() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(&dir.path().join("db.sqlite3"), 2).unwrap();
        let (sync, journal): (i64, String) = s
            .write(|c| {
                let sync = c.pragma_query_value(None, "synchronous", |r| r.get(0))?;
                let journal = c.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
                Ok((sync, journal))
            })
            .unwrap();
        assert_eq!((sync, journal.as_str()), (2, "wal"), "synchronous=FULL, WAL");
        assert_eq!(s.integrity_check().unwrap(), "ok");
        let page = s
            .pull(&PullQuery {
                cursors: vec![Cursor {
                    scope: "g".into(),
                    seq: 0,
                    snapshot_after: None,
                }],
                exclude_origin: "d".into(),
                max_bytes: 1024,
            })
            .unwrap();
        assert!(!page.more && page.snapshots.is_empty() && page.changes.is_empty());
        // Reopening is a no-op migration.
        drop(s);
        SqliteStorage::open(&dir.path().join("db.sqlite3"), 2).unwrap();
    }

    /// Sub-grids (二级网格) are scopes too, in the community and sub-district of their grid;
    /// a node below a sub-grid (a building) is not.
    #[test]
    fn org_grids_include_sub_grids_in_their_grids_community() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(&dir.path().join("db.sqlite3"), 2).unwrap();
        s.write(|c| {
            for (id, level, parent) in [
                ("d", "district", None),
                ("s1", "sub_district", Some("d")),
                ("c1", "community", Some("s1")),
                ("g1", "grid", Some("c1")),
                ("g1a", "sub_grid", Some("g1")),
                ("b1", "building", Some("g1a")),
            ] {
                c.execute(
                    "INSERT INTO org_nodes (id, name, level, code, parent, effective_from) VALUES (?1, ?1, ?2, '', ?3, '2026-01-01')",
                    params![id, level, parent],
                )?;
            }
            Ok(())
        })
        .unwrap();
        let node = |id: &str| OrgGrid {
            id: id.into(),
            community: Some("c1".into()),
            sub_district: Some("s1".into()),
        };
        assert_eq!(s.org_grids().unwrap(), vec![node("g1"), node("g1a")]);
    }

    /// Bootstrap pages under every byte budget deliver every document of every scope once. A
    /// budget running out exactly between two scopes once marked the next scope bootstrapped
    /// with nothing sent (found by the simulation, seed 0 of the privacy-phone branch).
    #[test]
    fn every_budget_bootstraps_every_scope_completely() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(&dir.path().join("db.sqlite3"), 2).unwrap();
        let dept = format!("{DEPARTMENT_SCOPE_PREFIX}d1");
        let mut expected = BTreeSet::new();
        s.write(|c| {
            let mut seq: i64 = 0;
            for (scope, n) in [("a", 3), ("b", 1), ("c", 4), ("district", 2)] {
                for i in 0..n {
                    seq += 1;
                    let id = format!("{scope}-{i}");
                    let bytes = vec![7u8; 10 + 13 * ((seq as usize * 5) % 7)];
                    c.execute(
                        "INSERT INTO docs (id, kind, scope, bytes, heads) VALUES (?1, 'case', ?2, ?3, '')",
                        params![id, scope, bytes],
                    )?;
                    c.execute(
                        "INSERT INTO change_log (seq, scope, doc_id, hash, bytes, origin_device, received_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, 'other', 0)",
                        params![seq, scope, id, format!("h{seq}"), bytes],
                    )?;
                    expected.insert((scope.to_string(), id.clone()));
                    if scope == "c" {
                        c.execute(
                            "INSERT INTO case_departments (department, doc_id, last_seq) VALUES ('d1', ?1, ?2)",
                            params![id, seq],
                        )?;
                        expected.insert((dept.clone(), id));
                    }
                }
            }
            Ok(())
        })
        .unwrap();
        let scopes = ["a", "b", "c", "district", dept.as_str()];
        for budget in 1..400 {
            let mut cursors: Vec<Cursor> = scopes
                .iter()
                .map(|s| Cursor {
                    scope: s.to_string(),
                    seq: 0,
                    snapshot_after: None,
                })
                .collect();
            let mut got = BTreeSet::new();
            for page_no in 0.. {
                assert!(page_no < 50, "budget {budget}: no end");
                let page = s
                    .pull(&PullQuery {
                        cursors: cursors.clone(),
                        exclude_origin: "me".into(),
                        max_bytes: budget,
                    })
                    .unwrap();
                for d in page.snapshots.iter().chain(&page.changes) {
                    got.insert((d.scope.clone(), d.doc_id.clone()));
                }
                cursors = page.cursors;
                if !page.more {
                    break;
                }
            }
            assert_eq!(got, expected, "budget {budget}");
            assert!(
                cursors.iter().all(|c| c.seq == 10 && c.snapshot_after.is_none()),
                "budget {budget}: {cursors:?}"
            );
        }
    }
}
