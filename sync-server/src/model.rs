//! Plain data of the server (rank 0: imports nothing of the crate): accounts, devices,
//! tokens and org grids ([`accounts`]), audit log entries ([`audit`]), org nodes and field workers ([`org`]), scope names ([`scopes`]).

pub mod accounts;
pub mod audit;
pub mod org;
pub mod scopes;
