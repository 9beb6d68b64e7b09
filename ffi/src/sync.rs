//! [`SyncClient`]: sync with the district server. `login` and `sync` are `async` (Kotlin
//! `suspend`, Swift `async`) on uniffi's tokio runtime.
//!
//! Cancelling the caller (a Kotlin coroutine, a Swift `Task`) drops the sync: every response
//! page is applied in one transaction, so nothing is applied half-way and the next sync resumes
//! from the last applied page. The store's lock is held for the whole sync and released on
//! completion or cancellation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{ApiError, ApiResult};
use crate::store::Store;
use crate::types::{LoginInfo, SyncSummary};

/// What a sync reports while it runs.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SyncEvent {
    /// The sync began (the store's lock is held from here).
    Started,
    /// The sync finished.
    Finished {
        /// What it did.
        summary: SyncSummary,
    },
    /// The sync failed.
    Failed {
        /// The error's stable code.
        code: String,
    },
}

/// Receives [`SyncEvent`]s; implemented by the app (update a progress bar, a notification).
/// Called on the thread that polls the sync: keep it short and do not call the store from it.
#[uniffi::export(with_foreign)]
pub trait SyncProgress: Send + Sync {
    /// One event.
    fn on_event(&self, event: SyncEvent);
}

/// Tuning of a [`SyncClient`].
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncConfig {
    /// Attempts per request before giving up (transport errors, 5xx, 429).
    pub max_attempts: u32,
    /// First backoff in ms; doubles per attempt, with jitter.
    pub backoff_base_ms: u64,
    /// Timeout of one HTTP request in ms.
    pub request_timeout_ms: u64,
    /// Accept a plain `http://` server URL: development only (tests, the demo server). The
    /// default refuses it (`insecure_url`).
    #[uniffi(default = false)]
    pub allow_insecure_http: bool,
    /// An extra trusted root certificate (PEM), e.g. the district's own CA.
    #[uniffi(default = None)]
    pub extra_root_cert_pem: Option<String>,
}

impl Default for SyncConfig {
    fn default() -> Self {
        let c = gridbook_core::sync::ClientConfig::default();
        SyncConfig {
            max_attempts: c.max_attempts,
            backoff_base_ms: c.backoff_base.as_millis() as u64,
            request_timeout_ms: c.request_timeout.as_millis() as u64,
            allow_insecure_http: false,
            extra_root_cert_pem: None,
        }
    }
}

/// The default tuning.
#[uniffi::export]
pub fn default_sync_config() -> SyncConfig {
    SyncConfig::default()
}

/// Talks to one district server.
#[derive(uniffi::Object)]
pub struct SyncClient {
    inner: Mutex<gridbook_core::sync::SyncClient>,
}

impl SyncClient {
    fn client(&self) -> gridbook_core::sync::SyncClient {
        // A poisoned lock still holds a usable client (it is only ever replaced whole).
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn replace(&self, client: gridbook_core::sync::SyncClient) {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = client;
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl SyncClient {
    /// A client of the server at `base_url` (e.g. `https://grid.example.cn`).
    #[uniffi::constructor]
    pub fn new(base_url: String, config: SyncConfig) -> ApiResult<Arc<Self>> {
        let c = gridbook_core::sync::ClientConfig {
            max_attempts: config.max_attempts.max(1),
            backoff_base: Duration::from_millis(config.backoff_base_ms),
            request_timeout: Duration::from_millis(config.request_timeout_ms.max(1)),
            allow_insecure_http: config.allow_insecure_http,
            extra_root_certs_pem: config.extra_root_cert_pem.map(String::into_bytes).into_iter().collect(),
            ..Default::default()
        };
        let inner = gridbook_core::sync::SyncClient::with_config(&base_url, c)?;
        Ok(Arc::new(SyncClient {
            inner: Mutex::new(inner),
        }))
    }

    /// Use a token obtained earlier (kept in the Keystore / Keychain).
    pub fn set_token(&self, token: String) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).set_token(token);
    }

    /// Use a refresh token obtained earlier (kept in the Keystore / Keychain).
    pub fn set_refresh_token(&self, token: String) {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .set_refresh_token(token);
    }

    /// The current refresh token: it changes when a sync refreshes the access token, so store
    /// it again after each sync.
    pub fn refresh_token(&self) -> Option<String> {
        self.client().refresh_token()
    }

    /// Log in and register this store's device; sets the store's identity.
    pub async fn login(
        &self,
        store: Arc<Store>,
        username: String,
        password: String,
        device_name: String,
    ) -> ApiResult<LoginInfo> {
        let mut client = self.client();
        let mut guard = store.lock().await?;
        let s = guard.as_mut().ok_or_else(ApiError::closed)?;
        let info = client.login(s, &username, &password, &device_name).await?;
        self.replace(client);
        Ok(info)
    }

    /// Push the outbox and pull everything new until both are done.
    pub async fn sync(&self, store: Arc<Store>, progress: Option<Arc<dyn SyncProgress>>) -> ApiResult<SyncSummary> {
        let client = self.client();
        let mut guard = store.lock().await?;
        let s = guard.as_mut().ok_or_else(ApiError::closed)?;
        let emit = |e: SyncEvent| progress.as_ref().map(|p| p.on_event(e));
        emit(SyncEvent::Started);
        let result = client.sync(s).await.map_err(ApiError::from);
        if result.as_ref().is_err_and(|e| e.code() == "device_wiped") {
            // Remote wipe: the store's files are gone; close it (drop the store key too).
            guard.take();
        }
        emit(match &result {
            Ok(summary) => SyncEvent::Finished {
                summary: summary.clone(),
            },
            Err(e) => SyncEvent::Failed {
                code: e.code().to_string(),
            },
        });
        result
    }
}
