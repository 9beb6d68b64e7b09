//! The server's plain data and pure rules (rank 0): nothing here uses another module of the
//! crate.

pub mod clock;
pub mod password;
