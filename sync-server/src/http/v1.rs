//! The `/v1` endpoints of the session and the device (rank 4, `http`), besides the sync
//! endpoint (`crate::sync`) and the erasure door ([`super::erasure`]): `GET /health`,
//! `GET /ready`, `POST /v1/login`, `/v1/refresh`, `/v1/password`, `/v1/logout`,
//! `/v1/devices/{id}/revoke`. They read the request, call the services ([`crate::auth`],
//! [`crate::audit`]) off the async threads and answer JSON.

use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use gridbook_core::sync::LoginInfo;
use tracing::instrument;
use uuid::Uuid;

use super::{AppState, blocking, client_ip, login_precheck, read_body, throttled_login};
use crate::audit;
use crate::auth;
use crate::error::{ApiError, ApiResult};
use crate::model::clock::now_ms;
use crate::storage;

#[instrument(skip_all)]
pub async fn health(State(app): State<AppState>) -> ApiResult<Response> {
    let storage = app.storage.clone();
    blocking(move || Ok(storage.ping()?))
        .await
        .map_err(|_| ApiError::Unavailable)?;
    Ok((StatusCode::OK, axum::Json(serde_json::json!({"status": "ok"}))).into_response())
}

#[instrument(skip_all)]
pub async fn ready(State(app): State<AppState>) -> ApiResult<Response> {
    if !app.ready.load(Ordering::SeqCst) {
        return Err(ApiError::Unavailable);
    }
    health(State(app)).await
}

#[instrument(skip_all)]
pub async fn login(State(app): State<AppState>, req: Request) -> ApiResult<Response> {
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
pub async fn refresh(State(app): State<AppState>, body: Body) -> ApiResult<Response> {
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
pub async fn change_password(State(app): State<AppState>, headers: HeaderMap, body: Body) -> ApiResult<Response> {
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
pub async fn logout(State(app): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
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
pub async fn revoke_device(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
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
