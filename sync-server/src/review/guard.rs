//! 防伪造请求: the dashboard refuses requests forged by other sites (issue 24).
//!
//! The session cookie is `SameSite=Strict`, and on top of it:
//! - [`same_origin_writes`]: a state-changing request (anything but GET, HEAD, OPTIONS) to
//!   `/review/*` (the login form included) is refused with `403 cross_site_request` before any
//!   handler runs when the browser says it comes from elsewhere: `Sec-Fetch-Site` other than
//!   `same-origin` or `none` (a typed address), or an `Origin` that is neither the server's own
//!   (`http`/`https` as it serves, and the `Host` header) nor the configured `public_origin`.
//!   A request with neither header is not from a current browser's page (every current
//!   browser sends `Origin` on a POST) and is let through: scripts and API clients, which have
//!   to hold the cookie or token themselves.
//! - [`json_only`]: a JSON endpoint refuses any other content type (`415
//!   unsupported_media_type`), a missing one included: an HTML form or a `fetch` without a
//!   CORS preflight can only send `text/plain`, form encodings or no type at all.

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::PageError;
use super::session::lang_of;
use crate::error::ApiError;
use crate::http::AppState;

/// Whether a request's `Sec-Fetch-Site` and `Origin` allow a change (see the module).
pub fn same_origin(app: &AppState, headers: &axum::http::HeaderMap, uri: &axum::http::Uri) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("").trim().to_ascii_lowercase();
        if site != "same-origin" && site != "none" {
            return false;
        }
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let public = app
        .config
        .public_origin
        .as_deref()
        .map(|p| p.trim().trim_end_matches('/').to_ascii_lowercase());
    if public.as_deref() == Some(origin.as_str()) {
        return true;
    }
    let scheme = if app.config.tls_cert.is_some() { "https" } else { "http" };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.to_string()));
    host.is_some_and(|h| origin == format!("{scheme}://{}", h.trim().to_ascii_lowercase()))
}

/// Middleware of the dashboard's routes: refuse a cross-site state-changing request.
pub async fn same_origin_writes(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || same_origin(&app, req.headers(), req.uri())
    {
        return next.run(req).await;
    }
    tracing::warn!(
        target: "audit",
        path = %req.uri().path(),
        origin = ?req.headers().get(header::ORIGIN),
        fetch_site = ?req.headers().get("sec-fetch-site"),
        "cross-site dashboard request refused"
    );
    refuse(req, ApiError::CrossSiteRequest)
}

/// Middleware of a JSON endpoint: refuse a body that is not declared `application/json`
/// (or `application/…+json`).
pub async fn json_only(req: Request, next: Next) -> Response {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .is_some_and(|m| m == "application/json" || (m.starts_with("application/") && m.ends_with("+json")));
    if json {
        next.run(req).await
    } else {
        refuse(req, ApiError::UnsupportedMediaType)
    }
}

/// A refusal as JSON under `/review/api/`, as an error page elsewhere.
fn refuse(req: Request, e: ApiError) -> Response {
    if req.uri().path().starts_with("/review/api/") {
        e.into_response()
    } else {
        let (parts, _) = req.into_parts();
        PageError::new(e, lang_of(&parts)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue, Uri};

    fn app(tls: bool, public: Option<&str>) -> AppState {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::Config {
            data_dir: dir.path().to_path_buf(),
            public_origin: public.map(str::to_string),
            ..crate::Config::default()
        };
        if tls {
            config.tls_cert = Some("c.pem".into());
            config.tls_key = Some("k.pem".into());
        }
        let storage = crate::storage::sqlite::SqliteStorage::open(&dir.path().join("db.sqlite3"), 1).unwrap();
        std::mem::forget(dir);
        AppState::new(std::sync::Arc::new(storage), config).expect("state")
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_rule() {
        let uri = Uri::from_static("/review/login");
        let plain = app(false, None);
        let ok = |a: &AppState, h: &[(&'static str, &str)]| same_origin(a, &headers(h), &uri);
        assert!(ok(&plain, &[]), "no browser headers: a script or API client");
        assert!(ok(
            &plain,
            &[("host", "127.0.0.1:8787"), ("origin", "http://127.0.0.1:8787")]
        ));
        assert!(ok(
            &plain,
            &[("host", "127.0.0.1:8787"), ("sec-fetch-site", "same-origin")]
        ));
        assert!(ok(&plain, &[("sec-fetch-site", "none")]));
        assert!(!ok(
            &plain,
            &[("host", "127.0.0.1:8787"), ("origin", "https://evil.example")]
        ));
        assert!(!ok(&plain, &[("host", "127.0.0.1:8787"), ("origin", "null")]));
        assert!(!ok(&plain, &[("sec-fetch-site", "cross-site")]));
        assert!(!ok(&plain, &[("sec-fetch-site", "same-site")]));
        assert!(
            !ok(
                &plain,
                &[("host", "127.0.0.1:8787"), ("origin", "https://127.0.0.1:8787")]
            ),
            "another scheme is another origin"
        );
        let tls = app(true, None);
        assert!(ok(
            &tls,
            &[("host", "grid.example"), ("origin", "https://grid.example")]
        ));
        assert!(!ok(
            &tls,
            &[("host", "grid.example"), ("origin", "http://grid.example")]
        ));
        let proxied = app(false, Some("https://grid.example.gov.cn"));
        assert!(ok(
            &proxied,
            &[("host", "10.0.0.5:8787"), ("origin", "https://grid.example.gov.cn")]
        ));
        assert!(!ok(
            &proxied,
            &[
                ("host", "10.0.0.5:8787"),
                ("origin", "https://grid.example.gov.cn.evil.example")
            ]
        ));
    }
}
