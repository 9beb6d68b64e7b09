//! # gridbook-sync-server
//!
//! The district sync server: accounts, devices and tokens ([`auth`]), scopes ([`scope`]), the
//! one-round-trip sync endpoint ([`sync`]) over a [`storage::Storage`] (embedded SQLite by
//! default), and a demo district ([`demo`]). The protocol is `docs/protocol.md`; the document
//! rules and materialization are `gridbook-core`'s, the same code the phones run.
//!
//! Endpoints: `GET /health`, `GET /ready`, `POST /v1/login`, `POST /v1/logout`,
//! `POST /v1/devices/{id}/revoke`, `POST /v1/sync`. Errors are JSON `{code, message,
//! message_zh}` ([`error::ApiError`]).

pub mod admin;
pub mod auth;
pub mod config;
pub mod demo;
pub mod error;
pub mod review;
pub mod scope;
pub mod storage;
pub mod sync;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gridbook_core::sync::LoginInfo;
use tokio::net::TcpListener;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::trace::TraceLayer;
use tracing::instrument;
use uuid::Uuid;

pub use config::Config;
use error::{ApiError, ApiResult};
use storage::Storage;
use storage::sqlite::SqliteStorage;

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
}

impl AppState {
    /// State over a storage.
    pub fn new(storage: Arc<dyn Storage>, config: Config) -> AppState {
        AppState {
            storage,
            config: Arc::new(config),
            push_lock: Arc::default(),
            ready: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Open the embedded database of `config.data_dir` (created if missing).
    pub fn open(config: Config) -> ApiResult<AppState> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| ApiError::Internal(format!("{}: {e}", config.data_dir.display())))?;
        let storage = SqliteStorage::open(&config.db_path(), config.reader_connections)?;
        Ok(AppState::new(Arc::new(storage), config))
    }
}

/// Now, ms since the epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Run blocking work (SQLite, Automerge, Argon2) off the async threads.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}

/// Read a (decompressed) body up to `limit` bytes.
pub async fn read_body(body: Body, limit: usize) -> ApiResult<Bytes> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let mut source: Option<&dyn std::error::Error> = Some(&e);
        while let Some(s) = source {
            if s.to_string().contains("length limit exceeded") {
                return ApiError::PayloadTooLarge { limit };
            }
            source = s.source();
        }
        ApiError::MalformedBody(format!("could not read the body: {e}"))
    })
}

/// The HTTP API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/v1/login", post(login))
        .route("/v1/logout", post(logout))
        .route("/v1/devices/{id}/revoke", post(revoke_device))
        .route("/v1/sync", post(sync::handler))
        .merge(review::router()) // supervisor dashboard (issue 7): /review/*, see review.rs
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .layer(
            RequestDecompressionLayer::new()
                .gzip(true)
                .pass_through_unaccepted(false),
        )
        // The fastest gzip level: at the default level deflate was ~30 % of the server's CPU
        // in the sync storm (docs/benchmarks.md), and pulled snapshots are already compressed
        // Automerge documents that a higher level barely shrinks.
        .layer(CompressionLayer::new().gzip(true).quality(CompressionLevel::Fastest))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serve until `shutdown` resolves; requests in flight then finish before this returns.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let ready = state.ready.clone();
    let app = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            ready.store(false, Ordering::SeqCst);
            tracing::info!("shutting down: finishing requests in flight");
        })
        .await
}

#[instrument(skip_all)]
async fn health(State(app): State<AppState>) -> ApiResult<Response> {
    let storage = app.storage.clone();
    blocking(move || Ok(storage.ping()?))
        .await
        .map_err(|_| ApiError::Unavailable)?;
    Ok((StatusCode::OK, axum::Json(serde_json::json!({"status": "ok"}))).into_response())
}

#[instrument(skip_all)]
async fn ready(State(app): State<AppState>) -> ApiResult<Response> {
    if !app.ready.load(Ordering::SeqCst) {
        return Err(ApiError::Unavailable);
    }
    health(State(app)).await
}

#[instrument(skip_all)]
async fn login(State(app): State<AppState>, body: Body) -> ApiResult<Response> {
    let bytes = read_body(body, 64 * 1024).await?;
    let req: auth::LoginRequest = serde_json::from_slice(&bytes).map_err(|e| ApiError::MalformedBody(e.to_string()))?;
    let storage = app.storage.clone();
    let ttl = app.config.token_ttl_hours;
    let now = now_ms();
    let (token, t, account, grants) = blocking(move || auth::login(&storage, &req, ttl, now)).await?;
    let info = LoginInfo {
        token,
        expires_at: chrono::DateTime::from_timestamp_millis(t.expires_at).unwrap_or_default(),
        device_id: t.device_id,
        account_id: account.id,
        role: account.role,
        org_node: account.org_node,
        grids: grants.grids(),
        server_time: now_ms(),
    };
    Ok(axum::Json(info).into_response())
}

#[instrument(skip_all)]
async fn logout(State(app): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let storage = app.storage.clone();
    let now = now_ms();
    blocking(move || {
        let auth = auth::authenticate(&storage, &headers, now)?;
        storage.revoke_token(&auth.token_hash, now)?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Revoke a device: its owner or a district admin.
#[instrument(skip_all)]
async fn revoke_device(State(app): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Response> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("device".into()))?;
    let storage = app.storage.clone();
    let now = now_ms();
    blocking(move || {
        let auth = auth::authenticate(&storage, &headers, now)?;
        let device = storage.device(id)?.ok_or_else(|| ApiError::NotFound("device".into()))?;
        if device.account_id != auth.account.id && auth.account.role != gridbook_core::domain::Role::DistrictAdmin {
            return Err(ApiError::Forbidden(
                "only the owner or a district admin may revoke a device".into(),
            ));
        }
        storage.revoke_device(id, now)?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
