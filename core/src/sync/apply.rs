//! What sync messages do to a [`Store`]: building a request from the outbox and the cursors,
//! and applying one response page in one transaction. No I/O here; [`super::client`] moves
//! the bytes.
//!
//! A page commits whole or not at all: acked changes leave the outbox, rejected ones move to
//! `quarantine`, snapshots and changes merge into their documents (query tables rebuilt), the
//! cursors advance and the server time offset is recorded, all in one SQLite transaction. A
//! sync cut off between pages keeps every page it completed.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{AutoCommit, Change};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::wire::{
    Cursor, PROTOCOL_VERSION, PersonKeyEntry, PulledDoc, PushChange, Rejection, SyncRequest, SyncResponse,
};
use crate::error::{Error, Result};
use crate::materialize;
use crate::store::{Store, load_in, load_pending, save_doc};

/// What one applied response page did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageOutcome {
    /// Outbox entries removed after an ack.
    pub acked: usize,
    /// Outbox entries moved to quarantine.
    pub rejected: usize,
    /// Changes and snapshots that changed a local document.
    pub received: usize,
    /// Items already held.
    pub duplicates: usize,
    /// Records whose state changed.
    pub touched: BTreeSet<String>,
}

/// What a whole [`super::SyncClient::sync`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncSummary {
    /// Local changes the server acknowledged.
    pub sent: u64,
    /// Changes and snapshots received that changed something here.
    pub received: u64,
    /// Local changes the server refused (now in quarantine).
    pub rejected: u64,
    /// Records touched by this sync that now hold unresolved conflicts.
    pub conflicts: u64,
    /// Round trips made.
    pub requests: u64,
    /// Bytes sent on the wire (compressed bodies).
    pub bytes_sent: u64,
    /// Bytes received on the wire (compressed bodies).
    pub bytes_received: u64,
}

/// A pulled snapshot, loaded, with what storing it needs if the document is new here (the
/// common case of a bootstrap): computed on the loading thread so the page's single SQLite
/// transaction only runs inserts.
struct LoadedSnapshot {
    doc: AutoCommit,
    /// Heads (hex, comma-separated), root `kind` and `scope`, and the query rows.
    fresh: (String, Option<String>, Option<String>, materialize::Rows),
}

fn load_snapshot(s: &PulledDoc) -> Result<LoadedSnapshot> {
    let mut doc = crate::doc::guard(|| AutoCommit::load(&s.bytes))?;
    let heads = crate::doc::heads_hex(&doc.get_heads()).join(",");
    let kind = crate::doc::root_str(&doc, "kind");
    let scope = crate::doc::root_str(&doc, "scope");
    let rows = materialize::rows(&s.doc_id, &mut doc)?;
    Ok(LoadedSnapshot {
        doc,
        fresh: (heads, kind, scope, rows),
    })
}

/// Load snapshot documents and compute their rows, on several cores when there are many
/// (this is most of a bootstrap's time on the phone). Garbage is an error, never a panic.
fn load_snapshots(items: &[PulledDoc]) -> Result<Vec<(&str, LoadedSnapshot)>> {
    let load = |chunk: &[PulledDoc]| -> Result<Vec<LoadedSnapshot>> { chunk.iter().map(load_snapshot).collect() };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
    let docs: Vec<LoadedSnapshot> = if items.len() < 64 || threads < 2 {
        load(items)?
    } else {
        let per = items.len().div_ceil(threads);
        let parts: Vec<Result<Vec<LoadedSnapshot>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = items.chunks(per).map(|c| scope.spawn(move || load(c))).collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::InvalidChange("a snapshot could not be loaded".into())))
                })
                .collect()
        });
        let mut all = Vec::with_capacity(items.len());
        for p in parts {
            all.extend(p?);
        }
        all
    };
    Ok(items.iter().map(|s| s.doc_id.as_str()).zip(docs).collect())
}

