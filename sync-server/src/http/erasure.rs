//! `POST /v1/admin/persons/{id}/erase` (rank 4, `http`): the API's door to the erasure
//! service ([`crate::erasure`]); a district admin only.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use gridbook_core::domain::Role;
use serde::Deserialize;
use tracing::instrument;

use super::{AppState, blocking, read_body};
use crate::auth;
use crate::erasure::{Via, check_reason, erase};
use crate::error::{ApiError, ApiResult};
use crate::model::clock::now_ms;

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
    let req: EraseRequest = crate::error::parse_json(&bytes)?;
    let reason = check_reason(&req.reason)?;
    let storage = app.storage.clone();
    let now = now_ms();
    let person = id.clone();
    let seq = blocking(move || {
        let auth = auth::authenticate(&storage, &headers, now)?;
        if auth.account.role != Role::DistrictAdmin {
            return Err(ApiError::Forbidden("only a district admin may erase a person".into()));
        }
        let device = auth.device.id.to_string();
        erase(
            storage.as_ref(),
            &person,
            &reason,
            &auth.account.id,
            Some(&device),
            Via::Api,
        )
    })
    .await?;
    Ok(Json(serde_json::json!({ "person_id": id, "seq": seq })).into_response())
}
