//! 加密擦除 (crypto-shredding, issue 9, ADR 0004): a person's sensitive fields are kept sealed
//! inside the record's Automerge document with a per-person data key, so that destroying the key
//! leaves nothing readable in any replica's document history.
//!
//! - Sealed fields ([`SEALED_FIELDS`]): a person's name, ID number, phone and birth date, and in
//!   each special-group / care label (人员类别) the label key, its family and the responsible
//!   person (包案人). A sealed value is the text `gbs1:` + hex(24-byte random nonce ‖
//!   XChaCha20-Poly1305 ciphertext and tag), bound to the person id and the field's path
//!   (associated data), so it cannot be moved to another person or field unnoticed.
//! - Labels are a list: each element's fields are sealed in place (`labels/*/label` ...), so
//!   concurrent label adds on two phones still both survive the merge; a label's dates and
//!   attention level stay plain.
//! - A plain value where a sealed one is expected is legacy data (written before sealing) and
//!   reads as is; the next write seals it.
//! - Keys ([`PersonKey`], 32 random bytes) live in the `person_keys` table of the phone's store
//!   (itself encrypted at rest, ADR 0003) and of the server's database; the phone that creates a
//!   person makes its key offline and uploads it with its next sync. Erasure deletes the key
//!   everywhere (`secure_delete`), after which every copy of every sealed value is noise.
//! - Reading without the key leaves the field *unavailable*: typed reads fail with
//!   [`Error::SensitiveUnavailable`], JSON reads show `null` (a label that cannot be opened is
//!   left out: treated as absent) and list the field under [`UNAVAILABLE_KEY`], query tables
//!   show [`UNAVAILABLE_TEXT`] (labels: no row).
//!
//! Rank 2 of the crate's layers (core/README.md): crypto only, it uses `domain`. The SQL of the
//! key tables is `db::person_keys`.

use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde_json::Value as Json;
use zeroize::Zeroize;

use crate::domain::RecordKind;
use crate::error::{Error, Result};

/// The fields sealed with the person key, as paths in a person's body (`*` = each element of a
/// list). The path is also the field bound into a sealed value's associated data: a label's
/// values do not name its index, so they still open after concurrent inserts moved it.
///
/// Decisions (ADR 0004): the name is sealed too — with the ID number and phone it is what
/// identifies a resident; the birth date and the labels (special-group membership is sensitive
/// under PIPL art. 28) since the 2026-11-27 amendment. A household's address is not: it belongs
/// to the dwelling, not the person.
pub const SEALED_FIELDS: &[(RecordKind, &str)] = &[
    (RecordKind::Person, "name"),
    (RecordKind::Person, "id_number"),
    (RecordKind::Person, "phone"),
    (RecordKind::Person, "birth_date"),
    (RecordKind::Person, "labels/*/label"),
    (RecordKind::Person, "labels/*/category"),
    (RecordKind::Person, "labels/*/responsible"),
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

/// The sealed fields of a kind (paths, see [`SEALED_FIELDS`]).
pub fn sealed_fields(kind: RecordKind) -> impl Iterator<Item = &'static str> {
    SEALED_FIELDS.iter().filter(move |(k, _)| *k == kind).map(|(_, f)| *f)
}

/// Whether records of `kind` have sealed fields.
pub fn has_sealed_fields(kind: RecordKind) -> bool {
    sealed_fields(kind).next().is_some()
}

/// Where a sealed field sits in a body.
#[derive(Clone, Copy)]
enum Place {
    /// A key of the body (`name`).
    Top(&'static str),
    /// A key of each element of a list of the body (`labels/*/label`).
    Each { list: &'static str, key: &'static str },
}

fn place(path: &'static str) -> Place {
    match path.split_once("/*/") {
        Some((list, key)) => Place::Each { list, key },
        None => Place::Top(path),
    }
}

/// The sealed field (its path in [`SEALED_FIELDS`]) a concrete body path such as `name` or
/// `labels/2/label` refers to, if any.
pub fn sealed_field_of_path(kind: RecordKind, path: &str) -> Option<&'static str> {
    sealed_fields(kind).find(|f| match place(f) {
        Place::Top(name) => path == name,
        Place::Each { list, key } => path
            .strip_prefix(list)
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(index, k)| k == key && index.parse::<usize>().is_ok()),
    })
}

/// Seal the plaintext in `slot` as `field`, keeping `before` (the stored value) when it is
/// sealed and opens to the same plaintext. `null`, absent and non-text values stay as they are.
fn seal_slot(
    key: &PersonKey,
    person_id: &str,
    field: &str,
    slot: Option<&mut Json>,
    before: Option<&Json>,
) -> Result<()> {
    let Some(slot) = slot else { return Ok(()) };
    let Some(plain) = slot.as_str().map(str::to_string) else {
        return Ok(());
    };
    let before = before.filter(|v| is_sealed(v));
    let unchanged = before
        .and_then(Json::as_str)
        .and_then(|s| open(key, person_id, field, s))
        .is_some_and(|p| p == plain);
    *slot = match (unchanged, before) {
        (true, Some(b)) => b.clone(),
        _ => Json::String(seal(key, person_id, field, &plain)?),
    };
    Ok(())
}

