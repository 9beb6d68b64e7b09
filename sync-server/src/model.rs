//! Plain data of the server (rank 0: imports nothing of the crate): accounts, devices,
//! tokens and org grids ([`accounts`]), audit log entries ([`audit`]), scope names ([`scopes`]).

pub mod accounts;
pub mod audit;
pub mod scopes;
