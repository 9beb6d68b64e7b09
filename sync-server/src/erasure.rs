//! `POST /v1/admin/persons/{id}/erase`: erase a person (crypto-shredding, issue 9,
//! docs/adr/0004-crypto-shredding.md). A district admin only, with a reason.
//!
//! The person's key is destroyed on the server; every device drops its copy at its next sync
//! and lists the person's sealed fields as unavailable. The record itself stays (household
//! membership, visit history) with its sealed fields unreadable everywhere.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use gridbook_core::domain::Role;
use serde::Deserialize;
use tracing::instrument;

use crate::audit::{self, Action};
use crate::error::{ApiError, ApiResult};
use crate::{AppState, auth, blocking, now_ms, read_body};

/// The request body: why the person is erased (moved away, a legal request ...).
#[derive(Debug, Deserialize)]
pub struct EraseRequest {
    /// The reason, for the audit trail.
    pub reason: String,
}

/// Erase a person. Answers `{"person_id", "seq"}`; erasing an erased person again is a no-op
/// with the same `seq`.
#[instrument(skip_all)]
pub async fn erase_person(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let bytes = read_body(body, 16 * 1024).await?;
    let req: EraseRequest = serde_json::from_slice(&bytes).map_err(|e| ApiError::MalformedBody(e.to_string()))?;
    let reason = req.reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::Core(gridbook_core::Error::Invalid {
            code: "invalid_reason",
            field: "reason".into(),
            reason: "an erasure needs a reason of 1 to 500 characters".into(),
        }));
    }
    let storage = app.storage.clone();
    let now = now_ms();
    let person = id.clone();
    let seq = blocking(move || {
        let auth = auth::authenticate(&storage, &headers, now)?;
        if auth.account.role != Role::DistrictAdmin {
            return Err(ApiError::Forbidden("only a district admin may erase a person".into()));
        }
        let seq = storage.erase_person(&person, now)?;
        // Recorded once the key is gone (the erasure cannot be undone; an entry written before it
        // could claim an erasure that failed).
        audit::append(
            storage.as_ref(),
            &auth.account.id,
            Action::Erasure,
            &format!("person:{person}"),
            serde_json::json!({ "reason": reason, "seq": seq, "device": auth.device.id.to_string() }),
        )?;
        Ok(seq)
    })
    .await?;
    Ok(Json(serde_json::json!({ "person_id": id, "seq": seq })).into_response())
}
