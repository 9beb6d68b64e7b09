//! The HTTP layer (rank 4): the handlers' shared state ([`AppState`]), reading requests
//! ([`read_body`], [`client_ip`], [`blocking`]), logins through the throttle
//! ([`throttled_login`]) and the `/v1` handlers that are not the sync endpoint
//! (`crate::sync`) or the dashboard (`crate::review`). No SQL here: handlers call the
//! services (rank 3) and the storage trait.

pub mod erasure;
pub mod login;
pub mod request;
pub mod state;

pub use login::{login_precheck, throttled_login};
pub use request::{blocking, client_ip, read_body};
pub use state::AppState;
