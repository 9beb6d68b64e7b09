//! [`AppState`]: what every handler is given (rank 4, `http`): the storage, the configuration,
//! the push lock, readiness, the failed-login throttle, the database file and the login
//! hashing pool.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::password;
use crate::server_db;
use crate::storage::Storage;
use crate::storage::sqlite::SqliteStorage;
use crate::throttle;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// Where everything is kept.
    pub storage: Arc<dyn Storage>,
    /// Configuration.
    pub config: Arc<Config>,
    /// One push validates and commits at a time.
    pub push_lock: Arc<tokio::sync::Mutex<()>>,
    /// False once shutdown has begun.
    pub ready: Arc<AtomicBool>,
    /// Failed-login throttling and lockout.
    pub throttle: Arc<throttle::LoginThrottle>,
    /// The database file and its key (ADR 0009): the dashboard's own connections come from it.
    pub db: server_db::ServerDb,
    /// The bounded pool that checks login passwords ([`password`]).
    pub hasher: password::HashPool,
}

impl AppState {
    /// State over a storage (its database file and key, if it has one, else the config's file
    /// unencrypted). Allocates the login hashing pool's memory; `Err` if the Argon2 cost of
    /// the config is not valid.
    pub fn new(storage: Arc<dyn Storage>, config: Config) -> ApiResult<AppState> {
        Ok(AppState {
            db: storage
                .server_db()
                .cloned()
                .unwrap_or_else(|| server_db::ServerDb::plain(config.db_path())),
            storage,
            throttle: Arc::new(throttle::LoginThrottle::new(config.login_limits())),
            hasher: password::HashPool::new(config.hash_pool_limits())?,
            config: Arc::new(config),
            push_lock: Arc::default(),
            ready: Arc::new(AtomicBool::new(true)),
        })
    }

    /// Open the embedded database of `config.data_dir` (created if missing), with the key of
    /// `config.database_key_file` if set (a plain database is then encrypted in place; a key
    /// that does not open it is `wrong_key`).
    pub fn open(config: Config) -> ApiResult<AppState> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| ApiError::Internal(format!("{}: {e}", config.data_dir.display())))?;
        let db = config.server_db()?;
        let storage = SqliteStorage::open_db(&db, config.reader_connections).map_err(|e| db.explain(e))?;
        AppState::new(Arc::new(storage), config)
    }
}
