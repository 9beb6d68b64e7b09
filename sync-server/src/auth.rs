//! Accounts, devices and bearer tokens.
//!
//! Passwords are stored as Argon2id PHC strings. A login registers the phone's device id
//! (its Automerge actor id) to the account and issues an opaque random token; only the
//! token's SHA-256 is stored. Tokens expire and can be revoked one by one (logout) or with
//! their device.
//!
//! Issue 9: an API login issues a short-lived access token (`access_token_ttl_secs`) and a
//! refresh token (`token_ttl_hours`) that is exchanged once, at `POST /v1/refresh`, for a new
//! pair ([`refresh`]); revoking the device ends both. New passwords follow [`check_password`].
//! Failed logins are slowed and locked by [`crate::throttle`]. Device registrations and
//! password changes are written to the [`crate::audit`] log.
//!
//! Issue 24: sessions end. A logout revokes the device's access and refresh tokens; a password
//! change or reset and disabling an account revoke every token of the account
//! ([`end_account_sessions`]), dashboard sessions included; a refused refresh says why
//! (`token_revoked`, `device_revoked`, `account_disabled`, `refresh_token_invalid`,
//! `refresh_token_expired`). A dashboard login's token is a web session, refused on `/v1/*`
//! ([`authenticate`]).

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::http::HeaderMap;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit::{self, Action};
use crate::error::{ApiError, ApiResult};
use crate::password::Hasher;
use crate::scope::{self, Grants};
use crate::storage::{Account, Device, RefreshToken, Storage, Token};

pub use crate::model::password::{MIN_PASSWORD_CHARS, PasswordRule, check_password};

/// An authenticated request.
#[derive(Debug, Clone)]
pub struct AuthContext {
    /// The account.
    pub account: Account,
    /// The device (its id is the Automerge actor of its changes).
    pub device: Device,
    /// Its grants now.
    pub grants: Grants,
    /// SHA-256 of the token used.
    pub token_hash: String,
}

/// Hash a password with Argon2id.
pub fn hash_password(password: &str, memory_kib: u32, iterations: u32) -> ApiResult<String> {
    let params = Params::new(memory_kib, iterations, 1, None).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut salt_bytes = [0u8; 16];
    rand::rngs::StdRng::from_os_rng().fill(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| ApiError::Internal(e.to_string()))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// Check a password against a stored PHC string (its own parameters).
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A new random token (64 hex characters) and the hash that is stored.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rngs::StdRng::from_os_rng().fill(&mut bytes);
    let token = hex::encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

/// SHA-256 (hex) of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// Who is calling on `/v1/*`: bearer token → device → account → grants. A dashboard session's
/// token (the `gb_session` cookie's value) is refused here with `web_session_token` (issue 24):
/// a cookie stolen or replayed from the browser never syncs. Blocking (storage calls).
pub fn authenticate(storage: &Arc<dyn Storage>, headers: &HeaderMap, now_ms: i64) -> ApiResult<AuthContext> {
    let token = bearer(headers).ok_or(ApiError::Unauthorized)?;
    let (ctx, web) = authenticate_token(storage, token, now_ms)?;
    if web {
        return Err(ApiError::WebSessionToken);
    }
    Ok(ctx)
}

/// Who is calling with `token` (a phone's access token or a dashboard session), and whether it
/// is a dashboard session. Expired, revoked (logout, password change or reset, disabled
/// account) and revoked-device tokens are refused with their codes. Blocking.
pub fn authenticate_token(storage: &Arc<dyn Storage>, token: &str, now_ms: i64) -> ApiResult<(AuthContext, bool)> {
    if token.is_empty() || token.len() > 256 {
        return Err(ApiError::Unauthorized);
    }
    let hash = token_hash(token);
    let t = storage.token(&hash)?.ok_or(ApiError::Unauthorized)?;
    let device = storage.device(t.device_id)?.ok_or(ApiError::Unauthorized)?;
    if device.revoked_at.is_some() {
        return Err(ApiError::DeviceRevoked);
    }
    if t.revoked_at.is_some() {
        return Err(ApiError::TokenRevoked);
    }
    if t.expires_at <= now_ms {
        return Err(ApiError::TokenExpired);
    }
    let account = storage.account(&device.account_id)?.ok_or(ApiError::Unauthorized)?;
    if account.disabled {
        return Err(ApiError::AccountDisabled);
    }
    let grants = scope::grants(account.role, &account.org_node, &storage.org_grids()?);
    Ok((
        AuthContext {
            account,
            device,
            grants,
            token_hash: hash,
        },
        t.web,
    ))
}

/// What a login asks. Its `Debug` hides the password.
#[derive(Clone, serde::Deserialize)]
pub struct LoginRequest {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
    /// The phone's device id (its store's actor id).
    pub device_id: Uuid,
    /// Name for admins.
    #[serde(default)]
    pub device_name: String,
    /// A dashboard login (set by the server, never read from a body): its token is a web
    /// session, refused on `/v1/*`.
    #[serde(skip)]
    pub web: bool,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("device_id", &self.device_id)
            .field("device_name", &self.device_name)
            .field("web", &self.web)
            .finish()
    }
}

