//! What every handler does with a request (rank 4, `http`): read its body within a limit
//! ([`read_body`]), know its peer's address ([`client_ip`]), and run blocking work (SQLite,
//! Automerge, Argon2) off the async threads ([`blocking`]).

use std::net::{IpAddr, SocketAddr};

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;

use crate::error::{ApiError, ApiResult};

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

/// The peer address of a request (absent when served without connect info).
pub fn client_ip(req: &axum::http::Extensions) -> Option<IpAddr> {
    req.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}