/// Keep person keys (unless erased or already held) and rebuild the rows of the held persons
/// they open; returns how many were new.
fn put_keys(
    tx: &rusqlite::Transaction<'_>,
    keys: &[PersonKeyEntry],
    from_server: bool,
    actor: &automerge::ActorId,
) -> Result<usize> {
    let mut new = 0;
    for k in keys {
        let key = crate::shred::PersonKey::from_bytes(&k.key)?;
        if crate::db::person_keys::key_of(tx, &k.person_id)?.is_some() {
            if from_server {
                tx.prepare_cached("UPDATE person_keys SET uploaded = 1 WHERE person_id = ?1 AND key = ?2")?
                    .execute(params![k.person_id, key.as_bytes().as_slice()])?;
            }
            continue;
        }
        if crate::db::person_keys::put_key(tx, &k.person_id, &key, from_server)? {
            new += 1;
            if let Some(mut doc) = load_in(tx, &k.person_id, actor)? {
                crate::store::query_rows::record(tx, &k.person_id, &mut doc)?;
            }
        }
    }
    Ok(new)
}

/// Drop a person's key, remember the erasure and rebuild the person's rows.
fn erase_in(
    tx: &rusqlite::Transaction<'_>,
    person_id: &str,
    seq: Option<u64>,
    at_ms: i64,
    actor: &automerge::ActorId,
) -> Result<()> {
    let seq = seq.map(|s| i64::try_from(s).unwrap_or(i64::MAX));
    crate::db::person_keys::erase_key(tx, person_id, seq, at_ms)?;
    if let Some(mut doc) = load_in(tx, person_id, actor)? {
        crate::store::query_rows::record(tx, person_id, &mut doc)?;
    }
    Ok(())
}

