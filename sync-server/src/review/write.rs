//! The dashboard's one write path. A review step (台账审核) or a workflow transition (接诉即办) is
//! appended to the `transitions` list of the record's Automerge document as one change whose
//! actor is the web session's device (a server-side actor, registered to the supervisor's
//! account), then committed with [`crate::storage::ChangeLog::commit`]: the change-log row, the
//! server's copy of the document and its query-table rows, atomically — exactly what an
//! accepted push writes. Phones pull the change like any other and fold the same history.
//!
//! Writes hold [`crate::http::AppState::push_lock`], so they never interleave with a push that
//! validates against the same document.

use std::collections::BTreeMap;

use automerge::transaction::CommitOptions;
use automerge::{ActorId, AutoCommit};
use chrono::Utc;
use gridbook_core::doc::MSG_TRANSITION;
use gridbook_core::domain::{Case, RecordKind};
use gridbook_core::parse_history;
use gridbook_core::review::{self, ReviewEntry, ReviewState};
use gridbook_core::workflow::{self, Transition};
use gridbook_core::{Error as CoreError, doc};
use serde_json::Value as Json;
use uuid::Uuid;

use super::{Viewer, not_found};
use crate::error::{ApiError, ApiResult};
use crate::http::AppState;
use crate::storage::{CommitBatch, LogEntry, SavedDoc, Storage};

/// A record's document as the server holds it, checked against the viewer's area.
pub struct Loaded {
    /// The document, acting as the viewer's web device.
    pub doc: AutoCommit,
    /// Its kind.
    pub kind: RecordKind,
    /// Its scope (grid).
    pub scope: String,
}

/// Load `id` for `viewer`: `not_found` when absent, deleted, of another kind, or outside the
/// viewer's grants.
pub fn load(storage: &dyn Storage, viewer: &Viewer, id: &str, kinds: &[RecordKind]) -> ApiResult<Loaded> {
    if id.is_empty() || id.len() > 64 {
        return Err(not_found("record"));
    }
    let mut docs = storage.load_docs(&[id.to_string()])?;
    let bytes = docs.remove(id).ok_or_else(|| not_found("record"))?;
    let actor = ActorId::from(viewer.device.as_bytes().as_slice());
    let doc = doc::load_doc(&bytes, &actor)?;
    let kind: RecordKind = doc::root_str(&doc, "kind")
        .unwrap_or_default()
        .parse()
        .map_err(|_| not_found("record"))?;
    let scope = doc::root_str(&doc, "scope").unwrap_or_default();
    if !kinds.contains(&kind) || !viewer.grants.may_write(&scope) || doc::root_obj(&doc, "deleted").is_some() {
        return Err(not_found("record"));
    }
    Ok(Loaded { doc, kind, scope })
}

/// Append `entry` to the document's history and commit it like an accepted push.
fn append_and_commit(
    storage: &dyn Storage,
    viewer: &Viewer,
    id: &str,
    mut loaded: Loaded,
    entry: &Json,
) -> ApiResult<()> {
    doc::history::append(&mut loaded.doc, entry)?;
    let now = Utc::now();
    let opts = CommitOptions::default()
        .with_message(MSG_TRANSITION.to_string())
        .with_time(now.timestamp());
    loaded
        .doc
        .commit_with(opts)
        .ok_or_else(|| ApiError::Internal("the review step made no change".into()))?;
    let change = loaded
        .doc
        .get_last_local_change()
        .ok_or_else(|| ApiError::Internal("no local change after commit".into()))?;
    let entry = LogEntry {
        hash: change.hash().to_string(),
        doc_id: id.to_string(),
        scope: loaded.scope.clone(),
        bytes: change.raw_bytes().to_vec(),
    };
    storage.commit(CommitBatch {
        origin_device: viewer.device.to_string(),
        received_at: now.timestamp_millis(),
        changes: vec![entry],
        docs: vec![SavedDoc::new(id.to_string(), loaded.doc)?],
    })?;
    tracing::info!(doc_id = id, actor = %viewer.account.id, "dashboard change committed");
    Ok(())
}

