//! [`ChangeLog`] on SQLite (rank 2, `storage`).

use std::collections::{BTreeMap, HashMap, HashSet};

use gridbook_core::sync::{Cursor, PulledDoc, wire};
use rusqlite::{TransactionBehavior, params};

use super::{SqliteStorage, json_list};
use crate::model::scopes::DEPARTMENT_SCOPE_PREFIX;
use crate::storage::{ChangeLog, CommitBatch, PullPage, PullQuery, Result};

impl ChangeLog for SqliteStorage {
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
                    if gridbook_core::query_tables::needs_key(d.kind.as_deref()) {
                        // A person: its rows open its sealed fields with the key held here (the
                        // validating cores had no key). Persons are few next to visits.
                        let mut doc = gridbook_core::doc::guard(|| automerge::AutoCommit::load(&d.bytes))?;
                        gridbook_core::query_tables::record(&tx, &d.id, &mut doc)?;
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

    fn log_len(&self) -> Result<u64> {
        self.read(|c| Ok(c.query_row("SELECT count(*) FROM change_log", [], |r| r.get::<_, i64>(0))? as u64))
    }

    fn docs_of_kind(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT id, bytes FROM docs WHERE kind = ?1 ORDER BY id")?;
            let rows = stmt.query_map([kind], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn rule_book(&self) -> Result<gridbook_core::RuleBook> {
        self.read(|c| Ok(gridbook_core::RuleBook::load(c)?))
    }
}