/// Seal the plaintext sensitive fields of `new` (a body about to be written). A field whose
/// plaintext equals what `old` (the stored, sealed body) holds keeps the old sealed value, so an
/// edit of another field writes nothing here and concurrent edits still merge field by field.
/// List elements (labels) are compared with the stored element at the same index, which is how
/// the document writer compares them too: an unchanged label writes nothing, a new one is an
/// insert that merges with concurrent inserts.
pub fn seal_body(kind: RecordKind, person_id: &str, key: &PersonKey, new: &mut Json, old: &Json) -> Result<()> {
    for path in sealed_fields(kind) {
        match place(path) {
            Place::Top(field) => seal_slot(key, person_id, path, new.get_mut(field), old.get(field))?,
            Place::Each { list, key: field } => {
                let Some(items) = new.get_mut(list).and_then(Json::as_array_mut) else {
                    continue;
                };
                let olds = old.get(list).and_then(Json::as_array);
                for (i, item) in items.iter_mut().enumerate() {
                    let before = olds.and_then(|o| o.get(i)).and_then(|o| o.get(field));
                    seal_slot(key, person_id, path, item.get_mut(field), before)?;
                }
            }
        }
    }
    Ok(())
}

/// Open the sealed fields of a stored body in place. Fields that cannot be opened (no key,
/// another key) become `null`, and list elements holding one are left out (a label that cannot
/// be read is treated as absent); the names of the fields or lists concerned are returned (and
/// not listed in the body). Plain values (legacy, written before sealing) read as they are.
pub fn open_body(kind: RecordKind, person_id: &str, key: Option<&PersonKey>, body: &mut Json) -> Vec<&'static str> {
    let mut unavailable = Vec::new();
    let mut dropped: Vec<(&'static str, Vec<usize>)> = Vec::new();
    for path in sealed_fields(kind) {
        match place(path) {
            Place::Top(field) => {
                let Some(v) = body.get(field).filter(|v| is_sealed(v)).and_then(Json::as_str) else {
                    continue; // plain (written before sealing) or null
                };
                match key.and_then(|k| open(k, person_id, path, v)) {
                    Some(plain) => body[field] = Json::String(plain),
                    None => {
                        body[field] = Json::Null;
                        unavailable.push(field);
                    }
                }
            }
            Place::Each { list, key: field } => {
                let Some(items) = body.get_mut(list).and_then(Json::as_array_mut) else {
                    continue;
                };
                for (i, item) in items.iter_mut().enumerate() {
                    let Some(slot) = item.get_mut(field).filter(|v| is_sealed(v)) else {
                        continue;
                    };
                    match slot
                        .as_str()
                        .and_then(|v| key.and_then(|k| open(k, person_id, path, v)))
                    {
                        Some(plain) => *slot = Json::String(plain),
                        None => match dropped.iter_mut().find(|(l, _)| *l == list) {
                            Some((_, idx)) => idx.push(i),
                            None => dropped.push((list, vec![i])),
                        },
                    }
                }
            }
        }
    }
    for (list, idx) in dropped {
        if let Some(items) = body.get_mut(list).and_then(Json::as_array_mut) {
            let mut i = 0;
            items.retain(|_| {
                i += 1;
                !idx.contains(&(i - 1))
            });
        }
        unavailable.push(list);
    }
    unavailable
}

/// Whether a stored body holds any sealed value.
pub fn has_sealed_values(kind: RecordKind, body: &Json) -> bool {
    sealed_fields(kind).any(|path| match place(path) {
        Place::Top(field) => body.get(field).is_some_and(is_sealed),
        Place::Each { list, key } => body
            .get(list)
            .and_then(Json::as_array)
            .is_some_and(|items| items.iter().any(|i| i.get(key).is_some_and(is_sealed))),
    })
}

