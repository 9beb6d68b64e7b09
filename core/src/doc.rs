//! One Automerge document per record, and the mapping between record JSON and the document.
//!
//! Layout of every record document:
//!
//! ```text
//! root
//!  ├─ id, kind, schema, scope, created_at, created_by   scalars, written once at creation
//!  ├─ body         map: the record's fields (form fields are scalar strings; `notes` is text)
//!  ├─ transitions  list of maps: the append-only workflow history (incidents, requests, ledgers)
//!  └─ deleted      map, only once deleted: {at, by, base: [heads before the delete]}
//! ```
//!
//! Writes go through [`write_json`], which diffs the new JSON against what the document holds
//! and only touches what changed: two phones editing different fields merge cleanly, two
//! phones editing the same field leave both values for [`conflicts`] to list. [`body`] and
//! [`history`] are the one reader of a record's fields and of its workflow history.
//!
//! Rank 1 of the crate's layers (core/README.md): it uses `error` and `domain`.

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ChangeHash, ObjId, ObjType, ReadDoc, ScalarValue, Value};
use serde_json::{Map, Number, Value as Json};

use crate::error::{Error, Result};

pub mod body;
pub mod history;

/// Keys whose string values are stored as collaborative text, not as scalars.
/// Only long free-text notes earn the extra cost of text.
pub const TEXT_KEYS: &[&str] = &["notes"];

/// Commit message of the change that deletes a record.
pub const MSG_DELETE: &str = "gridbook:delete";
/// Commit message of the change that confirms a delete despite concurrent edits.
pub const MSG_CONFIRM_DELETE: &str = "gridbook:confirm-delete";
/// Commit message of a workflow transition.
pub const MSG_TRANSITION: &str = "gridbook:transition";
/// Commit message of a conflict resolution.
pub const MSG_RESOLVE: &str = "gridbook:resolve";

/// Run an Automerge operation on bytes from elsewhere. Crafted input can make Automerge
/// panic (fuzzing found an op order that breaks its sort); that is a refusal of the input,
/// [`Error::InvalidChange`], never a crash of the app or the server.
pub fn guard<T>(f: impl FnOnce() -> std::result::Result<T, automerge::AutomergeError>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(|e| Error::InvalidChange(e.to_string())),
        Err(_) => Err(Error::InvalidChange("the change could not be applied".into())),
    }
}

/// Parse change bytes from elsewhere; malformed bytes, and bytes that make Automerge panic
/// while verifying them (fuzzing found an op id overflow), are [`Error::InvalidChange`].
pub fn parse_change(bytes: &[u8]) -> Result<automerge::Change> {
    // Only one plain change chunk is accepted: the wire carries `Change::raw_bytes()`. Other
    // chunk types (document, compressed change, bundle) are refused before Automerge decodes
    // them: automerge 0.12 decoding a crafted 398-byte *bundle* chunk grows without bound
    // (fuzz/regressions/oom_automerge_change_parse_398_bytes.bin, found by the change_validator
    // fuzz target), and a compressed chunk is a deflate bomb waiting to happen.
    if bytes.len() < CHUNK_HEADER_MIN || bytes[..4] != CHUNK_MAGIC {
        return Err(Error::InvalidChange("not an Automerge change (bad magic bytes)".into()));
    }
    if bytes[8] != CHUNK_TYPE_CHANGE {
        return Err(Error::InvalidChange(format!(
            "Automerge chunk type {} refused: only an uncompressed change (type 1) is accepted",
            bytes[8]
        )));
    }
    match std::panic::catch_unwind(|| automerge::Change::try_from(bytes)) {
        Ok(r) => r.map_err(|e| Error::InvalidChange(e.to_string())),
        Err(_) => Err(Error::InvalidChange("the change could not be parsed".into())),
    }
}

/// The magic bytes every Automerge chunk starts with.
const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// Magic (4), checksum (4), chunk type (1), at least one length byte.
const CHUNK_HEADER_MIN: usize = 10;
/// Chunk type of an uncompressed change (0 = document, 2 = compressed change, 3 = bundle).
const CHUNK_TYPE_CHANGE: u8 = 1;

