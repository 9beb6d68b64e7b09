//! 加密擦除 (crypto-shredding, issue 9, ADR 0004): a person's sensitive fields are kept sealed
//! inside the record's Automerge document with a per-person data key, so that destroying the key
//! leaves nothing readable in any replica's document history.
//!
//! - Sealed fields ([`SEALED_FIELDS`]): a person's name, ID number and phone. A sealed value is
//!   the text `gbs1:` + hex(24-byte random nonce ‖ XChaCha20-Poly1305 ciphertext and tag), bound
//!   to the person id and the field (associated data), so it cannot be moved to another person
//!   or field unnoticed.
//! - Keys ([`PersonKey`], 32 random bytes) live in the `person_keys` table of the phone's store
//!   (itself encrypted at rest, ADR 0003) and of the server's database; the phone that creates a
//!   person makes its key offline and uploads it with its next sync. Erasure deletes the key
//!   everywhere (`secure_delete`), after which every copy of every sealed value is noise.
//! - Reading without the key leaves the field *unavailable*: typed reads fail with
//!   [`Error::SensitiveUnavailable`], JSON reads show `null` and list the field under
//!   [`UNAVAILABLE_KEY`], query tables show [`UNAVAILABLE_TEXT`].

use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value as Json;
use zeroize::Zeroize;

use crate::domain::RecordKind;
use crate::error::{Error, Result};

/// The fields sealed with the person key, as keys of a person's body. Decision (ADR 0004): the
/// name is sealed too — with the ID number and phone it is what identifies a resident.
pub const SEALED_FIELDS: &[(RecordKind, &str)] = &[
    (RecordKind::Person, "name"),
    (RecordKind::Person, "id_number"),
    (RecordKind::Person, "phone"),
];

/// Prefix of a sealed value (format version 1).
pub const SEALED_PREFIX: &str = "gbs1:";

/// Key of the JSON body listing the fields that could not be opened.
pub const UNAVAILABLE_KEY: &str = "_unavailable";

/// What lists show for a field that cannot be opened (no key on this device, or erased).
pub const UNAVAILABLE_TEXT: &str = "（信息不可用）";

const NONCE_LEN: usize = 24;

/// A person's data key (个人数据密钥): 32 random bytes. Wiped on drop, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PersonKey([u8; 32]);

impl PersonKey {
    /// A new random key (the OS's CSPRNG).
    pub fn generate() -> Result<PersonKey> {
        <[u8; 32]>::try_generate().map(PersonKey).map_err(|e| Error::Corrupt {
            id: "random".into(),
            reason: format!("the system random generator failed: {e}"),
        })
    }

    /// A key from its bytes (sync messages, the key tables); anything but 32 bytes is refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<PersonKey> {
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::invalid("invalid_key", "person_key", "a person key has 32 bytes"))?;
        Ok(PersonKey(key))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }
}

impl std::fmt::Debug for PersonKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PersonKey(..)")
    }
}

impl Drop for PersonKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

fn aad(person_id: &str, field: &str) -> Vec<u8> {
    format!("gridbook/person/{person_id}/{field}").into_bytes()
}

/// Whether a JSON value is a sealed value.
pub fn is_sealed(v: &Json) -> bool {
    v.as_str().is_some_and(|s| s.starts_with(SEALED_PREFIX))
}

/// Seal `plaintext` for `field` of person `person_id` (random nonce: equal plaintexts give
/// different sealed values).
pub fn seal(key: &PersonKey, person_id: &str, field: &str, plaintext: &str) -> Result<String> {
    let nonce = <[u8; NONCE_LEN]>::try_generate().map_err(|e| Error::Corrupt {
        id: "random".into(),
        reason: format!("the system random generator failed: {e}"),
    })?;
    let aad = aad(person_id, field);
    let sealed = key
        .cipher()
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext.as_bytes(),
                aad: &aad,
            },
        )
        .map_err(|_| Error::Corrupt {
            id: person_id.into(),
            reason: "sealing failed".into(),
        })?;
    let mut raw = nonce.to_vec();
    raw.extend(sealed);
    Ok(format!("{SEALED_PREFIX}{}", hex::encode(raw)))
}

/// Open a sealed value; `None` if it does not open with this key (another key, tampered).
pub fn open(key: &PersonKey, person_id: &str, field: &str, sealed: &str) -> Option<String> {
    let raw = hex::decode(sealed.strip_prefix(SEALED_PREFIX)?).ok()?;
    if raw.len() < NONCE_LEN {
        return None;
    }
    let (nonce, body) = raw.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
    let aad = aad(person_id, field);
    let plain = key
        .cipher()
        .decrypt(&XNonce::from(nonce), Payload { msg: body, aad: &aad })
        .ok()?;
    String::from_utf8(plain).ok()
}

/// The sealed fields of a kind.
pub fn sealed_fields(kind: RecordKind) -> impl Iterator<Item = &'static str> {
    SEALED_FIELDS.iter().filter(move |(k, _)| *k == kind).map(|(_, f)| *f)
}

/// Whether records of `kind` have sealed fields.
pub fn has_sealed_fields(kind: RecordKind) -> bool {
    sealed_fields(kind).next().is_some()
}