impl Store {
    /// The sync cursor of every scope this store has synced.
    pub fn sync_cursors(&self) -> Result<Vec<Cursor>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT scope, cursor, snapshot_after FROM sync_cursors ORDER BY scope")?;
        let rows = stmt.query_map([], |r| {
            Ok(Cursor {
                scope: r.get(0)?,
                seq: r.get::<_, i64>(1)?.max(0) as u64,
                snapshot_after: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A sync request: the oldest outbox changes up to `max_push_bytes` (at least one, at most
    /// `max_push_changes`) and every cursor.
    pub fn sync_request(
        &self,
        max_push_changes: usize,
        max_push_bytes: usize,
        max_response_bytes: u64,
        client_time_ms: i64,
    ) -> Result<SyncRequest> {
        let mut push = Vec::new();
        let mut size = 0;
        for e in self.outbox(max_push_changes.max(1))? {
            if !push.is_empty() && size + e.bytes.len() > max_push_bytes {
                break;
            }
            size += e.bytes.len();
            push.push(PushChange {
                doc_id: e.doc_id,
                hash: e.hash,
                bytes: e.bytes,
            });
        }
        Ok(SyncRequest {
            v: PROTOCOL_VERSION,
            client_time: client_time_ms,
            max_bytes: max_response_bytes,
            push,
            cursors: self.sync_cursors()?,
            person_keys: self.unsent_person_keys()?,
            erasures_after: self.erasure_cursor()?,
        })
    }

    /// Person keys made here that the server has not acknowledged.
    pub fn unsent_person_keys(&self) -> Result<Vec<PersonKeyEntry>> {
        self.person_keys_where("uploaded = 0")
    }

    /// Every person key held here (peer-to-peer exchange, tools): hand them only to a peer
    /// whose account may read these persons.
    pub fn export_person_keys(&self) -> Result<Vec<PersonKeyEntry>> {
        self.person_keys_where("1")
    }

    fn person_keys_where(&self, condition: &'static str) -> Result<Vec<PersonKeyEntry>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT person_id, key FROM person_keys WHERE {condition} ORDER BY person_id"
        ))?;
        let rows = stmt.query_map([], |r| {
            Ok(PersonKeyEntry {
                person_id: r.get(0)?,
                key: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Keep keys received from a peer (not from the server: they stay queued for upload) and
    /// rebuild the rows of the persons they open. Keys of erased persons are ignored. Returns
    /// how many keys were new here.
    pub fn import_person_keys(&mut self, keys: &[PersonKeyEntry]) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let n = put_keys(&tx, keys, false, &self.actor)?;
        tx.commit()?;
        Ok(n)
    }

    /// The last erasure sequence number applied here (0 = none).
    pub fn erasure_cursor(&self) -> Result<u64> {
        let seq: i64 = self
            .conn
            .query_row("SELECT coalesce(max(seq), 0) FROM erasures", [], |r| r.get(0))?;
        Ok(seq.max(0) as u64)
    }

    /// Erase a person on this device: drop its key (overwritten: `secure_delete`), remember the
    /// erasure, rebuild its rows (sealed fields now unavailable). The server does this for every
    /// device through sync; this is for an erasure learnt another way, and for tests.
    pub fn erase_person_locally(&mut self, person_id: &str, seq: Option<u64>) -> Result<()> {
        let tx = self.conn.transaction()?;
        erase_in(&tx, person_id, seq, chrono::Utc::now().timestamp_millis(), &self.actor)?;
        tx.commit()?;
        Ok(())
    }

    /// Apply one response page in one transaction (see the module docs). Garbage in the page
    /// is refused before anything is written.
    #[tracing::instrument(skip_all, fields(changes = resp.changes.len(), snapshots = resp.snapshots.len()))]
    pub fn apply_sync_response(&mut self, resp: &SyncResponse, local_time_ms: i64) -> Result<PageOutcome> {
        let snapshots = load_snapshots(&resp.snapshots)?;
        let mut changes: BTreeMap<&str, Vec<Change>> = BTreeMap::new();
        for c in &resp.changes {
            let change = crate::doc::parse_change(&c.bytes)?;
            changes.entry(c.doc_id.as_str()).or_default().push(change);
        }
        let actor = self.actor.clone();
        let mut out = PageOutcome::default();
        let tx = self.conn.transaction()?;
        // Keys first, so that the documents merged below open; then erasures, so that nothing
        // merged below opens with an erased key.
        put_keys(&tx, &resp.person_keys, true, &actor)?;
        for id in &resp.key_acks {
            tx.prepare_cached("UPDATE person_keys SET uploaded = 1 WHERE person_id = ?1")?
                .execute([id])?;
        }
        for e in &resp.erasures {
            erase_in(&tx, &e.person_id, Some(e.seq), local_time_ms, &actor)?;
        }
        {
            let mut del = tx.prepare_cached("DELETE FROM outbox WHERE hash = ?1")?;
            for h in &resp.acks {
                out.acked += del.execute([h])?;
            }
            let mut q = tx.prepare_cached(
                "INSERT INTO quarantine (doc_id, hash, code, message) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (doc_id, hash) DO UPDATE SET code = excluded.code, message = excluded.message",
            )?;
            for r in &resp.rejections {
                if del.execute([&r.hash])? > 0 {
                    out.rejected += 1;
                }
                q.execute(params![r.doc_id, r.hash, r.code, r.message])?;
            }
        }
        for ((id, loaded), raw) in snapshots.into_iter().zip(&resp.snapshots) {
            let LoadedSnapshot {
                doc: mut incoming,
                fresh,
            } = loaded;
            let Some(mut doc) = load_in(&tx, id, &actor)? else {
                // A document new here: the snapshot is already its saved form, its rows are made.
                let (heads, kind, scope, rows) = fresh;
                tx.prepare_cached(
                    "INSERT INTO docs (id, kind, scope, bytes, heads) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, scope = excluded.scope, bytes = excluded.bytes, heads = excluded.heads",
                )?
                .execute(params![id, kind, scope, raw.bytes, heads])?;
                if materialize::needs_key(kind.as_deref()) {
                    // A person: its rows open its sealed fields with the key held here.
                    crate::store::query_rows::record(&tx, id, &mut incoming)?;
                } else {
                    rows.write(&tx)?;
                }
                out.received += 1;
                out.touched.insert(id.to_string());
                continue;
            };
            let before = doc.get_heads();
            crate::doc::guard(|| doc.merge(&mut incoming))?;
            if doc.get_heads() != before {
                save_doc(&tx, id, &mut doc)?;
                crate::store::query_rows::record(&tx, id, &mut doc)?;
                out.received += 1;
                out.touched.insert(id.to_string());
            } else {
                out.duplicates += 1;
            }
        }
        for (id, incoming) in changes {
            let mut doc = load_in(&tx, id, &actor)?.unwrap_or_else(|| crate::doc::new_doc(&actor));
            let before = doc.get_heads();
            let mut fresh: Vec<Change> = Vec::with_capacity(incoming.len());
            for c in incoming {
                if doc.get_change_by_hash(&c.hash()).is_some() {
                    out.duplicates += 1;
                } else {
                    fresh.push(c);
                }
            }
            if fresh.is_empty() {
                continue;
            }
            let n_fresh = fresh.len();
            fresh.extend(load_pending(&tx, id)?);
            crate::doc::guard(|| doc.apply_changes(fresh.clone()))?;
            let mut still_pending = 0;
            for c in &fresh {
                let hash = c.hash().to_string();
                if doc.get_change_by_hash(&c.hash()).is_some() {
                    tx.prepare_cached("DELETE FROM pending_changes WHERE doc_id = ?1 AND hash = ?2")?
                        .execute(params![id, hash])?;
                } else {
                    still_pending += 1;
                    tx.prepare_cached(
                        "INSERT OR IGNORE INTO pending_changes (doc_id, hash, bytes) VALUES (?1, ?2, ?3)",
                    )?
                    .execute(params![id, hash, c.raw_bytes()])?;
                }
            }
            out.received += n_fresh.saturating_sub(still_pending.min(n_fresh));
            if doc.get_heads() != before {
                save_doc(&tx, id, &mut doc)?;
                crate::store::query_rows::record(&tx, id, &mut doc)?;
                out.touched.insert(id.to_string());
            }
        }
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO sync_cursors (scope, cursor, snapshot_after) VALUES (?1, ?2, ?3)
                 ON CONFLICT (scope) DO UPDATE SET cursor = excluded.cursor, snapshot_after = excluded.snapshot_after",
            )?;
            for c in &resp.cursors {
                stmt.execute(params![
                    c.scope,
                    i64::try_from(c.seq).unwrap_or(i64::MAX),
                    c.snapshot_after
                ])?;
            }
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('server_time_offset', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [(resp.server_time - local_time_ms).to_string()],
        )?;
        tx.commit()?;
        if !resp.erasures.is_empty() {
            // Old WAL frames still hold the erased keys' pages: move everything into the file
            // (where `secure_delete` overwrote them) and cut the WAL to zero bytes.
            if let Err(e) = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "WAL not truncated after an erasure");
            }
        }
        Ok(out)
    }

    /// Server clock minus this device's clock at the last sync, in milliseconds: the anchor of
    /// "server time now" estimates. `None` before the first sync.
    pub fn server_time_offset(&self) -> Result<Option<i64>> {
        let v: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'server_time_offset'", [], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(v.and_then(|s| s.parse().ok()))
    }

    /// Changes the server refused, for review.
    pub fn quarantined(&self) -> Result<Vec<Rejection>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT doc_id, hash, code, message FROM quarantine ORDER BY doc_id, hash")?;
        let rows = stmt.query_map([], |r| {
            Ok(Rejection {
                doc_id: r.get(0)?,
                hash: r.get(1)?,
                code: r.get(2)?,
                message: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// How many of `ids` hold unresolved conflicts.
    pub fn count_conflicted(&self, ids: &BTreeSet<String>) -> Result<usize> {
        let mut n = 0;
        let mut stmt = self.conn.prepare_cached(
            "SELECT (SELECT count(*) FROM field_conflicts WHERE doc_id = ?1) + (SELECT count(*) FROM records WHERE id = ?1 AND delete_conflict = 1)",
        )?;
        for id in ids {
            let c: i64 = stmt.query_row([id], |r| r.get(0))?;
            if c > 0 {
                n += 1;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Identity;
    use crate::domain::{OrgLevel, OrgNode, Role};
    use crate::sync::wire::PulledDoc;

    fn admin() -> Identity {
        Identity {
            account_id: "admin".into(),
            role: Role::DistrictAdmin,
            org_node: "d".into(),
            grids: vec![],
        }
    }

    fn node(name: &str) -> OrgNode {
        OrgNode {
            name: name.into(),
            level: OrgLevel::District,
            code: "370883".into(),
            parent: None,
            effective_from: chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            effective_to: None,
        }
    }

    fn response() -> SyncResponse {
        SyncResponse {
            v: PROTOCOL_VERSION,
            server_time: 5_000,
            acks: vec![],
            rejections: vec![],
            snapshots: vec![],
            changes: vec![],
            cursors: vec![],
            more: false,
            ..Default::default()
        }
    }

    #[test]
    fn a_page_acks_quarantines_merges_and_moves_cursors_at_once() {
        let mut a = Store::open_in_memory(admin()).unwrap();
        let mut b = Store::open_in_memory(admin()).unwrap();
        let id1 = a.create(&node("一")).unwrap();
        let id2 = a.create(&node("二")).unwrap();
        let other = b.create(&node("三")).unwrap();
        let req = a.sync_request(100, 1 << 20, 1 << 20, 1_000).unwrap();
        assert_eq!(req.push.len(), 2);
        let tiny = a.sync_request(100, 1, 1 << 20, 1_000).unwrap();
        assert_eq!(tiny.push.len(), 1, "at least one, then the byte budget");
        let pulled: Vec<PulledDoc> = b
            .outbox(10)
            .unwrap()
            .into_iter()
            .map(|e| PulledDoc {
                scope: "district".into(),
                doc_id: e.doc_id,
                bytes: e.bytes,
            })
            .collect();
        let mut resp = response();
        resp.acks = vec![req.push[0].hash.clone()];
        resp.rejections = vec![Rejection {
            hash: req.push[1].hash.clone(),
            doc_id: id2.clone(),
            code: "out_of_scope".into(),
            message: "no".into(),
        }];
        resp.changes = pulled.clone();
        resp.cursors = vec![Cursor {
            scope: "district".into(),
            seq: 7,
            snapshot_after: None,
        }];
        let out = a.apply_sync_response(&resp, 1_000).unwrap();
        assert_eq!((out.acked, out.rejected, out.received), (1, 1, 1));
        assert_eq!(a.outbox_len().unwrap(), 0);
        assert_eq!(a.quarantined().unwrap().len(), 1);
        assert_eq!(a.get::<OrgNode>(&other).unwrap().name, "三");
        assert_eq!(a.get::<OrgNode>(&id1).unwrap().name, "一");
        assert_eq!(a.sync_cursors().unwrap(), resp.cursors);
        assert_eq!(a.server_time_offset().unwrap(), Some(4_000));
        // Re-delivery is a no-op.
        let again = a.apply_sync_response(&resp, 1_000).unwrap();
        assert_eq!((again.acked, again.received, again.duplicates), (0, 0, 1));
    }

    #[test]
    fn garbage_in_a_page_writes_nothing() {
        let mut a = Store::open_in_memory(admin()).unwrap();
        a.create(&node("一")).unwrap();
        let before = a.table_counts().unwrap();
        let hash = a.outbox(1).unwrap()[0].hash.clone();
        let mut resp = response();
        resp.acks = vec![hash];
        resp.changes = vec![PulledDoc {
            scope: "x".into(),
            doc_id: "d".into(),
            bytes: vec![1, 2, 3],
        }];
        resp.cursors = vec![Cursor {
            scope: "x".into(),
            seq: 9,
            snapshot_after: None,
        }];
        assert_eq!(a.apply_sync_response(&resp, 0).unwrap_err().code(), "invalid_change");
        assert_eq!(a.table_counts().unwrap(), before);
    }
}
