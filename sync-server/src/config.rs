//! Server configuration: a TOML file, then `GRIDBOOK_*` environment overrides.
//!
//! ```toml
//! listen = "0.0.0.0:8787"
//! data_dir = "/var/lib/gridbook"
//! token_ttl_hours = 720          # refresh token (a login) lifetime
//! access_token_ttl_secs = 3600   # access token lifetime
//! tls_cert = "/etc/gridbook/server.crt"   # PEM chain; with tls_key: HTTPS only
//! tls_key = "/etc/gridbook/server.key"
//! database_key_file = "/run/secrets/gridbook-db.key"  # encrypts the database (ADR 0009)
//! public_origin = "https://grid.example.gov.cn"  # the dashboard's origin behind a TLS proxy
//! header_read_timeout_secs = 10  # slow or idle connections are closed
//! login_hash_threads = 0        # password hashes at once (0 = one per core), see password.rs
//! login_queue = 256              # logins waiting for a hash slot; then 503 server_busy
//! login_queue_timeout_ms = 10000 # longest wait for a slot
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Everything the server can be told.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Folder of the embedded database (`gridbook.sqlite3`).
    pub data_dir: PathBuf,
    /// How long a login lasts without the password, hours: the lifetime of a refresh token
    /// (and of a dashboard session, at most 24 h).
    pub token_ttl_hours: i64,
    /// Lifetime of an access (bearer) token handed to phones, seconds; the client refreshes it
    /// with its refresh token.
    pub access_token_ttl_secs: i64,
    /// PEM certificate chain: with `tls_key`, the server speaks only HTTPS (rustls).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// 数据库密钥文件: a file holding the 32-byte key that encrypts the database at rest
    /// (SQLCipher, 64 hex digits; `gridbook-server admin new-db-key FILE` makes one). Keep it
    /// off the database's disk (a separate volume, a secrets mount, a USB key). Without it the
    /// database is a plain SQLite file. A plain database opened with a key is encrypted in
    /// place. ADR 0009.
    pub database_key_file: Option<PathBuf>,
    /// Failed logins per account after which each next attempt waits (5: the 6th try waits
    /// `login_delay_base_ms`, then doubling; per address: × `login_address_factor`).
    pub login_free_failures: u32,
    /// First delay after the free failures, ms; doubles per further failure.
    pub login_delay_base_ms: u64,
    /// Failed logins that lock an account (per address: × `login_address_factor`).
    pub login_lock_after: u32,
    /// How long a lock lasts, seconds.
    pub login_lockout_secs: u64,
    /// Address limits are the account limits times this (offices share one NAT address).
    pub login_address_factor: u32,
    /// Largest request body (after decompression), bytes.
    pub max_body_bytes: usize,
    /// Largest page of pulled changes/snapshots per response, bytes.
    pub max_page_bytes: u64,
    /// Most changes one request may push.
    pub max_push_changes: usize,
    /// How far ahead of the server a device clock may be, seconds.
    pub max_clock_skew_secs: i64,
    /// Argon2id memory cost, KiB.
    pub argon2_memory_kib: u32,
    /// Argon2id iterations.
    pub argon2_iterations: u32,
    /// 登录哈希池: password hashes (logins, password changes) running at once, each in its own
    /// preallocated `argon2_memory_kib` (0 = one per core). Memory of the pool: this ×
    /// `argon2_memory_kib` ([`crate::password`]).
    pub login_hash_threads: usize,
    /// Logins that may wait for a hashing slot beyond those running; more get
    /// `503 server_busy` with `Retry-After` at once.
    pub login_queue: usize,
    /// Longest wait for a hashing slot, ms; then `503 server_busy`.
    pub login_queue_timeout_ms: u64,
    /// Threads that validate pushed changes in parallel (0 = one per core).
    pub validation_threads: usize,
    /// Reader connections kept open.
    pub reader_connections: usize,
    /// The dashboard's address as browsers see it, `scheme://host[:port]` (e.g.
    /// `https://grid.example.gov.cn` behind a TLS proxy). A state-changing dashboard request
    /// whose `Origin` is neither this nor the server's own origin (its scheme and `Host`) is
    /// refused as cross-site (issue 24); `https://` also marks the cookies `Secure`.
    pub public_origin: Option<String>,
    /// Seconds a connection may take to send a request's complete header, and may stay idle
    /// between requests, before it is closed (slow or idle clients cannot hold connections).
    pub header_read_timeout_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            data_dir: PathBuf::from("gridbook-data"),
            token_ttl_hours: 24 * 30,
            access_token_ttl_secs: 3_600,
            tls_cert: None,
            tls_key: None,
            database_key_file: None,
            login_free_failures: 5,
            login_delay_base_ms: 1_000,
            login_lock_after: 10,
            login_lockout_secs: 15 * 60,
            login_address_factor: 4,
            max_body_bytes: 16 << 20,
            max_page_bytes: 4 << 20,
            max_push_changes: 5_000,
            max_clock_skew_secs: 24 * 3600,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            login_hash_threads: 0,
            login_queue: 256,
            login_queue_timeout_ms: 10_000,
            validation_threads: 0,
            reader_connections: 4,
            public_origin: None,
            header_read_timeout_secs: 10,
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Read a TOML file, then apply the environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        let mut c: Config = toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        c.apply_env(|k| std::env::var(k).ok())?;
        Ok(c)
    }

    /// Override fields from `GRIDBOOK_LISTEN`, `GRIDBOOK_DATA_DIR`, `GRIDBOOK_TOKEN_TTL_HOURS`,
    /// `GRIDBOOK_MAX_BODY_BYTES`, `GRIDBOOK_MAX_PAGE_BYTES`, `GRIDBOOK_MAX_PUSH_CHANGES`,
    /// `GRIDBOOK_MAX_CLOCK_SKEW_SECS`, `GRIDBOOK_ARGON2_MEMORY_KIB`, `GRIDBOOK_ARGON2_ITERATIONS`,
    /// `GRIDBOOK_VALIDATION_THREADS`, `GRIDBOOK_READER_CONNECTIONS`, `GRIDBOOK_ACCESS_TOKEN_TTL_SECS`,
    /// `GRIDBOOK_TLS_CERT`, `GRIDBOOK_TLS_KEY`, `GRIDBOOK_LOGIN_LOCKOUT_SECS`,
    /// `GRIDBOOK_DATABASE_KEY_FILE`, `GRIDBOOK_PUBLIC_ORIGIN`, `GRIDBOOK_HEADER_READ_TIMEOUT_SECS`,
    /// `GRIDBOOK_LOGIN_HASH_THREADS`, `GRIDBOOK_LOGIN_QUEUE`, `GRIDBOOK_LOGIN_QUEUE_TIMEOUT_MS`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, ConfigError> {
            v.parse().map_err(|_| ConfigError(format!("{key}: cannot parse `{v}`")))
        }
        macro_rules! env {
            ($key:literal, $field:expr) => {
                if let Some(v) = get($key) {
                    $field = parse($key, &v)?;
                }
            };
        }
        env!("GRIDBOOK_LISTEN", self.listen);
        env!("GRIDBOOK_DATA_DIR", self.data_dir);
        env!("GRIDBOOK_TOKEN_TTL_HOURS", self.token_ttl_hours);
        env!("GRIDBOOK_MAX_BODY_BYTES", self.max_body_bytes);
        env!("GRIDBOOK_MAX_PAGE_BYTES", self.max_page_bytes);
        env!("GRIDBOOK_MAX_PUSH_CHANGES", self.max_push_changes);
        env!("GRIDBOOK_MAX_CLOCK_SKEW_SECS", self.max_clock_skew_secs);
        env!("GRIDBOOK_ARGON2_MEMORY_KIB", self.argon2_memory_kib);
        env!("GRIDBOOK_ARGON2_ITERATIONS", self.argon2_iterations);
        env!("GRIDBOOK_VALIDATION_THREADS", self.validation_threads);
        env!("GRIDBOOK_READER_CONNECTIONS", self.reader_connections);
        env!("GRIDBOOK_ACCESS_TOKEN_TTL_SECS", self.access_token_ttl_secs);
        env!("GRIDBOOK_LOGIN_LOCKOUT_SECS", self.login_lockout_secs);
        env!("GRIDBOOK_HEADER_READ_TIMEOUT_SECS", self.header_read_timeout_secs);
        if let Some(v) = get("GRIDBOOK_PUBLIC_ORIGIN") {
            self.public_origin = Some(v);
        }
        if let Some(o) = &self.public_origin {
            let o = o.trim().trim_end_matches('/').to_ascii_lowercase();
            let ok = o.split_once("://").is_some_and(|(scheme, host)| {
                matches!(scheme, "http" | "https") && !host.is_empty() && !host.contains('/')
            });
            if !ok {
                return Err(ConfigError(format!(
                    "public_origin: `{o}` is not scheme://host[:port] (http or https, no path)"
                )));
            }
            self.public_origin = Some(o);
        }
        if self.header_read_timeout_secs == 0 {
            return Err(ConfigError("header_read_timeout_secs must be at least 1".into()));
        }
        env!("GRIDBOOK_LOGIN_HASH_THREADS", self.login_hash_threads);
        env!("GRIDBOOK_LOGIN_QUEUE", self.login_queue);
        env!("GRIDBOOK_LOGIN_QUEUE_TIMEOUT_MS", self.login_queue_timeout_ms);
        if let Some(v) = get("GRIDBOOK_TLS_CERT") {
            self.tls_cert = Some(PathBuf::from(v));
        }
        if let Some(v) = get("GRIDBOOK_TLS_KEY") {
            self.tls_key = Some(PathBuf::from(v));
        }
        if let Some(v) = get("GRIDBOOK_DATABASE_KEY_FILE") {
            self.database_key_file = Some(PathBuf::from(v));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError("tls_cert and tls_key go together".into()));
        }
        Ok(())
    }

    /// Validation threads to use.
    pub fn threads(&self) -> usize {
        if self.validation_threads > 0 {
            self.validation_threads
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }

    /// The login throttle's limits.
    pub fn login_limits(&self) -> crate::throttle::Limits {
        crate::throttle::Limits {
            free: self.login_free_failures,
            base_delay_ms: self.login_delay_base_ms,
            lock_after: self.login_lock_after.max(1),
            lockout_ms: self.login_lockout_secs.saturating_mul(1_000),
            address_factor: self.login_address_factor.max(1),
        }
    }

    /// The login hashing pool's limits.
    pub fn hash_pool_limits(&self) -> PoolLimits {
        PoolLimits {
            threads: self.login_hash_threads,
            queue: self.login_queue,
            queue_timeout: std::time::Duration::from_millis(self.login_queue_timeout_ms),
            memory_kib: self.argon2_memory_kib,
            iterations: self.argon2_iterations,
        }
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("gridbook.sqlite3")
    }

    /// The database file with its key, read from `database_key_file` when set.
    pub fn server_db(&self) -> Result<crate::server_db::ServerDb, crate::server_db::DbKeyError> {
        let key = match &self.database_key_file {
            Some(file) => Some(crate::server_db::read_key_file(file)?),
            None => None,
        };
        Ok(crate::server_db::ServerDb::new(self.db_path(), key))
    }
}

