//! Erase a person (crypto-shredding, issue 9, docs/adr/0004-crypto-shredding.md). A district
//! admin only, with a reason, through one of three doors that all call [`erase`] (same checks,
//! same audit entry): `POST /v1/admin/persons/{id}/erase` (`http::erasure`), the dashboard's
//! erase form (`/review/admin/erase`, `review::erase`) and `gridbook-server admin erase-person`.
//! This is the service (rank 3), over the storage; the doors are above it.
//!
//! The person's key is destroyed on the server; every device drops its copy at its next sync
//! and lists the person's sealed fields as unavailable. The record itself stays (household
//! membership, visit history) with its sealed fields unreadable everywhere.

use crate::audit::{self, Action};
use crate::error::{ApiError, ApiResult};
use crate::model::clock::now_ms;
use crate::storage::Storage;

/// Which door an erasure came through (recorded in the audit entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `POST /v1/admin/persons/{id}/erase`.
    Api,
    /// The dashboard's erase form.
    Dashboard,
    /// `gridbook-server admin erase-person`.
    Cli,
}

impl Via {
    /// Stable text form.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Api => "api",
            Via::Dashboard => "dashboard",
            Via::Cli => "cli",
        }
    }
}

/// Longest reason accepted, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// The reason of an erasure, trimmed; a typed 422 `invalid_reason` when it is empty or longer
/// than [`MAX_REASON_CHARS`].
pub fn check_reason(reason: &str) -> ApiResult<String> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::Core(gridbook_core::Error::Invalid {
            code: "invalid_reason",
            field: "reason".into(),
            reason: format!("an erasure needs a reason of 1 to {MAX_REASON_CHARS} characters"),
        }));
    }
    Ok(reason.to_string())
}

/// Erase a person on the server by `actor` (an account id, or `cli`) from `device` (if any):
/// check the reason, destroy the key ([`crate::storage::PersonKeys::erase_person`]: 404 `not_found` for anything
/// but a person), then append the audit entry. Returns the erasure's `seq`; erasing an erased
/// person again returns the same `seq` (and is audited again, with its own reason).
pub fn erase(
    storage: &dyn Storage,
    person: &str,
    reason: &str,
    actor: &str,
    device: Option<&str>,
    via: Via,
) -> ApiResult<u64> {
    let reason = check_reason(reason)?;
    let seq = storage.erase_person(person, now_ms())?;
    // Recorded once the key is gone (the erasure cannot be undone; an entry written before it
    // could claim an erasure that failed).
    audit::append(
        storage,
        actor,
        Action::Erasure,
        &format!("person:{person}"),
        serde_json::json!({ "reason": reason, "seq": seq, "device": device, "via": via.as_str() }),
    )?;
    Ok(seq)
}