/// Seal the plaintext sensitive fields of `new` (a body about to be written). A field whose
/// plaintext equals what `old` (the stored, sealed body) holds keeps the old sealed value, so an
/// edit of another field writes nothing here and concurrent edits still merge field by field.
pub fn seal_body(kind: RecordKind, person_id: &str, key: &PersonKey, new: &mut Json, old: &Json) -> Result<()> {
    for field in sealed_fields(kind) {
        let Some(plain) = new.get(field).and_then(Json::as_str).map(str::to_string) else {
            continue; // null / absent stays so
        };
        let before = old.get(field).filter(|v| is_sealed(v));
        let unchanged = before
            .and_then(Json::as_str)
            .and_then(|s| open(key, person_id, field, s))
            .is_some_and(|p| p == plain);
        new[field] = match (unchanged, before) {
            (true, Some(b)) => b.clone(),
            _ => Json::String(seal(key, person_id, field, &plain)?),
        };
    }
    Ok(())
}

/// Open the sealed fields of a stored body in place. Fields that cannot be opened (no key,
/// another key) become `null`; their names are returned (and not listed in the body).
pub fn open_body(kind: RecordKind, person_id: &str, key: Option<&PersonKey>, body: &mut Json) -> Vec<&'static str> {
    let mut unavailable = Vec::new();
    for field in sealed_fields(kind) {
        let Some(v) = body.get(field).filter(|v| is_sealed(v)).and_then(Json::as_str) else {
            continue; // plain (written before sealing) or null
        };
        match key.and_then(|k| open(k, person_id, field, v)) {
            Some(plain) => body[field] = Json::String(plain),
            None => {
                body[field] = Json::Null;
                unavailable.push(field);
            }
        }
    }
    unavailable
}

/// Whether a stored body holds any sealed value.
pub fn has_sealed_values(kind: RecordKind, body: &Json) -> bool {
    sealed_fields(kind).any(|f| body.get(f).is_some_and(is_sealed))
}

/// Replace sealed values by placeholders that pass the record's validation (`name` →
/// [`UNAVAILABLE_TEXT`], others → `null`): what a replica without the key can check and list.
pub fn redact_sealed(kind: RecordKind, body: &mut Json) {
    for field in sealed_fields(kind) {
        if body.get(field).is_some_and(is_sealed) {
            body[field] = if field == "name" {
                Json::String(UNAVAILABLE_TEXT.into())
            } else {
                Json::Null
            };
        }
    }
}

// ------------------------------------------------------------------ the key tables

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_person_and_field() {
        let k = PersonKey::generate().unwrap();
        let s = seal(&k, "p1", "phone", "13812345678").unwrap();
        assert!(s.starts_with(SEALED_PREFIX));
        assert!(!s.contains("13812345678"));
        assert_eq!(open(&k, "p1", "phone", &s).as_deref(), Some("13812345678"));
        assert_ne!(seal(&k, "p1", "phone", "13812345678").unwrap(), s, "random nonce");
        assert_eq!(open(&PersonKey::generate().unwrap(), "p1", "phone", &s), None);
        assert_eq!(open(&k, "p2", "phone", &s), None, "bound to the person");
        assert_eq!(open(&k, "p1", "name", &s), None, "bound to the field");
        assert_eq!(open(&k, "p1", "phone", "gbs1:zz"), None);
        assert_eq!(open(&k, "p1", "phone", "gbs1:00"), None);
        assert_eq!(format!("{k:?}"), "PersonKey(..)");
    }

    #[test]
    fn bodies_keep_unchanged_sealed_values_and_open_or_show_unavailable() {
        let k = PersonKey::generate().unwrap();
        let mut first =
            serde_json::json!({"name": "王秀英", "id_number": "11010519491231002X", "phone": null, "relation": "户主"});
        seal_body(RecordKind::Person, "p", &k, &mut first, &Json::Null).unwrap();
        assert!(is_sealed(&first["name"]) && is_sealed(&first["id_number"]));
        assert_eq!(first["phone"], Json::Null);
        assert_eq!(first["relation"], "户主");
        let mut second =
            serde_json::json!({"name": "王秀英", "id_number": "110105194912310021", "phone": null, "relation": "户主"});
        seal_body(RecordKind::Person, "p", &k, &mut second, &first).unwrap();
        assert_eq!(second["name"], first["name"], "unchanged value keeps its sealed text");
        assert_ne!(second["id_number"], first["id_number"]);
        let mut read = second.clone();
        assert!(open_body(RecordKind::Person, "p", Some(&k), &mut read).is_empty());
        assert_eq!(read["name"], "王秀英");
        assert_eq!(read["id_number"], "110105194912310021");
        let mut blind = second.clone();
        assert_eq!(
            open_body(RecordKind::Person, "p", None, &mut blind),
            vec!["name", "id_number"]
        );
        assert_eq!(blind["name"], Json::Null);
        let mut listed = second;
        redact_sealed(RecordKind::Person, &mut listed);
        assert_eq!(listed["name"], UNAVAILABLE_TEXT);
        assert_eq!(listed["id_number"], Json::Null);
    }
}