/// The login hashing pool's knobs ([`crate::password::HashPool`], from [`Config::hash_pool_limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    /// Hashes running at once (0 = one per core).
    pub threads: usize,
    /// Logins waiting for a slot beyond those running.
    pub queue: usize,
    /// Longest wait for a slot.
    pub queue_timeout: std::time::Duration,
    /// Argon2id memory cost of new hashes and of the dummy hash, KiB.
    pub memory_kib: u32,
    /// Argon2id iterations of new hashes and of the dummy hash.
    pub iterations: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env() {
        let mut c: Config = toml::from_str("listen = \"0.0.0.0:9000\"\ntoken_ttl_hours = 1\n").unwrap();
        assert_eq!(c.listen.port(), 9000);
        c.apply_env(|k| (k == "GRIDBOOK_TOKEN_TTL_HOURS").then(|| "5".to_string()))
            .unwrap();
        assert_eq!(c.token_ttl_hours, 5);
        assert!(
            c.apply_env(|k| (k == "GRIDBOOK_LISTEN").then(|| "nope".to_string()))
                .is_err()
        );
        assert!(toml::from_str::<Config>("bogus = 1").is_err());
        assert_eq!(c.database_key_file, None);
        c.apply_env(|k| (k == "GRIDBOOK_LOGIN_QUEUE").then(|| "7".to_string()))
            .unwrap();
        assert_eq!((c.login_queue, c.login_hash_threads), (7, 0));
        assert!(toml::from_str::<Config>("login_hash_threads = 3\n").is_ok_and(|c| c.login_hash_threads == 3));
        let c: Config = toml::from_str("database_key_file = \"/mnt/key/db.key\"\n").unwrap();
        assert_eq!(c.database_key_file.as_deref(), Some(Path::new("/mnt/key/db.key")));
    }
}
