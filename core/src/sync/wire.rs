//! The messages of `POST /v1/sync`, protocol version 1, and their codec.
//!
//! Bodies are CBOR (RFC 8949) maps with the field names below; change and document bytes
//! travel as CBOR byte strings (no base64). Every message leads with `v`, the protocol
//! version: a decoder first reads only `v` and refuses any other version with
//! [`WireError::UnsupportedVersion`] before looking at the rest. Unknown fields are ignored,
//! so a later minor addition does not break an older peer. HTTP bodies are gzip-compressed
//! on top (`Content-Encoding: gzip`).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Media type of sync bodies.
pub const CONTENT_TYPE: &str = "application/cbor";

/// What a device sends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// Protocol version, [`PROTOCOL_VERSION`].
    pub v: u32,
    /// The device's wall clock, milliseconds since the Unix epoch.
    pub client_time: i64,
    /// How many bytes of pulled changes/snapshots the device wants in this response at most
    /// (the server caps it; at least one item is always sent).
    pub max_bytes: u64,
    /// Outbox changes, oldest first.
    pub push: Vec<PushChange>,
    /// The device's cursor per scope; a granted scope missing here counts as `seq = 0`.
    pub cursors: Vec<Cursor>,
    /// Person keys this device made that the server has not acknowledged yet (issue 9,
    /// crypto-shredding). Added in protocol 1 without a version bump: absent = none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub person_keys: Vec<PersonKeyEntry>,
    /// The last erasure sequence number this device has applied (0 = none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub erasures_after: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A person's data key (issue 9): the 32 bytes that seal the person's sensitive fields.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonKeyEntry {
    /// Person (record) id.
    pub person_id: String,
    /// The key.
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
}

impl std::fmt::Debug for PersonKeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonKeyEntry")
            .field("person_id", &self.person_id)
            .finish_non_exhaustive()
    }
}

/// An erased person (issue 9): devices drop its key and rebuild its rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erasure {
    /// The server's erasure sequence number.
    pub seq: u64,
    /// Person id.
    pub person_id: String,
}

/// One local change pushed to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushChange {
    /// Record id.
    pub doc_id: String,
    /// Automerge change hash (hex), as the device computed it.
    pub hash: String,
    /// The change's bytes.
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

/// Where a device stands in one scope.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Cursor {
    /// Grid id or [`crate::domain::DISTRICT_SCOPE`].
    pub scope: String,
    /// The last server sequence number the device has of this scope; 0 = has nothing
    /// (the server answers with snapshots).
    pub seq: u64,
    /// While bootstrapping from snapshots: the last document id received; `seq` is then the
    /// log position the snapshots were taken at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_after: Option<String>,
}

/// What the server answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// Protocol version, [`PROTOCOL_VERSION`].
    pub v: u32,
    /// The server's clock, milliseconds since the Unix epoch.
    pub server_time: i64,
    /// Hashes of pushed changes the server holds durably (new or already held).
    pub acks: Vec<String>,
    /// Pushed changes the server refused; they were not stored.
    pub rejections: Vec<Rejection>,
    /// Compacted documents for scopes the device is bootstrapping.
    pub snapshots: Vec<PulledDoc>,
    /// Changes after the device's cursors that did not come from this device, in log order.
    pub changes: Vec<PulledDoc>,
    /// The device's new cursors (every granted scope).
    pub cursors: Vec<Cursor>,
    /// More is waiting: sync again with the new cursors.
    pub more: bool,
    /// Keys of the persons among this page's snapshots and changes (only persons in the
    /// device's scopes reach a page, so only those keys do).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub person_keys: Vec<PersonKeyEntry>,
    /// Person ids of uploaded keys the server holds (the device stops sending them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_acks: Vec<String>,
    /// Erasures after the request's `erasures_after`, in order: drop the key, rebuild the rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub erasures: Vec<Erasure>,
}

/// A pulled change or snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PulledDoc {
    /// Scope it belongs to.
    pub scope: String,
    /// Record id.
    pub doc_id: String,
    /// Change bytes, or a saved document for a snapshot.
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

/// A pushed change the server refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The hash the device sent.
    pub hash: String,
    /// Record id.
    pub doc_id: String,
    /// Stable snake_case code (`out_of_scope`, `actor_mismatch`, `invalid_change` ...).
    pub code: String,
    /// Why, in English.
    pub message: String,
}

/// A body that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The body leads with another protocol version.
    #[error("unsupported protocol version {found} (this side speaks {PROTOCOL_VERSION})")]
    UnsupportedVersion {
        /// The version found.
        found: u64,
    },
    /// Not a well-formed message.
    #[error("malformed body: {0}")]
    Malformed(String),
}

impl WireError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            WireError::UnsupportedVersion { .. } => "unsupported_protocol_version",
            WireError::Malformed(_) => "malformed_body",
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    v: u64,
}

/// Encode a message as CBOR.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail, and our types have no non-string map keys.
    if let Err(e) = ciborium::into_writer(msg, &mut out) {
        tracing::error!(error = %e, "encoding a sync message failed");
    }
    out
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    let env: Envelope = ciborium::from_reader(bytes).map_err(|e| WireError::Malformed(e.to_string()))?;
    if env.v != u64::from(PROTOCOL_VERSION) {
        return Err(WireError::UnsupportedVersion { found: env.v });
    }
    ciborium::from_reader(bytes).map_err(|e| WireError::Malformed(e.to_string()))
}

/// Decode a request, checking the version first.
pub fn decode_request(bytes: &[u8]) -> Result<SyncRequest, WireError> {
    decode(bytes)
}