/// 审核: approve or return a ledger (blocking; call with the push lock held).
pub fn review_ledger(
    storage: &dyn Storage,
    viewer: &Viewer,
    id: &str,
    action: &str,
    comment: Option<&str>,
) -> ApiResult<ReviewState> {
    let comment = comment.map(str::trim).filter(|c| !c.is_empty());
    match action {
        "approve" => {}
        "return" => {
            let Some(c) = comment else {
                return Err(super::invalid("empty_field", "comment", "a return needs a comment"));
            };
            if c.chars().count() > 1000 {
                return Err(super::invalid("too_long", "comment", "at most 1000 characters"));
            }
        }
        _ => return Err(super::invalid("unknown_action", "action", "approve or return")),
    }
    let mut loaded = load(storage, viewer, id, &[RecordKind::Ledger])?;
    let entries: Vec<ReviewEntry> = doc::history::parse(&doc::history::read(&loaded.doc));
    let state = review::fold(&entries).state;
    let role = viewer.account.role;
    let Some(next) = review::next(state, action, role) else {
        return Err(ApiError::Core(CoreError::Workflow {
            code: "action_not_allowed_in_state",
            message: format!("cannot {action} a {} ledger", state.as_str()),
        }));
    };
    let entry = ReviewEntry {
        id: Uuid::now_v7().to_string(),
        action: action.to_string(),
        actor: viewer.account.id.clone(),
        role,
        at: Utc::now(),
        comment: if action == "return" {
            comment.map(str::to_string)
        } else {
            None
        },
        base: doc::heads_hex(&loaded.doc.get_heads()),
    };
    let json = serde_json::to_value(&entry).map_err(|e| ApiError::Internal(e.to_string()))?;
    append_and_commit(storage, viewer, id, loaded, &json)?;
    Ok(next)
}

/// 办理: take a workflow action on a case (blocking; call with the push lock held). Checked
/// with [`workflow::check`] and [`workflow::check_transition`] before anything is written.
pub fn case_action(
    storage: &dyn Storage,
    viewer: &Viewer,
    id: &str,
    action: &str,
    reason: Option<&str>,
    params: BTreeMap<String, String>,
) -> ApiResult<String> {
    let loaded = load(storage, viewer, id, &[RecordKind::Incident, RecordKind::Request])?;
    let _case: Case =
        serde_json::from_value(doc::body::read(&loaded.doc).unwrap_or_default()).map_err(|_| not_found("case"))?;
    let rules = super::cases::doc_rules(&storage.rule_book()?, &loaded.doc);
    let transitions = parse_history(&doc::history::read(&loaded.doc));
    let state = workflow::fold(&rules.definition, &transitions);
    let role = viewer.account.role;
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > 1000) {
        return Err(super::invalid("too_long", "reason", "at most 1000 characters"));
    }
    let params: BTreeMap<String, String> = params
        .into_iter()
        .map(|(k, v)| (k, v.trim().to_string()))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let to =
        workflow::check(&rules.definition, &state, action, role, role.level(), &params).map_err(CoreError::from)?;
    let now = Utc::now();
    let t = Transition {
        id: Uuid::now_v7().to_string(),
        action: action.to_string(),
        from: state.state.clone(),
        to,
        actor: viewer.account.id.clone(),
        role,
        org_node: viewer.account.org_node.clone(),
        at: now,
        device_time: now,
        reason: reason.map(str::to_string),
        params,
        attachments: vec![],
    };
    let to = workflow::check_transition(&rules.definition, &state, &t).map_err(CoreError::from)?;
    let json = serde_json::to_value(&t).map_err(|e| ApiError::Internal(e.to_string()))?;
    append_and_commit(storage, viewer, id, loaded, &json)?;
    Ok(to)
}

/// Run a write for `viewer` with the push lock held.
pub async fn locked<T: Send + 'static>(
    app: &AppState,
    f: impl FnOnce(&dyn Storage) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    // The guard moves into the blocking closure: a dropped request (the browser went away) must
    // not release the lock while the write still runs.
    let one_writer = app.push_lock.clone().lock_owned().await;
    let storage = app.storage.clone();
    crate::http::blocking(move || {
        let _one_writer = one_writer;
        f(storage.as_ref())
    })
    .await
}
