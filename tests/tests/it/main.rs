//! Loopback tests of sync: real server on 127.0.0.1, real phone stores, real HTTP.

mod accounts;
mod admin_accounts;
mod admin_backup;
mod admin_import;
mod admin_org;
mod admin_pages;
mod admin_rules;
mod bad_input;
mod bootstrap;
mod convergence;
mod demo;
mod department;
mod erasure;
mod fresh_district;
mod hardening;
mod idempotent;
mod login_pool;
mod reveal;
mod revoke;
mod rule_sets;
mod scope;
mod server_at_rest;
mod sessions;
mod shutdown;
mod subgrid;
mod tls;
