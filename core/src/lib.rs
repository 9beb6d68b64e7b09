//! # gridbook-core
//!
//! The offline record store of a grid worker's phone, shared with the district sync server:
//! the domain ([`domain`]), one Automerge document per record ([`doc`]), SQLite with query
//! tables ([`store`], [`materialize`], [`store::queries`]), and the rules both sides run.
//!
//! Start at [`Store`].

pub mod at_rest;
pub mod cases;
pub mod db;
pub mod demo;
pub mod doc;
pub mod domain;
pub mod error;
pub mod materialize;
pub mod review;
pub mod rules;
pub mod sensitive;
pub mod shred;
pub mod store;
pub mod sync;
pub mod workflow;

pub use at_rest::StoreKey;
pub use error::{Error, Result};
pub use store::{ApplySummary, Clock, DeleteResolution, Identity, OutboxEntry, RecordConflicts, RemoteChange, Store};
