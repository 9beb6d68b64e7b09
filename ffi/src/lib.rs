//! # gridbook-ffi
//!
//! The core in the phone apps: uniffi bindings (proc-macros, no UDL) of `gridbook-core` for
//! Kotlin (Android) and Swift (iOS). The only crate that knows uniffi, and a thin one: objects
//! wrapping core types ([`Store`], [`SyncClient`]), one-line methods, the core's records declared
//! to uniffi as remote types plus custom types for dates, instants and JSON ([`types`]), one
//! error type ([`ApiError`]). Anything longer belongs in `core`.
//!
//! - Threads: every [`Store`] method is blocking; call it off the UI thread. `SyncClient.login`
//!   and `SyncClient.sync` are async and cancellable. See `ffi/README.md`.
//! - Time: instants are `i64` ms since the epoch (UTC); calendar days are `YYYY-MM-DD` text.
//! - Errors: [`ApiError`] variants carry the stable core `code`, `message_en`, `message_zh`.
//! - Logs: [`init_logging`] forwards `tracing` to the host.

pub mod error;
pub mod logging;
pub mod store;
pub mod sync;
pub mod types;

pub use error::{ApiError, ApiResult};
pub use logging::{LogLevel, LogSink, init_logging};
pub use store::Store;
pub use sync::{SyncClient, SyncConfig, SyncEvent, SyncProgress};

uniffi::setup_scaffolding!();

/// Version of this library (the workspace version).
#[uniffi::export]
pub fn library_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
