//! The person keys a database holds (`person_keys`, `erasures`; core migration 3): the SQL of
//! crypto-shredding (加密擦除, docs/adr/0004-crypto-shredding.md). The crypto is [`crate::shred`].
//!
//! Part of `db` (rank 4). The phone's store and the server's storage both use it.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;
use crate::shred::PersonKey;

/// The key of a person held in this database, if any.
pub fn key_of(conn: &Connection, person_id: &str) -> Result<Option<PersonKey>> {
    let bytes: Option<Vec<u8>> = conn
        .prepare_cached("SELECT key FROM person_keys WHERE person_id = ?1")?
        .query_row([person_id], |r| r.get(0))
        .optional()?;
    bytes.map(|b| PersonKey::from_bytes(&b)).transpose()
}

/// Whether a person was erased (its key destroyed) as far as this database knows.
pub fn is_erased(conn: &Connection, person_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM erasures WHERE person_id = ?1")?
        .query_row([person_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Keep a person's key unless the person was erased or a key is already held; returns whether
/// the key now held is `key`.
pub fn put_key(conn: &Connection, person_id: &str, key: &PersonKey, uploaded: bool) -> Result<bool> {
    if is_erased(conn, person_id)? {
        return Ok(false);
    }
    conn.prepare_cached("INSERT OR IGNORE INTO person_keys (person_id, key, uploaded) VALUES (?1, ?2, ?3)")?
        .execute(params![person_id, key.as_bytes().as_slice(), uploaded])?;
    Ok(key_of(conn, person_id)?.as_ref() == Some(key))
}

/// Destroy a person's key and record the erasure (at server sequence `seq`, if known). The
/// connection runs with `secure_delete`, so the key's bytes are overwritten, not just unlinked.
pub fn erase_key(conn: &Connection, person_id: &str, seq: Option<i64>, at_ms: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM person_keys WHERE person_id = ?1")?
        .execute([person_id])?;
    conn.prepare_cached(
        "INSERT INTO erasures (person_id, seq, erased_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (person_id) DO UPDATE SET seq = coalesce(excluded.seq, erasures.seq)",
    )?
    .execute(params![person_id, seq, at_ms])?;
    Ok(())
}
