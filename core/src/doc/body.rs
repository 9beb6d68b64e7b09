//! The fields of a record's document: the root `body` map. The one reader of it, for the
//! phone's store, its query tables and the server.
//!
//! Part of `doc` (rank 1): it uses `domain` for the record types.

use automerge::AutoCommit;
use serde_json::Value as Json;

use crate::domain::Record;
use crate::error::{Error, Result};

/// The root key of the body map.
pub const KEY: &str = "body";

/// The body as JSON (`None` when the document has none yet: its creating change has not
/// arrived).
pub fn read(doc: &AutoCommit) -> Option<Json> {
    super::root_obj(doc, KEY).map(|b| super::read_json(doc, &b))
}

/// The body as JSON, with the paths of fields holding concurrent values (see
/// [`super::read_json_flagging`]) added to `flagged`; `null` when there is no body.
pub fn read_flagging(doc: &AutoCommit, flagged: &mut Vec<String>) -> Json {
    match super::root_obj(doc, KEY) {
        Some(b) => super::read_json_flagging(doc, &b, KEY, flagged),
        None => Json::Null,
    }
}

/// The fields of the body holding concurrent values (paths below `body/`), empty without a
/// body.
pub fn conflicts(doc: &AutoCommit) -> Vec<super::FieldConflict> {
    let mut found = Vec::new();
    if let Some(b) = super::root_obj(doc, KEY) {
        super::conflicts(doc, &b, KEY, &mut found);
    }
    found
}

/// The body as a record of type `R`: [`Error::NotFound`] without a body, [`Error::Corrupt`]
/// when it does not decode.
pub fn read_as<R: Record>(doc: &AutoCommit, id: &str) -> Result<R> {
    let body = read(doc).ok_or_else(|| Error::NotFound {
        kind: R::KIND.as_str(),
        id: id.to_string(),
    })?;
    serde_json::from_value(body).map_err(|e| Error::Corrupt {
        id: id.to_string(),
        reason: e.to_string(),
    })
}
