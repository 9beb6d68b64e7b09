//! Loopback tests of sync: real server on 127.0.0.1, real phone stores, real HTTP.

mod bad_input;
mod bootstrap;
mod convergence;
mod department;
mod erasure;
mod idempotent;
mod revoke;
mod scope;
mod shutdown;
