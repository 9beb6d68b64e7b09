//! The HTTP layer (rank 4): the handlers' shared state ([`AppState`]), reading requests
//! ([`read_body`], [`client_ip`], [`blocking`]), logins through the throttle
//! ([`throttled_login`]), the `/v1` session and device endpoints ([`v1`]), the erasure door
//! ([`erasure`]) and, in [`server`], the router that mounts them with the sync endpoint
//! (`crate::sync`) and the dashboard (`crate::review`), and serves it. No SQL here: handlers
//! call the services (rank 3) and the storage trait.

pub mod erasure;
pub mod login;
pub mod request;
pub mod server;
pub mod state;
pub mod v1;

pub use login::{login_precheck, throttled_login};
pub use request::{blocking, client_ip, read_body};
pub use state::AppState;
