//! Tests of the `gridbook-server` binary as a child process.

mod admin_cli;
mod audit_cli;
mod db_key_cli;
mod erase_cli;
mod kill;
