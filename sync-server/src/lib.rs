//! # gridbook-sync-server
//!
//! The district sync server: accounts, devices and tokens ([`auth`]), scopes ([`scope`]), the
//! one-round-trip sync endpoint ([`sync`]) over a [`storage::Storage`] (embedded SQLite by
//! default), and a demo district ([`demo`]). The protocol is `docs/protocol.md`; the document
//! rules and materialization are `gridbook-core`'s, the same code the phones run.
//!
//! Endpoints: `GET /health`, `GET /ready`, `POST /v1/login`, `POST /v1/refresh`,
//! `POST /v1/logout`, `POST /v1/password`, `POST /v1/devices/{id}/revoke`, `POST /v1/sync`,
//! `POST /v1/admin/persons/{id}/erase`.
//! Errors are JSON `{code, message, message_zh}` ([`error::ApiError`]).
//!
//! Privacy and security (issue 9, `docs/security.md`): the [`audit`] log, failed-login
//! [`throttle`], refresh tokens and the password policy ([`auth`]), TLS ([`serve_tls`]).

pub mod admin;
pub mod audit;
pub mod auth;
pub mod config;
pub mod demo;
pub mod erasure;
pub mod error;
pub mod model;
pub mod password;
pub mod review;
pub mod scope;
pub mod server_db;
pub mod storage;
pub mod sync;
pub mod throttle;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::Path as FsPath;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Request, State};
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
        tracing::info!(detail = %e, "unreadable request body");
        ApiError::BadBody {
            en: "the body could not be read: cut off, or not the gzip it says it is".into(),
            zh: "请求数据无法读取：传输中断，或不是所声明的 gzip 格式".into(),
        }
    })
}

/// Content-Security-Policy of every response (issue 24). The dashboard's pages load their
/// scripts and styles from `/review/static/` only (no inline script, style or `style=`
/// attribute, no other origin); chart.js draws on canvases it sizes through the CSSOM, which
/// a policy does not restrict. Forms post to the dashboard itself; nothing may frame it.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The HTTP API.
pub fn router(state: AppState) -> Router {
    use axum::http::{HeaderValue, header};
    use tower_http::set_header::SetResponseHeaderLayer;
    // HSTS only where the server itself speaks TLS: over plain HTTP a browser ignores it anyway,
    // and a proxy in front sets its own.
    let hsts = state
        .config
        .tls_cert
        .is_some()
        .then(|| HeaderValue::from_static("max-age=31536000"));
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/v1/login", post(login))
        .route("/v1/refresh", post(refresh))
        .route("/v1/logout", post(logout))
        .route("/v1/password", post(change_password))
        .route("/v1/devices/{id}/revoke", post(revoke_device))
        .route("/v1/sync", post(sync::handler))
        .route("/v1/admin/persons/{id}/erase", post(erasure::erase_person))
        .merge(review::router(&state)) // supervisor dashboard (issue 7): /review/*, see review.rs
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
        // Security headers on every response, dashboard pages above all (issue 24).
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        // `same-origin`, not `no-referrer`: under `no-referrer` browsers send `Origin: null` with
        // the dashboard's own form posts, which the cross-site check must refuse. Other sites
        // still get no referrer (no record ids in the URL leave the dashboard).
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            hsts,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serve until `shutdown` resolves; requests in flight then finish before this returns.
/// A connection that does not send a complete request header within
/// `header_read_timeout_secs` (its first request, each later one, or idle between them) is
/// closed ([`with_timeouts`]).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let timeout = std::time::Duration::from_secs(state.config.header_read_timeout_secs.max(1));
    let ready = state.ready.clone();
    let app = router(state);
    let handle = graceful(ready, shutdown);
    with_timeouts(axum_server::from_tcp(listener.into_std()?)?, timeout)
        .handle(handle)
        .serve(app.into_make_service_with_connect_info::<SocketAddr>())
        .await
}

/// Slow and idle clients cannot hold connections (issue 24): the first request's header must
/// arrive within `timeout` (this also bounds hyper's protocol detection, so a connection that
/// sends nothing is closed), and over HTTP/1 so must every later header, which bounds an idle
/// keep-alive connection too. TLS handshakes have axum-server's own 10 s limit.
pub fn with_timeouts<A: axum_server::Address, Acc>(
    mut server: axum_server::Server<A, Acc>,
    timeout: std::time::Duration,
) -> axum_server::Server<A, Acc> {
    server.http_builder().http1().header_read_timeout(timeout);
    server.first_request_timeout(timeout)
}

