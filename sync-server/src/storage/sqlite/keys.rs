//! [`PersonKeys`] on SQLite: the `person_keys` and `erasures` tables (core migration 3) in the
//! server's database. See docs/adr/0004-crypto-shredding.md.

use automerge::AutoCommit;
use gridbook_core::Error;
use gridbook_core::query_tables::person_keys;
use gridbook_core::shred::PersonKey;
use gridbook_core::sync::{Erasure, PersonKeyEntry};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::SqliteStorage;
use crate::storage::{PersonKeys, Result};

impl PersonKeys for SqliteStorage {
    fn put_person_keys(&self, keys: &[PersonKeyEntry], may_write: &dyn Fn(&str) -> bool) -> Result<Vec<String>> {
        if keys.is_empty() {
            return Ok(vec![]);
        }
        self.write(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut held = Vec::new();
            for k in keys {
                let Ok(key) = PersonKey::from_bytes(&k.key) else {
                    continue; // not a key: not acknowledged
                };
                let scope: Option<Option<String>> = tx
                    .prepare_cached("SELECT scope FROM docs WHERE id = ?1")?
                    .query_row([&k.person_id], |r| r.get(0))
                    .optional()?;
                if let Some(Some(scope)) = scope
                    && !may_write(&scope)
                {
                    continue; // someone else's person
                }
                if person_keys::put_key(&tx, &k.person_id, &key, true)? {
                    held.push(k.person_id.clone());
                }
            }
            tx.commit()?;
            Ok(held)
        })
    }

    fn person_keys_for(&self, ids: &[String]) -> Result<Vec<PersonKeyEntry>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let ids = serde_json::to_string(ids).map_err(|e| Error::Corrupt {
            id: "person ids".into(),
            reason: e.to_string(),
        })?;
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT person_id, key FROM person_keys WHERE person_id IN (SELECT value FROM json_each(?1)) ORDER BY person_id",
            )?;
            let rows = stmt.query_map([ids], |r| {
                Ok(PersonKeyEntry {
                    person_id: r.get(0)?,
                    key: r.get(1)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn erasures_after(&self, seq: u64, limit: usize) -> Result<Vec<Erasure>> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT seq, person_id FROM erasures WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
            let rows = stmt.query_map(params![i64::try_from(seq).unwrap_or(i64::MAX), limit as i64], |r| {
                Ok(Erasure {
                    seq: r.get::<_, i64>(0)?.max(0) as u64,
                    person_id: r.get(1)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn erase_person(&self, person_id: &str, at: i64) -> Result<u64> {
        self.write(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let row: Option<(Option<String>, Vec<u8>)> = tx
                .query_row("SELECT kind, bytes FROM docs WHERE id = ?1", [person_id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            let Some((_, bytes)) = row.filter(|(k, _)| k.as_deref() == Some("person")) else {
                return Err(Error::NotFound {
                    kind: "person",
                    id: person_id.to_string(),
                }
                .into());
            };
            let seq: i64 = match tx
                .query_row("SELECT seq FROM erasures WHERE person_id = ?1", [person_id], |r| {
                    r.get::<_, Option<i64>>(0)
                })
                .optional()?
                .flatten()
            {
                Some(seq) => seq, // erased before: the same erasure
                None => tx.query_row("SELECT coalesce(max(seq), 0) + 1 FROM erasures", [], |r| r.get(0))?,
            };
            person_keys::erase_key(&tx, person_id, Some(seq), at)?;
            // The person's query rows: sealed fields now read as unavailable.
            let mut doc = gridbook_core::doc::guard(|| AutoCommit::load(&bytes))?;
            gridbook_core::query_tables::record(&tx, person_id, &mut doc)?;
            tx.commit()?;
            // Old WAL frames still hold the key's page as it was: move everything into the
            // file (where `secure_delete` overwrote it) and cut the WAL to zero bytes.
            let (busy, _, _): (i64, i64, i64) = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
            if busy != 0 {
                tracing::warn!("WAL not truncated after an erasure (readers busy); it is on the next checkpoint");
            }
            Ok(seq.max(0) as u64)
        })
    }
}