/// Log in: check the password with `hasher` (a slot of the login pool, [`crate::password`]),
/// register the device, issue an access token valid for `ttl_ms`. An unknown user name costs
/// the same hash as a wrong password ([`Hasher::verify_login`]). Blocking.
pub fn login(
    storage: &Arc<dyn Storage>,
    hasher: &mut Hasher,
    req: &LoginRequest,
    ttl_ms: i64,
    now_ms: i64,
) -> ApiResult<(String, Token, Account, Grants)> {
    let account = storage.account_by_username(&req.username)?;
    let ok = hasher.verify_login(&req.password, account.as_ref().map(|a| a.password_hash.as_str()));
    let Some(account) = account.filter(|_| ok) else {
        return Err(ApiError::BadCredentials);
    };
    if account.disabled {
        return Err(ApiError::AccountDisabled);
    }
    if req.device_id.is_nil() {
        return Err(ApiError::MalformedBody("device_id must not be nil".into()));
    }
    let name: String = req.device_name.chars().take(100).collect();
    let wanted = Device {
        id: req.device_id,
        account_id: account.id.clone(),
        name,
        created_at: now_ms,
        revoked_at: None,
    };
    let device = storage.register_device(&wanted)?;
    if device == wanted {
        audit::append(
            storage.as_ref(),
            &account.id,
            Action::DeviceRegister,
            &format!("device:{}", device.id),
            serde_json::json!({"account": account.id, "name": device.name}),
        )?;
    }
    if device.account_id != account.id {
        return Err(ApiError::DeviceTaken);
    }
    if device.revoked_at.is_some() {
        return Err(ApiError::DeviceRevoked);
    }
    let (token, hash) = new_token();
    let t = Token {
        hash,
        device_id: device.id,
        created_at: now_ms,
        expires_at: now_ms + ttl_ms,
        revoked_at: None,
        web: req.web,
    };
    storage.insert_token(&t)?;
    let grants = scope::grants(account.role, &account.org_node, &storage.org_grids()?);
    Ok((token, t, account, grants))
}

/// A new refresh token for a device (what an API login and a refresh hand out). Blocking.
pub fn issue_refresh(
    storage: &Arc<dyn Storage>,
    device_id: Uuid,
    ttl_hours: i64,
    now_ms: i64,
) -> ApiResult<(String, RefreshToken)> {
    let (token, hash) = new_token();
    let t = RefreshToken {
        hash,
        device_id,
        created_at: now_ms,
        expires_at: now_ms + ttl_hours * 3_600_000,
        used_at: None,
        revoked_at: None,
    };
    storage.insert_refresh_token(&t)?;
    Ok((token, t))
}

/// What a refresh hands back (no `Debug`: it holds tokens).
pub struct Refreshed {
    /// New access token.
    pub token: String,
    /// Its row.
    pub access: Token,
    /// New refresh token (the old one is used up).
    pub refresh_token: String,
    /// Its row.
    pub refresh: RefreshToken,
    /// The account.
    pub account: Account,
    /// Its grants now.
    pub grants: Grants,
}

/// Exchange a refresh token for a new access token and a new refresh token. A refresh token
/// works once; a revoked device gets `device_revoked` (and wipes itself); a refresh token ended
/// by a logout, a password change or reset gets `token_revoked`. The exchange is one
/// transaction ([`crate::storage::Accounts::exchange_refresh_token`]), so a revocation running at the same time
/// either refuses it or also ends the new pair. Blocking.
pub fn refresh(
    storage: &Arc<dyn Storage>,
    refresh_token: &str,
    access_ttl_secs: i64,
    refresh_ttl_hours: i64,
    now_ms: i64,
) -> ApiResult<Refreshed> {
    if refresh_token.is_empty() || refresh_token.len() > 256 {
        return Err(ApiError::RefreshTokenInvalid);
    }
    let hash = token_hash(refresh_token);
    let refused = |old: &RefreshToken| {
        if old.revoked_at.is_some() {
            ApiError::TokenRevoked
        } else if old.used_at.is_some() {
            ApiError::RefreshTokenInvalid
        } else {
            ApiError::RefreshTokenExpired
        }
    };
    let old = storage.refresh_token(&hash)?.ok_or(ApiError::RefreshTokenInvalid)?;
    let device = storage.device(old.device_id)?.ok_or(ApiError::RefreshTokenInvalid)?;
    if device.revoked_at.is_some() {
        return Err(ApiError::DeviceRevoked);
    }
    let account = storage
        .account(&device.account_id)?
        .ok_or(ApiError::RefreshTokenInvalid)?;
    if account.disabled {
        return Err(ApiError::AccountDisabled);
    }
    if old.revoked_at.is_some() || old.used_at.is_some() || old.expires_at <= now_ms {
        return Err(refused(&old));
    }
    let (token, access_hash) = new_token();
    let access = Token {
        hash: access_hash,
        device_id: device.id,
        created_at: now_ms,
        expires_at: now_ms + access_ttl_secs * 1_000,
        revoked_at: None,
        web: false,
    };
    let (refresh_token, refresh_hash) = new_token();
    let refresh = RefreshToken {
        hash: refresh_hash,
        device_id: device.id,
        created_at: now_ms,
        expires_at: now_ms + refresh_ttl_hours * 3_600_000,
        used_at: None,
        revoked_at: None,
    };
    if !storage.exchange_refresh_token(&hash, now_ms, &access, &refresh)? {
        // Lost a race (another exchange, a revocation): say which.
        let now = storage.refresh_token(&hash)?.ok_or(ApiError::RefreshTokenInvalid)?;
        return Err(refused(&now));
    }
    let grants = scope::grants(account.role, &account.org_node, &storage.org_grids()?);
    Ok(Refreshed {
        token,
        access,
        refresh_token,
        refresh,
        account,
        grants,
    })
}

