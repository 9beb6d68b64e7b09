//! The server's plain data and pure rules (rank 0: imports nothing of the crate): accounts,
//! devices, tokens and org grids ([`accounts`]), audit log entries ([`audit`]), org nodes and
//! field workers ([`org`]), scope names ([`scopes`]), the password policy ([`password`]) and the
//! clock ([`clock`]).

pub mod accounts;
pub mod audit;
pub mod clock;
pub mod org;
pub mod password;
pub mod scopes;