/// A handle that shuts the server down gracefully once `shutdown` resolves: `ready` turns
/// false, no new connections are accepted and requests in flight finish.
fn graceful<A: axum_server::Address + Send + Sync + 'static>(
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> axum_server::Handle<A> {
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        ready.store(false, Ordering::SeqCst);
        tracing::info!("shutting down: finishing requests in flight");
        h.graceful_shutdown(None);
    });
    handle
}

/// The rustls server configuration of a PEM certificate chain and key (aws-lc-rs, the provider
/// reqwest uses too). Typed errors name the file.
pub async fn tls_config(cert: &FsPath, key: &FsPath) -> std::io::Result<axum_server::tls_rustls::RustlsConfig> {
    axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
        .await
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("TLS certificate {} / key {}: {e}", cert.display(), key.display()),
            )
        })
}

/// [`serve`] over TLS (rustls): only HTTPS is spoken on `listener`; a plain HTTP request fails
/// the handshake. Graceful shutdown as in [`serve`]: once `shutdown` resolves, no new
/// connections are accepted and requests in flight finish before this returns.
pub async fn serve_tls(
    listener: std::net::TcpListener,
    state: AppState,
    tls: axum_server::tls_rustls::RustlsConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let timeout = std::time::Duration::from_secs(state.config.header_read_timeout_secs.max(1));
    let ready = state.ready.clone();
    let app = router(state);
    let handle = graceful(ready, shutdown);
    with_timeouts(axum_server::from_tcp_rustls(listener, tls)?, timeout)
        .handle(handle)
        .serve(app.into_make_service_with_connect_info::<SocketAddr>())
        .await
}