/// A record's document with the device's actor id.
pub fn new_doc(actor: &ActorId) -> AutoCommit {
    AutoCommit::new().with_actor(actor.clone())
}

/// Load a stored document and act as `actor` on it.
pub fn load_doc(bytes: &[u8], actor: &ActorId) -> Result<AutoCommit> {
    let mut doc = AutoCommit::load(bytes)?;
    doc.set_actor(actor.clone());
    Ok(doc)
}

/// The object id of a map at the root, if present.
pub fn root_obj(doc: &AutoCommit, key: &str) -> Option<ObjId> {
    match doc.get(automerge::ROOT, key) {
        Ok(Some((Value::Object(_), id))) => Some(id),
        _ => None,
    }
}

/// A root scalar as a string (`id`, `kind`, `scope` ...).
pub fn root_str(doc: &AutoCommit, key: &str) -> Option<String> {
    match doc.get(automerge::ROOT, key) {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// A root scalar as an integer (`schema`).
pub fn root_int(doc: &AutoCommit, key: &str) -> Option<i64> {
    match doc.get(automerge::ROOT, key) {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Int(i) => Some(*i),
            ScalarValue::Uint(u) => i64::try_from(*u).ok(),
            _ => None,
        },
        _ => None,
    }
}

/// Read an object of the document as JSON, taking Automerge's deterministic winner wherever
/// concurrent values exist.
pub fn read_json(doc: &AutoCommit, obj: &ObjId) -> Json {
    read_flagged(doc, obj, "", &mut None)
}

/// [`read_json`] in one pass that also notes the paths (below `prefix`) holding concurrent
/// values, so conflict detection costs nothing when there are none.
pub fn read_json_flagging(doc: &AutoCommit, obj: &ObjId, prefix: &str, flagged: &mut Vec<String>) -> Json {
    let mut f = Some(std::mem::take(flagged));
    let out = read_flagged(doc, obj, prefix, &mut f);
    *flagged = f.unwrap_or_default();
    out
}

fn read_flagged(doc: &AutoCommit, obj: &ObjId, prefix: &str, flagged: &mut Option<Vec<String>>) -> Json {
    let child_path = |key: &dyn std::fmt::Display, flagged: &Option<Vec<String>>| {
        if flagged.is_some() {
            format!("{prefix}/{key}")
        } else {
            String::new()
        }
    };
    match doc.object_type(obj) {
        Ok(ObjType::Map) | Ok(ObjType::Table) => {
            let mut out = Map::new();
            for item in doc.map_range(obj, ..) {
                let path = child_path(&item.key, flagged);
                if item.conflict
                    && let Some(f) = flagged.as_mut()
                {
                    f.push(path.clone());
                }
                let v = value_ref_to_json(doc, &item.value, || item.id(), &path, flagged);
                out.insert(item.key.into_owned(), v);
            }
            Json::Object(out)
        }
        Ok(ObjType::List) => {
            let mut out = Vec::new();
            for item in doc.list_range(obj, ..) {
                let path = child_path(&item.index, flagged);
                if item.conflict
                    && let Some(f) = flagged.as_mut()
                {
                    f.push(path.clone());
                }
                out.push(value_ref_to_json(doc, &item.value, || item.id(), &path, flagged));
            }
            Json::Array(out)
        }
        Ok(ObjType::Text) => Json::String(doc.text(obj).unwrap_or_default()),
        Err(_) => Json::Null,
    }
}

fn value_ref_to_json(
    doc: &AutoCommit,
    v: &automerge::ValueRef<'_>,
    id: impl FnOnce() -> ObjId,
    path: &str,
    flagged: &mut Option<Vec<String>>,
) -> Json {
    use automerge::ScalarValueRef as S;
    match v {
        automerge::ValueRef::Object(_) => read_flagged(doc, &id(), path, flagged),
        automerge::ValueRef::Scalar(s) => match s {
            S::Str(s) => Json::String(s.to_string()),
            S::Int(i) | S::Counter(i) | S::Timestamp(i) => Json::Number((*i).into()),
            S::Uint(u) => Json::Number((*u).into()),
            S::F64(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
            S::Boolean(b) => Json::Bool(*b),
            S::Null | S::Bytes(_) | S::Unknown { .. } => Json::Null,
        },
    }
}

fn value_to_json(doc: &AutoCommit, v: Value<'_>, id: &ObjId) -> Json {
    match v {
        Value::Object(_) => read_json(doc, id),
        Value::Scalar(s) => scalar_to_json(&s),
    }
}

fn scalar_to_json(s: &ScalarValue) -> Json {
    match s {
        ScalarValue::Str(s) => Json::String(s.to_string()),
        ScalarValue::Int(i) => Json::Number((*i).into()),
        ScalarValue::Uint(u) => Json::Number((*u).into()),
        ScalarValue::F64(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
        ScalarValue::Boolean(b) => Json::Bool(*b),
        ScalarValue::Timestamp(t) => Json::Number((*t).into()),
        ScalarValue::Counter(c) => Json::Number(i64::from(c).into()),
        ScalarValue::Null | ScalarValue::Bytes(_) | ScalarValue::Unknown { .. } => Json::Null,
    }
}

fn json_to_scalar(v: &Json) -> ScalarValue {
    match v {
        Json::Null => ScalarValue::Null,
        Json::Bool(b) => ScalarValue::Boolean(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                ScalarValue::Int(i)
            } else if let Some(u) = n.as_u64() {
                ScalarValue::Uint(u)
            } else {
                ScalarValue::F64(n.as_f64().unwrap_or(0.0))
            }
        }
        Json::String(s) => ScalarValue::Str(s.as_str().into()),
        // Objects and arrays never reach here.
        Json::Array(_) | Json::Object(_) => ScalarValue::Null,
    }
}

/// Make the map `obj` hold exactly `new` (an object), touching only what differs from `old`.
pub fn write_map(doc: &mut AutoCommit, obj: &ObjId, old: &Json, new: &Map<String, Json>) -> Result<()> {
    let empty = Map::new();
    let old_map = old.as_object().unwrap_or(&empty);
    for key in old_map.keys() {
        if !new.contains_key(key) {
            doc.delete(obj, key.as_str())?;
        }
    }
    for (key, value) in new {
        write_prop(doc, obj, key, old_map.get(key), value)?;
    }
    Ok(())
}

fn write_prop(doc: &mut AutoCommit, obj: &ObjId, key: &str, old: Option<&Json>, new: &Json) -> Result<()> {
    if old == Some(new) {
        return Ok(());
    }
    match new {
        Json::Object(m) => {
            let child = match (old, doc.get(obj, key)?) {
                (Some(Json::Object(_)), Some((Value::Object(ObjType::Map), id))) => id,
                _ => doc.put_object(obj, key, ObjType::Map)?,
            };
            let old_child = match old {
                Some(o @ Json::Object(_)) => o.clone(),
                _ => Json::Null,
            };
            write_map(doc, &child, &old_child, m)
        }
        Json::Array(items) => {
            let child = match (old, doc.get(obj, key)?) {
                (Some(Json::Array(_)), Some((Value::Object(ObjType::List), id))) => id,
                _ => doc.put_object(obj, key, ObjType::List)?,
            };
            let old_items = match old {
                Some(Json::Array(a)) => a.as_slice(),
                _ => &[],
            };
            write_list(doc, &child, old_items, items)
        }
        Json::String(s) if TEXT_KEYS.contains(&key) => {
            let text = match doc.get(obj, key)? {
                Some((Value::Object(ObjType::Text), id)) => id,
                _ => doc.put_object(obj, key, ObjType::Text)?,
            };
            doc.update_text(&text, s)?;
            Ok(())
        }
        scalar => {
            doc.put(obj, key, json_to_scalar(scalar))?;
            Ok(())
        }
    }
}

fn write_list(doc: &mut AutoCommit, obj: &ObjId, old: &[Json], new: &[Json]) -> Result<()> {
    let len = doc.length(obj);
    // Drop trailing elements the new value no longer has (from the end, so indices hold).
    for i in (new.len()..len).rev() {
        doc.delete(obj, i)?;
    }
    for (i, value) in new.iter().enumerate() {
        let old_value = old.get(i);
        if i < len.min(old.len()) {
            if old_value == Some(value) {
                continue;
            }
            match (value, doc.get(obj, i)?) {
                (Json::Object(m), Some((Value::Object(ObjType::Map), id))) => {
                    write_map(doc, &id, old_value.unwrap_or(&Json::Null), m)?
                }
                (Json::Object(m), _) => {
                    let id = doc.put_object(obj, i, ObjType::Map)?;
                    write_map(doc, &id, &Json::Null, m)?
                }
                (Json::Array(a), _) => {
                    let id = doc.put_object(obj, i, ObjType::List)?;
                    write_list(doc, &id, &[], a)?
                }
                (scalar, _) => doc.put(obj, i, json_to_scalar(scalar))?,
            }
        } else {
            insert_json(doc, obj, doc.length(obj), value)?;
        }
    }
    Ok(())
}

/// Insert `value` into the list `obj` at `index`.
pub fn insert_json(doc: &mut AutoCommit, obj: &ObjId, index: usize, value: &Json) -> Result<()> {
    match value {
        Json::Object(m) => {
            let id = doc.insert_object(obj, index, ObjType::Map)?;
            write_map(doc, &id, &Json::Null, m)
        }
        Json::Array(a) => {
            let id = doc.insert_object(obj, index, ObjType::List)?;
            write_list(doc, &id, &[], a)
        }
        scalar => {
            doc.insert(obj, index, json_to_scalar(scalar))?;
            Ok(())
        }
    }
}

/// Append `value` to the root list `key` (creating it when absent).
pub fn append_to_root_list(doc: &mut AutoCommit, key: &str, value: &Json) -> Result<()> {
    let list = match root_obj(doc, key) {
        Some(id) => id,
        None => doc.put_object(automerge::ROOT, key, ObjType::List)?,
    };
    let len = doc.length(&list);
    insert_json(doc, &list, len, value)
}

/// Put `value` at a `/`-separated `path` below the root (e.g. `body/phone`), replacing every
/// concurrent value there: this is how a conflict is resolved.
pub fn put_path(doc: &mut AutoCommit, path: &str, value: &Json) -> Result<()> {
    let mut obj = automerge::ROOT;
    let parts: Vec<&str> = path.split('/').collect();
    let (last, parents) = parts
        .split_last()
        .ok_or_else(|| Error::invalid("invalid_path", "path", "empty path"))?;
    for part in parents {
        // A list is indexed by position (a key lookup on a list is an Automerge error).
        let next = match doc.object_type(&obj) {
            Ok(ObjType::List) => part.parse::<usize>().ok().and_then(|i| doc.get(&obj, i).ok().flatten()),
            _ => doc.get(&obj, *part)?,
        };
        obj = match next {
            Some((Value::Object(_), id)) => id,
            _ => return Err(Error::invalid("invalid_path", path, "no object on the path")),
        };
    }
    match (doc.object_type(&obj), last.parse::<usize>()) {
        (Ok(ObjType::List), Ok(i)) if i < doc.length(&obj) => match value {
            Json::Object(m) => {
                let id = doc.put_object(&obj, i, ObjType::Map)?;
                write_map(doc, &id, &Json::Null, m)?;
            }
            other => doc.put(&obj, i, json_to_scalar(other))?,
        },
        (Ok(ObjType::Map), _) => {
            // Force a fresh put so every concurrent value is superseded.
            doc.put(&obj, *last, ScalarValue::Null)?;
            write_prop(doc, &obj, last, Some(&Json::Null), value)?;
        }
        _ => return Err(Error::invalid("invalid_path", path, "path does not name a field")),
    }
    Ok(())
}

/// One field holding concurrent values after a merge.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FieldConflict {
    /// `/`-separated path, e.g. `body/phone` (item ids may contain dots).
    pub path: String,
    /// All values, the one currently shown first.
    pub values: Vec<Json>,
}

/// Every field of `obj` (recursively) that holds more than one concurrent value.
pub fn conflicts(doc: &AutoCommit, obj: &ObjId, prefix: &str, out: &mut Vec<FieldConflict>) {
    match doc.object_type(obj) {
        Ok(ObjType::Map) | Ok(ObjType::Table) => {
            for key in doc.keys(obj) {
                let path = format!("{prefix}/{key}");
                collect_prop(doc, obj, key.as_str().into(), &path, out);
            }
        }
        Ok(ObjType::List) => {
            for i in 0..doc.length(obj) {
                let path = format!("{prefix}/{i}");
                collect_prop(doc, obj, i.into(), &path, out);
            }
        }
        _ => {}
    }
}

fn collect_prop(doc: &AutoCommit, obj: &ObjId, prop: automerge::Prop, path: &str, out: &mut Vec<FieldConflict>) {
    let all = doc.get_all(obj, prop.clone()).unwrap_or_default();
    if all.len() > 1 {
        // `get` returns the winner; list it first.
        let winner = doc.get(obj, prop).ok().flatten().map(|(_, id)| id);
        let mut values: Vec<(bool, Json)> = all
            .into_iter()
            .map(|(v, id)| (Some(&id) == winner.as_ref(), value_to_json(doc, v, &id)))
            .collect();
        values.sort_by_key(|(is_winner, _)| !*is_winner);
        out.push(FieldConflict {
            path: path.to_string(),
            values: values.into_iter().map(|(_, v)| v).collect(),
        });
    } else if let Some((Value::Object(ObjType::Map | ObjType::List), id)) = all.into_iter().next() {
        conflicts(doc, &id, path, out);
    }
}

/// Heads as lowercase hex, sorted: the stable text form used in SQLite and on the wire.
pub fn heads_hex(heads: &[ChangeHash]) -> Vec<String> {
    let mut v: Vec<String> = heads.iter().map(|h| h.to_string()).collect();
    v.sort();
    v
}

/// Parse hex heads; unknown or malformed ones are an error.
pub fn parse_heads(hex: &[String]) -> Result<Vec<ChangeHash>> {
    hex.iter()
        .map(|h| {
            h.parse::<ChangeHash>()
                .map_err(|e| Error::InvalidChange(format!("bad head `{h}`: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn actor(n: u8) -> ActorId {
        ActorId::from(vec![n; 16])
    }

    fn body(doc: &mut AutoCommit) -> ObjId {
        match root_obj(doc, "body") {
            Some(id) => id,
            None => doc.put_object(automerge::ROOT, "body", ObjType::Map).unwrap(),
        }
    }

    #[test]
    fn round_trips_nested_json() {
        let mut doc = new_doc(&actor(1));
        let b = body(&mut doc);
        let v = json!({"name": "王芳", "n": 3, "f": 1.5, "ok": true, "none": null,
            "notes": "长文本", "list": [1, {"a": "b"}], "m": {"x": [true, false]}});
        write_map(&mut doc, &b, &Json::Null, v.as_object().unwrap()).unwrap();
        assert_eq!(read_json(&doc, &b), v);
        let v2 = json!({"name": "王芳", "n": 4, "notes": "长文本二", "list": [1], "m": {"x": [false]}});
        write_map(&mut doc, &b, &v, v2.as_object().unwrap()).unwrap();
        assert_eq!(read_json(&doc, &b), v2);
    }

    #[test]
    fn same_field_edits_conflict_and_resolve() {
        let mut a = new_doc(&actor(1));
        let b_obj = body(&mut a);
        let v = json!({"phone": "1", "name": "x"});
        write_map(&mut a, &b_obj, &Json::Null, v.as_object().unwrap()).unwrap();
        a.commit();
        let mut b = a.fork().with_actor(actor(2));
        let bb = body(&mut b);
        write_map(
            &mut a,
            &b_obj,
            &v,
            json!({"phone": "2", "name": "x"}).as_object().unwrap(),
        )
        .unwrap();
        write_map(&mut b, &bb, &v, json!({"phone": "3", "name": "y"}).as_object().unwrap()).unwrap();
        a.merge(&mut b).unwrap();
        let mut c = Vec::new();
        conflicts(&a, &b_obj, "body", &mut c);
        assert_eq!(c.len(), 1, "only the field both changed: {c:?}");
        assert_eq!(c[0].path, "body/phone");
        assert_eq!(read_json(&a, &b_obj)["name"], json!("y"));
        put_path(&mut a, "body/phone", &json!("4")).unwrap();
        let mut c = Vec::new();
        conflicts(&a, &b_obj, "body", &mut c);
        assert!(c.is_empty());
        assert_eq!(read_json(&a, &b_obj)["phone"], json!("4"));
    }
}
