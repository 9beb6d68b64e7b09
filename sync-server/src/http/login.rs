//! Logins through the failed-login throttle (rank 4, `http`), shared by `POST /v1/login` and
//! the dashboard's sign-in: [`login_precheck`] before a login queues for a hashing slot, then
//! [`throttled_login`] in the slot (`app.hasher.run(|hasher| throttled_login(..))`).

use std::net::IpAddr;

use super::AppState;
use crate::audit;
use crate::auth;
use crate::error::{ApiError, ApiResult};
use crate::model::clock::now_ms;
use crate::password;
use crate::scope;
use crate::storage;
use crate::throttle;

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
