//! Sync with the district server: the wire protocol (v1) and what its messages do to a
//! [`Store`](crate::Store), without any I/O.
//!
//! - [`wire`]: request and response types of `POST /v1/sync`, their CBOR codec and the
//!   protocol version check (`docs/protocol.md` is the normative description).
//! - [`apply`]: building a request from the store (outbox page + cursors) and applying a
//!   response page in one transaction (acks, quarantine, snapshots, changes, cursors, time).
//! - [`client`]: the reqwest transport over those two, with retries and backoff.
//!
//! ```
//! use gridbook_core::sync::wire::{self, SyncRequest, PROTOCOL_VERSION};
//! let req = SyncRequest { v: PROTOCOL_VERSION, client_time: 0, max_bytes: 1 << 20, push: vec![], cursors: vec![], ..Default::default() };
//! let bytes = wire::encode(&req);
//! assert_eq!(wire::decode_request(&bytes).unwrap(), req);
//! ```

pub mod apply;
pub mod client;
pub mod wire;

pub use apply::{PageOutcome, SyncSummary};
pub use client::{ClientConfig, LoginInfo, SyncClient, SyncError};
pub use wire::{
    Cursor, Erasure, PROTOCOL_VERSION, PersonKeyEntry, PulledDoc, PushChange, Rejection, SyncRequest, SyncResponse,
    WireError,
};