/// End every session of an account (issue 24): all access and refresh tokens of all its
/// devices and every dashboard session. After a password change or reset, or when the account
/// is disabled. Returns how many tokens were live. Blocking.
pub fn end_account_sessions(storage: &dyn Storage, account_id: &str, now_ms: i64) -> ApiResult<u64> {
    Ok(storage.revoke_account_tokens(account_id, now_ms)?)
}

/// What a password change asks (no `Debug`: it holds two passwords).
#[derive(Clone, serde::Deserialize)]
pub struct PasswordChange {
    /// The current password.
    pub old_password: String,
    /// The new one (checked by [`check_password`]).
    pub new_password: String,
}

/// Change the caller's own password: the old one must be right, the new one must pass the
/// policy. Audited. Blocking.
pub fn change_password(
    storage: &Arc<dyn Storage>,
    auth: &AuthContext,
    req: &PasswordChange,
    memory_kib: u32,
    iterations: u32,
) -> ApiResult<()> {
    if !verify_password(&req.old_password, &auth.account.password_hash) {
        return Err(ApiError::BadCredentials);
    }
    check_password(&auth.account.username, &req.new_password).map_err(ApiError::WeakPassword)?;
    let hash = hash_password(&req.new_password, memory_kib, iterations)?;
    storage.set_password(&auth.account.id, &hash)?;
    audit::append(
        storage.as_ref(),
        &auth.account.id,
        Action::PasswordChange,
        &format!("account:{}", auth.account.id),
        serde_json::json!({"device": auth.device.id}),
    )?;
    Ok(())
}

/// Create an account whose password passes the policy; audited as `account.create` with its
/// role and org node (its grants). Blocking.
pub fn create_account(
    storage: &dyn Storage,
    actor: &str,
    account: Account,
    password: &str,
    memory_kib: u32,
    iterations: u32,
) -> ApiResult<()> {
    check_password(&account.username, password).map_err(ApiError::WeakPassword)?;
    let account = Account {
        password_hash: hash_password(password, memory_kib, iterations)?,
        ..account
    };
    storage.create_account(&account)?;
    audit::append(
        storage,
        actor,
        Action::AccountCreate,
        &format!("account:{}", account.id),
        serde_json::json!({"username": account.username, "role": account.role.as_str(), "org_node": account.org_node}),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_tokens() {
        let h = hash_password("秘密-123", 256, 1).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("秘密-123", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
        let (t1, h1) = new_token();
        let (t2, _) = new_token();
        assert_ne!(t1, t2);
        assert_eq!(token_hash(&t1), h1);
        assert_eq!(t1.len(), 64);
        // The hash never reaches logs through Debug.
        let account = crate::storage::Account {
            id: "a".into(),
            username: "grid01".into(),
            display_name: "网格员".into(),
            password_hash: h.clone(),
            role: gridbook_core::domain::Role::GridWorker,
            org_node: "g".into(),
            disabled: false,
        };
        let shown = format!("{account:?}");
        assert!(
            !shown.contains(&h) && !shown.contains("argon2") && shown.contains("grid01"),
            "{shown}"
        );
    }

    #[test]
    fn password_policy() {
        assert_eq!(
            check_password("grid01", "short1"),
            Err(PasswordRule::TooShort {
                min: MIN_PASSWORD_CHARS
            })
        );
        assert_eq!(
            check_password("community1", "Community1"),
            Err(PasswordRule::IsUsername)
        );
        assert_eq!(
            check_password("community1", "community1!!"),
            Err(PasswordRule::IsUsername)
        );
        assert_eq!(check_password("grid01", "Password123"), Err(PasswordRule::TooCommon));
        assert_eq!(check_password("grid01", "woaini1314"), Err(PasswordRule::TooCommon));
        assert_eq!(check_password("grid01", "网格巡查-走访-2026"), Ok(()));
        // The demo passwords pass (see demo.rs).
        for a in crate::demo::plan().accounts {
            assert_eq!(check_password(&a.username, &a.password), Ok(()), "{}", a.username);
        }
        let e = ApiError::WeakPassword(PasswordRule::TooCommon);
        assert_eq!((e.code(), e.status().as_u16()), ("password_too_common", 422));
    }
}