/// The peer address of a request (absent when served without connect info).
pub fn client_ip(req: &axum::http::Extensions) -> Option<IpAddr> {
    req.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

/// Log in through the failed-login throttle: refused with 429 while the account or address
/// waits or is locked; failures are counted; a lock is audited. Blocking: run it in
/// [`AppState::hasher`]'s pool (`app.hasher.run(|hasher| …)`), after [`login_precheck`].
pub fn throttled_login(
    app: &AppState,
    hasher: &mut password::Hasher,
    req: &auth::LoginRequest,
    addr: Option<IpAddr>,
    ttl_ms: i64,
    now: i64,
) -> ApiResult<(String, storage::Token, storage::Account, scope::Grants)> {
    app.throttle.check(&req.username, addr, now)?;
    match auth::login(&app.storage, hasher, req, ttl_ms, now) {
        Err(ApiError::BadCredentials) => {
            if app.throttle.failed(&req.username, addr, now) == throttle::AfterFailure::AccountLocked {
                audit::append(
                    app.storage.as_ref(),
                    "system",
                    audit::Action::LoginLocked,
                    &format!("username:{}", req.username.trim().to_lowercase()),
                    serde_json::json!({"address": addr.map(|a| a.to_string()), "lockout_secs": app.config.login_lockout_secs}),
                )?;
                tracing::warn!(target: "audit", address = ?addr, "login locked after repeated failures");
            }
            Err(ApiError::BadCredentials)
        }
        Ok(ok) => {
            app.throttle.succeeded(&req.username);
            Ok(ok)
        }
        Err(e) => Err(e),
    }
}

/// What a login may be refused before it queues for a hashing slot: the failed-login throttle
/// (so a throttled or locked attempt costs no slot). [`throttled_login`] checks it again once
/// the slot is there (failures may have been counted while it waited).
pub fn login_precheck(app: &AppState, username: &str, addr: Option<IpAddr>) -> ApiResult<()> {
    app.throttle.check(username, addr, now_ms())
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
async fn login(State(app): State<AppState>, req: Request) -> ApiResult<Response> {
    let addr = client_ip(req.extensions());
    let bytes = read_body(req.into_body(), 64 * 1024).await?;
    let req: auth::LoginRequest = crate::error::parse_json(&bytes)?;
    let ttl_secs = app.config.access_token_ttl_secs;
    let refresh_hours = app.config.token_ttl_hours;
    login_precheck(&app, &req.username, addr)?;
    let app2 = app.clone();
    let (token, t, account, grants, refresh) = app
        .hasher
        .run(move |hasher| {
            // Phones get a short access token and a refresh token (the login's lifetime).
            let now = now_ms();
            let (token, t, account, grants) = throttled_login(&app2, hasher, &req, addr, ttl_secs * 1_000, now)?;
            let (refresh, _) = auth::issue_refresh(&app2.storage, t.device_id, refresh_hours, now)?;
            Ok((token, t, account, grants, refresh))
        })
        .await?;
    let info = LoginInfo {
        token,
        expires_at: chrono::DateTime::from_timestamp_millis(t.expires_at).unwrap_or_default(),
        device_id: t.device_id,
        account_id: account.id,
        role: account.role,
        org_node: account.org_node,
        grids: grants.grids(),
        server_time: now_ms(),
        refresh_token: Some(refresh),
    };
    Ok(axum::Json(info).into_response())
}

/// What a refresh asks.
#[derive(serde::Deserialize)]
struct RefreshRequest {
    refresh_token: String,
}

/// `POST /v1/refresh`: a refresh token for a new access token and a new refresh token.
#[instrument(skip_all)]
async fn refresh(State(app): State<AppState>, body: Body) -> ApiResult<Response> {
    let bytes = read_body(body, 16 * 1024).await?;
    let req: RefreshRequest = crate::error::parse_json(&bytes)?;
    let storage = app.storage.clone();
    let (ttl_secs, refresh_hours) = (app.config.access_token_ttl_secs, app.config.token_ttl_hours);
    let now = now_ms();
    let r = blocking(move || auth::refresh(&storage, &req.refresh_token, ttl_secs, refresh_hours, now)).await?;
    let info = LoginInfo {
        token: r.token,
        expires_at: chrono::DateTime::from_timestamp_millis(r.access.expires_at).unwrap_or_default(),
        device_id: r.access.device_id,
        account_id: r.account.id,
        role: r.account.role,
        org_node: r.account.org_node,
        grids: r.grants.grids(),
        server_time: now_ms(),
        refresh_token: Some(r.refresh_token),
    };
    Ok(axum::Json(info).into_response())
}

/// `POST /v1/password`: change one's own password (policy checked, audited). Every session of
/// the account ends: all access and refresh tokens of all its devices and its dashboard
/// sessions (issue 24). The device that made the change stays signed in: the answer is a new
/// token pair for it, like a login's.
#[instrument(skip_all)]
async fn change_password(State(app): State<AppState>, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let bytes = read_body(body, 16 * 1024).await?;
    let req: auth::PasswordChange = crate::error::parse_json(&bytes)?;
    let storage = app.storage.clone();
    let (m, t) = (app.config.argon2_memory_kib, app.config.argon2_iterations);
    let (ttl_secs, refresh_hours) = (app.config.access_token_ttl_secs, app.config.token_ttl_hours);
    let now = now_ms();
    // Two hashes: bounded by the login hashing pool like a login.
    let info = app
        .hasher
        .run(move |_| {
            let auth = auth::authenticate(&storage, &headers, now)?;
            auth::change_password(&storage, &auth, &req, m, t)?;
            auth::end_account_sessions(storage.as_ref(), &auth.account.id, now)?;
            let (token, hash) = auth::new_token();
            let access = storage::Token {
                hash,
                device_id: auth.device.id,
                created_at: now,
                expires_at: now + ttl_secs * 1_000,
                revoked_at: None,
                web: false,
            };
            storage.insert_token(&access)?;
            let (refresh, _) = auth::issue_refresh(&storage, auth.device.id, refresh_hours, now)?;
            Ok(LoginInfo {
                token,
                expires_at: chrono::DateTime::from_timestamp_millis(access.expires_at).unwrap_or_default(),
                device_id: auth.device.id,
                account_id: auth.account.id,
                role: auth.account.role,
                org_node: auth.account.org_node,
                grids: auth.grants.grids(),
                server_time: now,
                refresh_token: Some(refresh),
            })
        })
        .await?;
    Ok(axum::Json(info).into_response())
}

/// `POST /v1/logout`: the device's session ends: its access token and every refresh token it
/// holds are refused from now on (`token_revoked`). The device stays registered and may sign
/// in again (revoking it is `POST /v1/devices/{id}/revoke`).
#[instrument(skip_all)]
async fn logout(State(app): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let storage = app.storage.clone();
    let now = now_ms();
    blocking(move || {
        let auth = auth::authenticate(&storage, &headers, now)?;
        storage.revoke_device_tokens(auth.device.id, now)?;
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
        audit::append(
            storage.as_ref(),
            &auth.account.id,
            audit::Action::DeviceRevoke,
            &format!("device:{id}"),
            serde_json::json!({"owner": device.account_id, "wipe": true}),
        )?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