/// Decode a response, checking the version first.
pub fn decode_response(bytes: &[u8]) -> Result<SyncResponse, WireError> {
    decode(bytes)
}

/// Approximate encoded size of a pulled item (for paging by bytes).
pub fn item_size(doc: &PulledDoc) -> u64 {
    (doc.bytes.len() + doc.doc_id.len() + doc.scope.len() + 16) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cursor() -> impl Strategy<Value = Cursor> {
        ("[a-z0-9-]{0,12}", any::<u64>(), proptest::option::of("[a-f0-9-]{1,36}")).prop_map(
            |(scope, seq, snapshot_after)| Cursor {
                scope,
                seq,
                snapshot_after,
            },
        )
    }

    fn pulled() -> impl Strategy<Value = PulledDoc> {
        (
            "[a-z0-9]{0,8}",
            "\\PC{0,12}",
            proptest::collection::vec(any::<u8>(), 0..64),
        )
            .prop_map(|(scope, doc_id, bytes)| PulledDoc { scope, doc_id, bytes })
    }

    proptest! {
        #[test]
        fn request_round_trips(
            client_time in any::<i64>(),
            max_bytes in any::<u64>(),
            push in proptest::collection::vec(("\\PC{0,12}", "[0-9a-f]{0,64}", proptest::collection::vec(any::<u8>(), 0..128))
                .prop_map(|(doc_id, hash, bytes)| PushChange { doc_id, hash, bytes }), 0..8),
            cursors in proptest::collection::vec(cursor(), 0..8),
        ) {
            let req = SyncRequest { v: PROTOCOL_VERSION, client_time, max_bytes, push, cursors, ..Default::default() };
            prop_assert_eq!(decode_request(&encode(&req)).unwrap(), req);
        }

        #[test]
        fn response_round_trips(
            server_time in any::<i64>(),
            acks in proptest::collection::vec("[0-9a-f]{64}", 0..6),
            rejections in proptest::collection::vec(("[0-9a-f]{0,64}", "\\PC{0,8}", "[a-z_]{1,20}", "\\PC{0,40}")
                .prop_map(|(hash, doc_id, code, message)| Rejection { hash, doc_id, code, message }), 0..4),
            snapshots in proptest::collection::vec(pulled(), 0..4),
            changes in proptest::collection::vec(pulled(), 0..6),
            cursors in proptest::collection::vec(cursor(), 0..6),
            more in any::<bool>(),
        ) {
            let resp = SyncResponse { v: PROTOCOL_VERSION, server_time, acks, rejections, snapshots, changes, cursors, more, ..Default::default() };
            prop_assert_eq!(decode_response(&encode(&resp)).unwrap(), resp);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_request(&bytes);
            let _ = decode_response(&bytes);
        }
    }

    #[test]
    fn other_versions_are_refused_before_the_rest() {
        #[derive(Serialize)]
        struct Future {
            v: u32,
            something_new: Vec<u8>,
        }
        let bytes = encode(&Future {
            v: 2,
            something_new: vec![1, 2, 3],
        });
        assert_eq!(
            decode_request(&bytes).unwrap_err(),
            WireError::UnsupportedVersion { found: 2 }
        );
        assert_eq!(
            decode_request(&bytes).unwrap_err().code(),
            "unsupported_protocol_version"
        );
        assert_eq!(decode_request(b"\xff\x00").unwrap_err().code(), "malformed_body");
        let req = SyncRequest {
            v: PROTOCOL_VERSION,
            client_time: 1,
            max_bytes: 2,
            push: vec![],
            cursors: vec![],
            ..Default::default()
        };
        let bytes = encode(&req);
        assert!(decode_request(&bytes[..bytes.len() - 1]).is_err(), "truncated");
    }

    #[test]
    fn key_and_erasure_fields_are_optional_both_ways() {
        // An old peer's message (no key fields) decodes with empty ones ...
        #[derive(Serialize)]
        struct OldRequest {
            v: u32,
            client_time: i64,
            max_bytes: u64,
            push: Vec<PushChange>,
            cursors: Vec<Cursor>,
        }
        let old = encode(&OldRequest {
            v: PROTOCOL_VERSION,
            client_time: 1,
            max_bytes: 2,
            push: vec![],
            cursors: vec![],
        });
        let req = decode_request(&old).unwrap();
        assert!(req.person_keys.is_empty() && req.erasures_after == 0);
        // ... and a message without keys or erasures is byte-identical to an old one.
        assert_eq!(encode(&req), old);
        let full = SyncResponse {
            v: PROTOCOL_VERSION,
            person_keys: vec![PersonKeyEntry {
                person_id: "p".into(),
                key: vec![7; 32],
            }],
            key_acks: vec!["p".into()],
            erasures: vec![Erasure {
                seq: 3,
                person_id: "q".into(),
            }],
            ..Default::default()
        };
        assert_eq!(decode_response(&encode(&full)).unwrap(), full);
        assert!(
            !format!("{:?}", full.person_keys[0]).contains("7, 7"),
            "keys are not printed"
        );
    }

    #[test]
    fn bytes_travel_as_cbor_byte_strings() {
        let change = PushChange {
            doc_id: "d".into(),
            hash: "h".into(),
            bytes: vec![0xAB; 1000],
        };
        let req = SyncRequest {
            v: PROTOCOL_VERSION,
            client_time: 0,
            max_bytes: 0,
            push: vec![change],
            cursors: vec![],
            ..Default::default()
        };
        let n = encode(&req).len();
        assert!(n < 1100, "1000 bytes must not be inflated: {n}");
    }
}
