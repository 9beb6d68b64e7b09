//! 查看完整信息: revealing one person's full ID number or phone (issue 9).
//!
//! Lists, details, exports and logs show ID numbers and phones masked
//! (core's masking, `gridbook_core::mask_phone`). A full value needs the **reveal permission** — a role flag,
//! [`may_reveal`]: district admins (区级管理员) only, the same permission as an unmasked export
//! — *and* a reason; every reveal appends an audit entry (who, which person and field, when,
//! why) *before* the value is read, so a reveal that could not be audited is not made.
//! Outside the viewer's area a person is `not_found`, as everywhere in the dashboard.
//!
//! `POST /review/api/persons/{id}/reveal` with `{"field": "id_number" | "phone", "reason": "…"}`
//! → `{"person", "field", "value"}`; `403 reveal_not_permitted`, `400 reveal_reason_required`.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use gridbook_core::domain::Role;
use serde::Deserialize;

use super::Area;
use super::session::Viewer;
use crate::audit::{self, Action};
use crate::error::{ApiError, ApiResult};
use crate::http::AppState;

/// Whether a role holds the reveal permission (full ID numbers and phones, unmasked exports).
pub fn may_reveal(role: Role) -> bool {
    role == Role::DistrictAdmin
}

/// A reveal's reason: 1 to 200 characters after trimming.
pub fn check_reason(reason: Option<&str>) -> ApiResult<String> {
    let r = reason.map(str::trim).unwrap_or_default();
    if r.is_empty() || r.chars().count() > 200 {
        return Err(ApiError::RevealReasonRequired);
    }
    Ok(r.to_string())
}

/// What a reveal asks.
#[derive(Debug, Deserialize)]
pub struct RevealRequest {
    /// `id_number` or `phone`.
    pub field: String,
    /// Why (recorded in the audit log).
    pub reason: Option<String>,
}

/// `POST /review/api/persons/{id}/reveal`
pub async fn reveal_api(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let req: RevealRequest = crate::error::parse_json(&body)?;
    if !may_reveal(viewer.account.role) {
        return Err(ApiError::RevealNotPermitted);
    }
    let reason = check_reason(req.reason.as_deref())?;
    let field = match req.field.as_str() {
        "id_number" => "id_number",
        "phone" => "phone",
        _ => return Err(super::invalid("invalid_field", "field", "id_number or phone")),
    };
    let storage = app.storage.clone();
    let value = crate::http::blocking(move || {
        let area = Area::load(storage.as_ref(), &viewer)?;
        let grid = storage.person_grid(&id)?;
        if !grid.is_some_and(|g| area.has_grid(&g)) {
            return Err(ApiError::NotFound("person".into()));
        }
        // Audited first: no entry, no reveal.
        audit::append(
            storage.as_ref(),
            &viewer.account.id,
            Action::Reveal,
            &format!("person:{id}"),
            serde_json::json!({"field": field, "reason": reason}),
        )?;
        let clear =
            super::exports::person_clear(storage.as_ref(), &id)?.ok_or_else(|| ApiError::NotFound("person".into()))?;
        tracing::info!(account = %viewer.account.id, field, "full value revealed (audited)");
        Ok(serde_json::json!({
            "person": id,
            "field": field,
            "value": if field == "id_number" { clear.1 } else { clear.2 },
        }))
    })
    .await?;
    Ok(Json(value).into_response())
}
