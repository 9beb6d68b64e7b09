//! # gridbook-sync-server
//!
//! The district sync server: accounts, devices and tokens ([`auth`]), scopes ([`scope`]), the
//! one-round-trip sync endpoint ([`sync`]) over a [`storage::Storage`] (embedded SQLite by
//! default), and a demo district ([`demo`]). The protocol is `docs/protocol.md`; the document
//! rules and materialization are `gridbook-core`'s, the same code the phones run.
//!
//! Endpoints: `GET /health`, `GET /ready`, `POST /v1/login`, `POST /v1/refresh`,
//! `POST /v1/logout`, `POST /v1/password`, `POST /v1/devices/{id}/revoke`, `POST /v1/sync`,
//! `POST /v1/admin/persons/{id}/erase`.
//! Errors are JSON `{code, message, message_zh}` ([`error::ApiError`]).
//!
//! Privacy and security (issue 9, `docs/security.md`): the [`audit`] log, failed-login
//! [`throttle`], refresh tokens and the password policy ([`auth`]), TLS ([`serve_tls`]).
//!
//! Layers (issue 17; README "Layers", `tests/tests/layering.rs`): [`model`] · [`error`],
//! [`server_db`], [`config`], [`throttle`] · [`storage`] · the services ([`auth`], [`scope`],
//! [`audit`], [`password`], `sync::validate`, [`erasure`], [`admin`], [`demo`]) · HTTP
//! ([`http`], the [`sync`] handler, [`review`]) · the CLI (`cli`). A module uses
//! its own rank or lower.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod erasure;
pub mod error;
pub mod http;
pub mod model;
pub mod password;
pub mod review;
pub mod scope;
pub mod server_db;
pub mod storage;
pub mod sync;
pub mod throttle;

pub use config::Config;
pub use http::AppState;
pub use http::server::{CONTENT_SECURITY_POLICY, router, serve, serve_tls, tls_config, with_timeouts};
