//! The HTTP server (rank 4, its own unit `http::server` above the rest of rank 4): the router
//! that mounts every endpoint (`/health`, `/ready`, the `/v1` handlers of [`super::v1`], the
//! sync endpoint [`crate::sync::handler`], the erasure door, the dashboard
//! [`crate::review::router`]) with compression and security headers, and serving it over
//! plain HTTP or TLS with header timeouts and graceful shutdown. Only the CLI ([`crate::cli`])
//! and the crate root's re-exports (for tests and embedders) use this module.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path as FsPath;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::trace::TraceLayer;

use super::{AppState, erasure, v1};
use crate::error::ApiError;
use crate::review;
use crate::sync;

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
        .route("/health", get(v1::health))
        .route("/ready", get(v1::ready))
        .route("/v1/login", post(v1::login))
        .route("/v1/refresh", post(v1::refresh))
        .route("/v1/logout", post(v1::logout))
        .route("/v1/password", post(v1::change_password))
        .route("/v1/devices/{id}/revoke", post(v1::revoke_device))
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
