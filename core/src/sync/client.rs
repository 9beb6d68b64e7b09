//! The phone's sync client: reqwest (rustls) over [`super::wire`] and [`super::apply`].
//!
//! [`SyncClient::sync`] loops request → apply until the outbox is empty and the server has
//! nothing more, each page in one transaction, so dropping the future (cancellation) between
//! or during requests loses nothing that was applied and applies nothing half-way. Failed
//! requests are retried with exponential backoff; a retried push is acked again, not doubled.
//!
//! Security (issue 9): only `https://` servers unless [`ClientConfig::allow_insecure_http`]
//! (development, tests, the demo); extra trusted roots for a district CA
//! ([`ClientConfig::extra_root_certs_pem`]); an expired access token is refreshed with the
//! refresh token once, transparently; a `device_revoked` answer wipes the store
//! ([`Store::wipe`]) and is reported as [`SyncError::DeviceWiped`]. Tokens are never logged
//! (the `Debug` forms hide them).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::apply::SyncSummary;
use super::wire::{self, CONTENT_TYPE, PROTOCOL_VERSION, SyncRequest, SyncResponse, WireError};
use crate::domain::Role;
use crate::error::Error;
use crate::store::{Identity, Store};

/// Tuning of the client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Outbox changes per request at most.
    pub max_push_changes: usize,
    /// Outbox bytes per request at most (at least one change is always sent).
    pub max_push_bytes: usize,
    /// Pulled bytes per response the client asks for.
    pub max_response_bytes: u64,
    /// Attempts per request before giving up (transport errors, 5xx, 429).
    pub max_attempts: u32,
    /// First backoff; doubles per attempt, with jitter.
    pub backoff_base: Duration,
    /// Longest backoff.
    pub backoff_max: Duration,
    /// Round trips per [`SyncClient::sync`] at most (a bound on the loop).
    pub max_requests: usize,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// Largest decompressed response accepted.
    pub max_decompressed_bytes: u64,
    /// Accept a plain `http://` server URL. Development only (tests, the demo): the default
    /// refuses it, so that tokens and residents' data never cross a network in clear.
    pub allow_insecure_http: bool,
    /// Extra trusted root certificates (PEM), e.g. the district's own CA, on top of the
    /// platform's roots.
    pub extra_root_certs_pem: Vec<Vec<u8>>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            // 500 changes of a ledger-sized record are ~80 KB gzipped on the wire: few round
            // trips on a high-latency mobile link, and the server holds one page at a time
            // (peak RSS 33 MiB in the 10,000-record bench with these pages).
            max_push_changes: 500,
            max_push_bytes: 1 << 20,
            max_response_bytes: 2 << 20,
            max_attempts: 5,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(10),
            max_requests: 10_000,
            request_timeout: Duration::from_secs(60),
            max_decompressed_bytes: 256 << 20,
            allow_insecure_http: false,
            extra_root_certs_pem: Vec::new(),
        }
    }
}

/// What the server says at login (and at a refresh).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginInfo {
    /// Bearer (access) token (keep it secret).
    pub token: String,
    /// Expiry of the token.
    pub expires_at: DateTime<Utc>,
    /// The registered device id (the store's Automerge actor).
    pub device_id: Uuid,
    /// Account id.
    pub account_id: String,
    /// Role.
    pub role: Role,
    /// Org node the role is bound to.
    pub org_node: String,
    /// Grids this account may write.
    pub grids: Vec<String>,
    /// Server clock, ms since the epoch.
    pub server_time: i64,
    /// Refresh token: exchanged once for a new access token when it expires (keep it secret).
    #[serde(default)]
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for LoginInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginInfo")
            .field("token", &"<hidden>")
            .field("expires_at", &self.expires_at)
            .field("device_id", &self.device_id)
            .field("account_id", &self.account_id)
            .field("role", &self.role)
            .field("org_node", &self.org_node)
            .field("grids", &self.grids)
            .field("server_time", &self.server_time)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