/// Replace sealed values by placeholders that pass the record's validation, for a replica that
/// checks a pushed record without its key (the server): `name` and a label's key →
/// [`UNAVAILABLE_TEXT`], a label's family → `special` (the most protective one), others →
/// `null`. Only for validation: the placeholders are never stored or listed.
pub fn redact_sealed(kind: RecordKind, body: &mut Json) {
    let placeholder = |path: &str| match path {
        "name" | "labels/*/label" => Json::String(UNAVAILABLE_TEXT.into()),
        "labels/*/category" => Json::String("special".into()),
        _ => Json::Null,
    };
    for path in sealed_fields(kind) {
        match place(path) {
            Place::Top(field) => {
                if let Some(v) = body.get_mut(field).filter(|v| is_sealed(v)) {
                    *v = placeholder(path);
                }
            }
            Place::Each { list, key } => {
                for item in body.get_mut(list).and_then(Json::as_array_mut).into_iter().flatten() {
                    if let Some(v) = item.get_mut(key).filter(|v| is_sealed(v)) {
                        *v = placeholder(path);
                    }
                }
            }
        }
    }
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

    fn labelled() -> Json {
        serde_json::json!({
            "household_id": "h", "grid_id": "g", "name": "王秀英", "id_number": null, "phone": null,
            "relation": "户主", "birth_date": "1949-12-31",
            "labels": [
                {"label": "community_correction", "category": "special", "start": "2026-01-01",
                 "end": null, "attention": "key", "responsible": "李包案"},
                {"label": "low_income", "category": "care", "start": "2026-01-01",
                 "end": null, "attention": "normal", "responsible": null}
            ]
        })
    }

    #[test]
    fn labels_are_sealed_inside_each_element_and_unchanged_ones_keep_their_sealed_values() {
        let k = PersonKey::generate().unwrap();
        let mut first = labelled();
        seal_body(RecordKind::Person, "p", &k, &mut first, &Json::Null).unwrap();
        assert!(is_sealed(&first["birth_date"]));
        let l0 = &first["labels"][0];
        assert!(is_sealed(&l0["label"]) && is_sealed(&l0["category"]) && is_sealed(&l0["responsible"]));
        assert_eq!(l0["start"], "2026-01-01", "dates stay plain");
        assert_eq!(l0["attention"], "key");
        assert_eq!(first["labels"][1]["responsible"], Json::Null);
        assert_eq!(
            open(&k, "p", "labels/*/label", l0["label"].as_str().unwrap()).as_deref(),
            Some("community_correction")
        );
        assert_eq!(open(&k, "p", "labels/*/category", l0["label"].as_str().unwrap()), None);
        // A third label added: the first two keep their sealed text (nothing to write there).
        let mut second = labelled();
        second["labels"].as_array_mut().unwrap().push(serde_json::json!(
            {"label": "disabled", "category": "care", "start": "2026-03-01", "end": null,
             "attention": "normal", "responsible": "张帮扶"}));
        seal_body(RecordKind::Person, "p", &k, &mut second, &first).unwrap();
        assert_eq!(second["labels"][0], first["labels"][0]);
        assert_eq!(second["labels"][1], first["labels"][1]);
        assert_eq!(second["birth_date"], first["birth_date"]);
        assert!(is_sealed(&second["labels"][2]["responsible"]));
        let mut read = second.clone();
        assert!(open_body(RecordKind::Person, "p", Some(&k), &mut read).is_empty());
        let p: crate::domain::Person = serde_json::from_value(read).unwrap();
        assert_eq!(p.labels.len(), 3);
        assert_eq!(p.labels[2].responsible.as_deref(), Some("张帮扶"));
        assert!(has_sealed_values(RecordKind::Person, &second));
        assert!(!has_sealed_values(RecordKind::Person, &labelled()));
    }

    #[test]
    fn labels_that_do_not_open_are_absent_and_plain_ones_read_as_they_are() {
        let k = PersonKey::generate().unwrap();
        let mut body = labelled();
        seal_body(RecordKind::Person, "p", &k, &mut body, &Json::Null).unwrap();
        // A legacy plain label written before sealing, merged into the same list.
        body["labels"].as_array_mut().unwrap().push(
            serde_json::json!({"label": "floating", "category": "population", "start": "2025-01-01",
                                     "end": null, "attention": "normal", "responsible": null}),
        );
        let mut blind = body.clone();
        assert_eq!(
            open_body(RecordKind::Person, "p", None, &mut blind),
            vec!["name", "birth_date", "labels"]
        );
        assert_eq!(blind["birth_date"], Json::Null);
        assert_eq!(blind["labels"].as_array().unwrap().len(), 1, "only the plain label");
        assert_eq!(blind["labels"][0]["label"], "floating");
        let mut other_key = body.clone();
        open_body(
            RecordKind::Person,
            "p",
            Some(&PersonKey::generate().unwrap()),
            &mut other_key,
        );
        assert_eq!(other_key["labels"], blind["labels"]);
        // What the server validates without the key: placeholders that pass the checks.
        let mut redacted = body.clone();
        redact_sealed(RecordKind::Person, &mut redacted);
        let p: crate::domain::Person = serde_json::from_value(redacted).unwrap();
        crate::domain::Record::validate(&p).unwrap();
        assert_eq!(p.labels.len(), 3);
        assert_eq!(p.labels[0].label, UNAVAILABLE_TEXT);
        assert_eq!(p.birth_date, None);
    }

    #[test]
    fn concrete_paths_map_to_their_sealed_field() {
        let f = |p| sealed_field_of_path(RecordKind::Person, p);
        assert_eq!(f("name"), Some("name"));
        assert_eq!(f("birth_date"), Some("birth_date"));
        assert_eq!(f("labels/3/responsible"), Some("labels/*/responsible"));
        assert_eq!(f("labels/0/category"), Some("labels/*/category"));
        assert_eq!(f("labels/x/label"), None);
        assert_eq!(f("labels/0/start"), None);
        assert_eq!(f("relation"), None);
        assert_eq!(sealed_field_of_path(RecordKind::Household, "name"), None);
    }
}
