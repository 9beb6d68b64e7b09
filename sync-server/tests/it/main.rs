//! Tests of the `gridbook-server` binary as a child process.

mod audit_cli;
mod kill;