impl LoginInfo {
    /// The store identity of this login.
    pub fn identity(&self) -> Identity {
        Identity {
            account_id: self.account_id.clone(),
            role: self.role,
            org_node: self.org_node.clone(),
            grids: self.grids.clone(),
        }
    }
}

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The server answered with a typed error.
    #[error("server error {status} {code}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// Stable code (`unauthorized`, `token_expired`, ...).
        code: String,
        /// Message.
        message: String,
    },
    /// The request did not get an answer (after all retries).
    #[error("transport error: {0}")]
    Transport(String),
    /// The answer could not be decoded.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] Error),
    /// Pushed changes were neither acked nor rejected, or the request bound was hit.
    #[error("sync made no progress: {0}")]
    NoProgress(String),
    /// No token: log in first.
    #[error("not logged in")]
    NotLoggedIn,
    /// The server URL is plain `http://` and insecure HTTP is not allowed.
    #[error("refusing plain http:// server URL `{0}`; use https:// (insecure HTTP is for development only)")]
    InsecureUrl(String),
    /// The server URL is not an http(s) URL.
    #[error("invalid server URL `{0}`")]
    InvalidUrl(String),
    /// An extra root certificate is not a PEM certificate.
    #[error("extra root certificate is not a PEM certificate: {0}")]
    InvalidRootCertificate(String),
    /// The server's TLS certificate is not trusted (unknown CA, wrong name, expired).
    #[error("server certificate not trusted: {0}")]
    UntrustedServer(String),
    /// The server revoked this device: its store was wiped (closed, files deleted).
    #[error("this device was revoked by an administrator; its local data was wiped")]
    DeviceWiped,
}

impl SyncError {
    /// Stable code.
    pub fn code(&self) -> &str {
        match self {
            SyncError::Server { code, .. } => code,
            SyncError::Transport(_) => "network_error",
            SyncError::Wire(e) => e.code(),
            SyncError::Store(e) => e.code(),
            SyncError::NoProgress(_) => "no_progress",
            SyncError::NotLoggedIn => "not_logged_in",
            SyncError::InsecureUrl(_) => "insecure_url",
            SyncError::InvalidUrl(_) => "invalid_url",
            SyncError::InvalidRootCertificate(_) => "invalid_root_certificate",
            SyncError::UntrustedServer(_) => "untrusted_server",
            SyncError::DeviceWiped => "device_wiped",
        }
    }

    fn is_device_revoked(&self) -> bool {
        matches!(self, SyncError::Server { code, .. } if code == "device_revoked")
    }

