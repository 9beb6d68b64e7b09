//! Accounts, devices and bearer tokens.
//!
//! Passwords are stored as Argon2id PHC strings. A login registers the phone's device id
//! (its Automerge actor id) to the account and issues an opaque random token; only the
//! token's SHA-256 is stored. Tokens expire and can be revoked one by one (logout) or with
//! their device.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::http::HeaderMap;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::scope::{self, Grants};
use crate::storage::{Account, Device, Storage, Token};

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

/// Who is calling: token → device → account → grants. Blocking (storage calls).
pub fn authenticate(storage: &Arc<dyn Storage>, headers: &HeaderMap, now_ms: i64) -> ApiResult<AuthContext> {
    let token = bearer(headers).ok_or(ApiError::Unauthorized)?;
    if token.len() > 256 {
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
    Ok(AuthContext {
        account,
        device,
        grants,
        token_hash: hash,
    })
}

/// What a login asks.
#[derive(Debug, Clone, serde::Deserialize)]
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
}

/// Log in: check the password, register the device, issue a token. Blocking.
pub fn login(
    storage: &Arc<dyn Storage>,
    req: &LoginRequest,
    ttl_hours: i64,
    now_ms: i64,
) -> ApiResult<(String, Token, Account, Grants)> {
    let account = storage.account_by_username(&req.username)?;
    let Some(account) = account.filter(|a| verify_password(&req.password, &a.password_hash)) else {
        return Err(ApiError::BadCredentials);
    };
    if account.disabled {
        return Err(ApiError::AccountDisabled);
    }
    if req.device_id.is_nil() {
        return Err(ApiError::MalformedBody("device_id must not be nil".into()));
    }
    let name: String = req.device_name.chars().take(100).collect();
    let device = storage.register_device(&Device {
        id: req.device_id,
        account_id: account.id.clone(),
        name,
        created_at: now_ms,
        revoked_at: None,
    })?;
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
        expires_at: now_ms + ttl_hours * 3_600_000,
        revoked_at: None,
    };
    storage.insert_token(&t)?;
    let grants = scope::grants(account.role, &account.org_node, &storage.org_grids()?);
    Ok((token, t, account, grants))
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
    }
}