    fn retryable(&self) -> bool {
        match self {
            SyncError::Transport(_) => true,
            SyncError::Server { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

/// The tokens of a login, shared by the clones of a client (a refresh seen by one is seen by
/// all).
#[derive(Default)]
struct Tokens {
    access: Option<String>,
    refresh: Option<String>,
}

/// Talks to one district server.
#[derive(Clone)]
pub struct SyncClient {
    http: reqwest::Client,
    base: String,
    tokens: std::sync::Arc<std::sync::Mutex<Tokens>>,
    config: ClientConfig,
}

impl std::fmt::Debug for SyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncClient")
            .field("base", &self.base)
            .field("tokens", &"<hidden>")
            .finish_non_exhaustive()
    }
}

/// A transport error, typed: an untrusted server certificate is [`SyncError::UntrustedServer`].
fn transport(e: reqwest::Error) -> SyncError {
    fn untrusted(tls: &rustls::Error) -> bool {
        matches!(
            tls,
            rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
        )
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        // `io::Error::source` skips the error it wraps: look inside by hand.
        let mut inner: Option<&(dyn std::error::Error + 'static)> = Some(s);
        while let Some(i) = inner {
            if let Some(tls) = i.downcast_ref::<rustls::Error>()
                && untrusted(tls)
            {
                return SyncError::UntrustedServer(tls.to_string());
            }
            inner = i
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|r| r as &(dyn std::error::Error + 'static));
        }
        source = s.source();
    }
    SyncError::Transport(e.to_string())
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Gzip a body (fast level: the link is slow, the phone's CPU is not free either).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 2 + 64), flate2::Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

/// Gunzip a body, refusing more than `limit` bytes of output.
pub fn gunzip(bytes: &[u8], limit: u64) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| WireError::Malformed(format!("gzip: {e}")))?;
    if out.len() as u64 > limit {
        return Err(WireError::Malformed("decompressed body too large".into()));
    }
    Ok(out)
}

impl SyncClient {
    /// A client of the server at `base_url` (e.g. `https://grid.example.cn`).
    pub fn new(base_url: &str) -> Result<SyncClient, SyncError> {
        SyncClient::with_config(base_url, ClientConfig::default())
    }

    /// A client with tuning. Refuses `http://` unless `config.allow_insecure_http`.
    pub fn with_config(base_url: &str, config: ClientConfig) -> Result<SyncClient, SyncError> {
        let base = base_url.trim().trim_end_matches('/').to_string();
        let lower = base.to_ascii_lowercase();
        if lower.starts_with("http://") {
            if !config.allow_insecure_http {
                return Err(SyncError::InsecureUrl(base));
            }
        } else if !lower.starts_with("https://") || base.len() <= "https://".len() {
            return Err(SyncError::InvalidUrl(base));
        }
        let mut builder = reqwest::Client::builder()
            // The server lists it as the device's app version (admin pages).
            .user_agent(concat!("gridbook-core/", env!("CARGO_PKG_VERSION")))
            .timeout(config.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .https_only(!config.allow_insecure_http);
        for pem in &config.extra_root_certs_pem {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject;
            // Check it really holds certificates: reqwest would skip text that holds none.
            let found = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| SyncError::InvalidRootCertificate(e.to_string()))?;
            if found.is_empty() {
                return Err(SyncError::InvalidRootCertificate("no certificate found".into()));
            }
            for der in found {
                let cert = reqwest::Certificate::from_der(&der)
                    .map_err(|e| SyncError::InvalidRootCertificate(e.to_string()))?;
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| SyncError::Transport(e.to_string()))?;
        Ok(SyncClient {
            http,
            base,
            tokens: Default::default(),
            config,
        })
    }

    fn lock_tokens(&self) -> std::sync::MutexGuard<'_, Tokens> {
        // A poisoned lock still holds whole strings.
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Use a token obtained earlier.
    pub fn set_token(&mut self, token: impl Into<String>) {
        self.lock_tokens().access = Some(token.into());
    }

    /// Use a refresh token obtained earlier (kept in the platform keystore).
    pub fn set_refresh_token(&mut self, token: impl Into<String>) {
        self.lock_tokens().refresh = Some(token.into());
    }

    /// The current (access) token.
    pub fn token(&self) -> Option<String> {
        self.lock_tokens().access.clone()
    }

    /// The current refresh token (changes at every refresh: store it again after a sync).
    pub fn refresh_token(&self) -> Option<String> {
        self.lock_tokens().refresh.clone()
    }

    /// Exchange the refresh token for a new access token and refresh token.
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self) -> Result<LoginInfo, SyncError> {
        let refresh = self.lock_tokens().refresh.clone().ok_or(SyncError::NotLoggedIn)?;
        let resp = self
            .http
            .post(format!("{}/v1/refresh", self.base))
            .json(&serde_json::json!({ "refresh_token": refresh }))
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(server_error(status.as_u16(), &bytes));
        }
        let info: LoginInfo = serde_json::from_slice(&bytes).map_err(|e| WireError::Malformed(e.to_string()))?;
        let mut t = self.lock_tokens();
        t.access = Some(info.token.clone());
        t.refresh = info.refresh_token.clone();
        Ok(info)
    }

    /// If `e` says the device was revoked, wipe the store and report [`SyncError::DeviceWiped`].
    fn wipe_if_revoked(&self, store: &mut Store, e: SyncError) -> SyncError {
        if !e.is_device_revoked() {
            return e;
        }
        tracing::warn!("device revoked by the server: wiping the local store");
        match store.wipe() {
            Ok(()) => {
                *self.lock_tokens() = Tokens::default();
                SyncError::DeviceWiped
            }
            Err(w) => SyncError::Store(w),
        }
    }

    /// Log in and register this store's device with the account; sets the store's identity
    /// (and its device id, if the server assigned another one to a store that has made no
    /// changes yet).
    #[tracing::instrument(skip_all)]
    pub async fn login(
        &mut self,
        store: &mut Store,
        username: &str,
        password: &str,
        device_name: &str,
    ) -> Result<LoginInfo, SyncError> {
        let body = serde_json::json!({
            "username": username,
            "password": password,
            "device_id": store.device_id(),
            "device_name": device_name,
        });
        let resp = self
            .http
            .post(format!("{}/v1/login", self.base))
            .json(&body)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(transport)?;
        if !status.is_success() {
            let e = server_error(status.as_u16(), &bytes);
            return Err(self.wipe_if_revoked(store, e));
        }
        let info: LoginInfo = serde_json::from_slice(&bytes).map_err(|e| WireError::Malformed(e.to_string()))?;
        if info.device_id != store.device_id() {
            store.set_device_id(info.device_id)?;
        }
        store.set_identity(info.identity());
        let mut t = self.lock_tokens();
        t.access = Some(info.token.clone());
        t.refresh = info.refresh_token.clone();
        drop(t);
        Ok(info)
    }

    /// Push the outbox and pull everything new, page by page, until both are done. An expired
    /// access token is refreshed once and the sync goes on; a revoked device is wiped
    /// ([`SyncError::DeviceWiped`]).
    #[tracing::instrument(skip_all)]
    pub async fn sync(&self, store: &mut Store) -> Result<SyncSummary, SyncError> {
        let first = self.sync_once(store).await;
        let result = match first {
            Err(SyncError::Server { ref code, .. })
                if code == "token_expired" && self.lock_tokens().refresh.is_some() =>
            {
                match self.refresh().await {
                    Ok(_) => self.sync_once(store).await,
                    Err(e) => Err(e),
                }
            }
            other => other,
        };
        result.map_err(|e| self.wipe_if_revoked(store, e))
    }

    async fn sync_once(&self, store: &mut Store) -> Result<SyncSummary, SyncError> {
        let mut summary = SyncSummary::default();
        let mut touched = BTreeSet::new();
        let mut prefetched: Option<Prefetch> = None;
        for _ in 0..self.config.max_requests {
            let (resp, received_bytes, pushed) = match prefetched.take() {
                Some(p) => {
                    let (resp, n) = p.wait().await?;
                    (resp, n, 0)
                }
                None => {
                    let req = store.sync_request(
                        self.config.max_push_changes,
                        self.config.max_push_bytes,
                        self.config.max_response_bytes,
                        now_ms(),
                    )?;
                    let pushed = req.push.len();
                    let body = gzip(&wire::encode(&req));
                    summary.bytes_sent += body.len() as u64;
                    let (resp, n) = self.post_sync(body).await?;
                    (resp, n, pushed)
                }
            };
            summary.bytes_received += received_bytes;
            summary.requests += 1;
            // Only pulling, and more to come: ask for the next page while this one is applied.
            // The next request is what the store would build after applying this page.
            if pushed == 0 && resp.more {
                let next = SyncRequest {
                    v: PROTOCOL_VERSION,
                    client_time: now_ms(),
                    max_bytes: self.config.max_response_bytes,
                    push: vec![],
                    cursors: resp.cursors.clone(),
                    person_keys: vec![],
                    erasures_after: resp.erasures.last().map_or(store.erasure_cursor()?, |e| e.seq),
                };
                let body = gzip(&wire::encode(&next));
                summary.bytes_sent += body.len() as u64;
                let this = self.clone();
                prefetched = Some(Prefetch(tokio::spawn(async move { this.post_sync(body).await })));
            }
            let out = store.apply_sync_response(&resp, now_ms())?;
            summary.sent += resp.acks.len().min(pushed) as u64;
            summary.rejected += out.rejected as u64;
            summary.received += out.received as u64;
            touched.extend(out.touched);
            if pushed > 0 && resp.acks.len() + resp.rejections.len() == 0 {
                return Err(SyncError::NoProgress(format!(
                    "{pushed} pushed changes were neither acked nor rejected"
                )));
            }
            if !resp.more && (pushed == 0 || store.outbox_len()? == 0) {
                summary.conflicts = store.count_conflicted(&touched)? as u64;
                return Ok(summary);
            }
        }
        Err(SyncError::NoProgress(format!(
            "more than {} requests",
            self.config.max_requests
        )))
    }

    /// One sync round trip with retries: returns the response and its size on the wire.
    async fn post_sync(&self, body: Vec<u8>) -> Result<(SyncResponse, u64), SyncError> {
        let token = self.lock_tokens().access.clone().ok_or(SyncError::NotLoggedIn)?;
        let token = token.as_str();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(now_ms() as u64);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.post_once(token, body.clone()).await {
                Ok(r) => return Ok(r),
                Err(e) if e.retryable() && attempt < self.config.max_attempts => {
                    let exp = self.config.backoff_base.saturating_mul(1 << (attempt - 1).min(16));
                    let wait = exp.min(self.config.backoff_max);
                    let jitter = wait.mul_f64(rng.random_range(0.0..0.5));
                    tracing::warn!(attempt, code = e.code(), "sync request failed; retrying");
                    tokio::time::sleep(wait + jitter).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn post_once(&self, token: &str, body: Vec<u8>) -> Result<(SyncResponse, u64), SyncError> {
        let resp = self
            .http
            .post(format!("{}/v1/sync", self.base))
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(reqwest::header::CONTENT_ENCODING, "gzip")
            // Set by hand so the body arrives as sent and its wire size can be counted.
            .header(reqwest::header::ACCEPT_ENCODING, "gzip")
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        let gzipped = resp
            .headers()
            .get(reqwest::header::CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let bytes = resp.bytes().await.map_err(transport)?;
        let wire_len = bytes.len() as u64;
        let plain = if gzipped {
            gunzip(&bytes, self.config.max_decompressed_bytes)?
        } else {
            bytes.to_vec()
        };
        if !status.is_success() {
            return Err(server_error(status.as_u16(), &plain));
        }
        Ok((wire::decode_response(&plain)?, wire_len))
    }
}

/// A request sent ahead; aborted if dropped (a cancelled sync leaves nothing running).
struct Prefetch(tokio::task::JoinHandle<Result<(SyncResponse, u64), SyncError>>);

impl Prefetch {
    async fn wait(mut self) -> Result<(SyncResponse, u64), SyncError> {
        (&mut self.0).await.map_err(|e| SyncError::Transport(e.to_string()))?
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn server_error(status: u16, body: &[u8]) -> SyncError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => SyncError::Server {
            status,
            code: b.code,
            message: b.message,
        },
        Err(_) => SyncError::Server {
            status,
            code: format!("http_{status}"),
            message: String::from_utf8_lossy(body).chars().take(200).collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_round_trips_and_bounds_output() {
        let data = vec![7u8; 100_000];
        let z = gzip(&data);
        assert!(z.len() < 1_000);
        assert_eq!(gunzip(&z, 100_000).unwrap(), data);
        assert_eq!(gunzip(&z, 99_999).unwrap_err().code(), "malformed_body");
        assert!(gunzip(b"not gzip", 10).is_err());
    }

    #[test]
    fn plain_http_is_refused_unless_allowed() {
        let e = SyncClient::new("http://grid.example.cn").unwrap_err();
        assert_eq!(e.code(), "insecure_url");
        let e = SyncClient::with_config("HTTP://10.0.0.1:8787/", ClientConfig::default()).unwrap_err();
        assert_eq!(e.code(), "insecure_url");
        assert_eq!(SyncClient::new("ftp://x").unwrap_err().code(), "invalid_url");
        assert_eq!(SyncClient::new("https://").unwrap_err().code(), "invalid_url");
        assert!(SyncClient::new("https://grid.example.cn").is_ok());
        let dev = ClientConfig {
            allow_insecure_http: true,
            ..ClientConfig::default()
        };
        assert!(SyncClient::with_config("http://127.0.0.1:8787", dev).is_ok());
        let bad_root = ClientConfig {
            extra_root_certs_pem: vec![b"not a certificate".to_vec()],
            ..ClientConfig::default()
        };
        assert_eq!(
            SyncClient::with_config("https://grid.example.cn", bad_root)
                .unwrap_err()
                .code(),
            "invalid_root_certificate"
        );
    }

    #[test]
    fn tokens_are_not_in_debug_output() {
        let mut c = SyncClient::new("https://grid.example.cn").unwrap();
        c.set_token("secret-access-token");
        c.set_refresh_token("secret-refresh-token");
        let shown = format!("{c:?}");
        assert!(!shown.contains("secret"), "{shown}");
        let info = LoginInfo {
            token: "secret-a".into(),
            expires_at: Utc::now(),
            device_id: Uuid::nil(),
            account_id: "a".into(),
            role: Role::GridWorker,
            org_node: "g".into(),
            grids: vec![],
            server_time: 0,
            refresh_token: Some("secret-r".into()),
        };
        assert!(!format!("{info:?}").contains("secret"));
    }
}
