//! `POST /v1/sync`: authenticate, decode, validate and commit the push, then answer with acks,
//! rejections and one page of what the device's scopes gained since its cursors.
//!
//! Pushes are serialized by one lock (validation reads the server's copy of a document and
//! the commit replaces it, so two pushes must not interleave); inside a push, the documents'
//! validations run on all cores. Pulls take no lock.

pub mod validate;

use std::collections::{BTreeMap, HashMap};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use gridbook_core::sync::wire::{self, CONTENT_TYPE};
use gridbook_core::sync::{Cursor, PROTOCOL_VERSION, PushChange, Rejection, SyncResponse};
use tracing::instrument;

use crate::auth::{self, AuthContext};
use crate::error::{ApiError, ApiResult};
use crate::http::{AppState, blocking, read_body};
use crate::model::clock::now_ms;
use crate::storage::{CommitBatch, PullQuery};
use validate::{Parsed, Pusher};

/// Erasures sent in one response at most (more: the device syncs again).
const MAX_ERASURES_PER_PAGE: usize = 1_000;

/// The sync endpoint.
#[instrument(skip_all, fields(device, pushed, acked, rejected, pulled))]
pub async fn handler(State(app): State<AppState>, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let now = now_ms();
    let app_version: Option<String> = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(64).collect());
    let storage = app.storage.clone();
    let auth = blocking(move || auth::authenticate(&storage, &headers, now)).await?;
    let span = tracing::Span::current();
    span.record("device", tracing::field::display(auth.device.id));
    let bytes = read_body(body, app.config.max_body_bytes).await?;
    let mut req = blocking(move || wire::decode_request(&bytes).map_err(ApiError::from)).await?;
    let ahead_ms = req.client_time.saturating_sub(now);
    if ahead_ms > app.config.max_clock_skew_secs.saturating_mul(1000) {
        return Err(ApiError::ClockInFuture {
            ahead_secs: ahead_ms / 1000,
        });
    }
    if req.push.len() > app.config.max_push_changes {
        return Err(ApiError::TooManyChanges {
            found: req.push.len(),
            limit: app.config.max_push_changes,
        });
    }
    span.record("pushed", req.push.len());
    // Person keys first (crypto-shredding): the changes they seal are materialized below.
    let key_acks = if req.person_keys.is_empty() {
        vec![]
    } else {
        let (storage, grants, keys) = (app.storage.clone(), auth.grants.clone(), req.person_keys);
        blocking(move || Ok(storage.put_person_keys(&keys, &|scope| grants.may_write(scope))?)).await?
    };
    let (acks, rejections) = if req.push.is_empty() {
        (vec![], vec![])
    } else {
        // The push runs in a task of its own that holds the lock until its commit is done. A
        // client that hangs up mid-push drops this handler; were the guard held here, it would
        // be released while the commit still ran on a blocking thread, and the next push would
        // validate against the stale copy and overwrite the document's row without the change
        // the log now holds (found by the soak: a phone held a change the server's copy lacked).
        let guard = app.push_lock.clone().lock_owned().await;
        let (app, auth, changes) = (app.clone(), auth.clone(), std::mem::take(&mut req.push));
        tokio::spawn(async move {
            let _one_push_at_a_time = guard;
            push(&app, &auth, changes, now).await
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??
    };
    span.record("acked", acks.len());
    span.record("rejected", rejections.len());
    let theirs: BTreeMap<&str, &Cursor> = req.cursors.iter().map(|c| (c.scope.as_str(), c)).collect();
    let cursors = auth
        .grants
        .read
        .iter()
        .map(|s| {
            theirs.get(s.as_str()).map_or_else(
                || Cursor {
                    scope: s.clone(),
                    seq: 0,
                    snapshot_after: None,
                },
                |c| (*c).clone(),
            )
        })
        .collect();
    let query = PullQuery {
        cursors,
        exclude_origin: auth.device.id.to_string(),
        max_bytes: req.max_bytes.clamp(1, app.config.max_page_bytes),
    };
    let storage = app.storage.clone();
    let erasures_after = req.erasures_after;
    let (page, person_keys, erasures) = blocking(move || {
        let page = storage.pull(&query)?;
        // Only persons in the device's scopes reach a page, so only their keys go out.
        let ids: Vec<String> = page
            .snapshots
            .iter()
            .chain(&page.changes)
            .map(|d| d.doc_id.clone())
            .collect();
        let keys = storage.person_keys_for(&ids)?;
        let erasures = storage.erasures_after(erasures_after, MAX_ERASURES_PER_PAGE)?;
        Ok((page, keys, erasures))
    })
    .await?;
    span.record("pulled", page.changes.len() + page.snapshots.len());
    // For the admin's device list (issue 11), off the answer's path: at most one small write
    // a minute per device.
    let (storage, device) = (app.storage.clone(), auth.device.id);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = storage.record_sync(device, now, app_version.as_deref()) {
            tracing::warn!(error = %e, "could not record the device's last sync");
        }
    });
    let resp = SyncResponse {
        v: PROTOCOL_VERSION,
        server_time: now_ms(),
        acks,
        rejections,
        snapshots: page.snapshots,
        changes: page.changes,
        cursors: page.cursors,
        more: page.more || erasures.len() == MAX_ERASURES_PER_PAGE,
        person_keys,
        key_acks,
        erasures,
    };
    let body = blocking(move || Ok(wire::encode(&resp))).await?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))], body).into_response())
}

/// [`validate::parse`] (decoding and hashing every change) split over `threads` blocking
/// tasks; a change pushed twice in one request is kept once, as `parse` alone does.
async fn parse_on_all_cores(
    push: Vec<PushChange>,
    device: uuid::Uuid,
    threads: usize,
) -> ApiResult<(Vec<Parsed>, Vec<Rejection>)> {
    const MIN_PER_TASK: usize = 32;
    let per = push.len().div_ceil(threads.max(1)).max(MIN_PER_TASK);
    let mut tasks = Vec::new();
    let mut rest = push.into_iter();
    loop {
        let chunk: Vec<PushChange> = rest.by_ref().take(per).collect();
        if chunk.is_empty() {
            break;
        }
        tasks.push(tokio::task::spawn_blocking(move || validate::parse(chunk, device)));
    }
    let (mut parsed, mut rejections) = (Vec::new(), Vec::new());
    let mut seen = std::collections::HashSet::new();
    for t in tasks {
        let (ok, bad) = t.await.map_err(|e| ApiError::Internal(e.to_string()))?;
        parsed.extend(ok.into_iter().filter(|p| seen.insert(p.hash.clone())));
        rejections.extend(bad);
    }
    Ok((parsed, rejections))
}

/// Validate and commit a push; returns (acks, rejections). Acks only after the commit.
async fn push(
    app: &AppState,
    auth: &AuthContext,
    push: Vec<PushChange>,
    now: i64,
) -> ApiResult<(Vec<String>, Vec<Rejection>)> {
    let device = auth.device.id;
    let (parsed, mut rejections) = parse_on_all_cores(push, device, app.config.threads()).await?;
    let storage = app.storage.clone();
    let hashes: Vec<String> = parsed.iter().map(|p| p.hash.clone()).collect();
    let known = blocking(move || Ok(storage.known_changes(&hashes)?)).await?;
    let mut acks: Vec<String> = Vec::new();
    let mut groups: Vec<(String, Vec<Parsed>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for p in parsed {
        if known.contains(&p.hash) {
            acks.push(p.hash); // already durable: a retry, acked again
            continue;
        }
        let i = *index.entry(p.doc_id.clone()).or_insert_with(|| {
            groups.push((p.doc_id.clone(), Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push(p);
    }
    if groups.is_empty() {
        return Ok((acks, rejections));
    }
    let storage = app.storage.clone();
    let ids: Vec<String> = groups.iter().map(|(id, _)| id.clone()).collect();
    let started = std::time::Instant::now();
    let (stored, rules) = blocking(move || Ok((storage.load_docs(&ids)?, storage.rule_book()?))).await?;
    let stored = std::sync::Arc::new(stored);
    let who = std::sync::Arc::new(Pusher {
        account_id: auth.account.id.clone(),
        role: auth.account.role,
        grants: auth.grants.clone(),
        device_id: device,
        rules: std::sync::Arc::new(rules),
    });
    let threads = app.config.threads().max(1);
    let per = groups.len().div_ceil(threads);
    let mut tasks = Vec::new();
    let mut groups = groups.into_iter();
    loop {
        let chunk: Vec<(String, Vec<Parsed>)> = groups.by_ref().take(per).collect();
        if chunk.is_empty() {
            break;
        }
        let (stored, who) = (stored.clone(), who.clone());
        tasks.push(tokio::task::spawn_blocking(move || {
            chunk
                .into_iter()
                .map(|(id, changes)| {
                    let base = stored.get(&id).map(Vec::as_slice);
                    validate::validate_group(&id, base, changes, &who)
                })
                .collect::<Vec<_>>()
        }));
    }
    let mut batch = CommitBatch {
        origin_device: device.to_string(),
        received_at: now,
        changes: vec![],
        docs: vec![],
    };
    for t in tasks {
        for outcome in t.await.map_err(|e| ApiError::Internal(e.to_string()))? {
            rejections.extend(outcome.rejections);
            batch.changes.extend(outcome.accepted);
            if let Some(doc) = outcome.doc {
                batch.docs.push(doc?);
            }
        }
    }
    let validated = started.elapsed();
    let accepted: Vec<String> = batch.changes.iter().map(|c| c.hash.clone()).collect();
    if !accepted.is_empty() {
        let storage = app.storage.clone();
        blocking(move || Ok(storage.commit(batch)?)).await?;
    }
    tracing::debug!(
        changes = accepted.len(),
        validate_ms = validated.as_millis() as u64,
        commit_ms = (started.elapsed() - validated).as_millis() as u64,
        "push stored"
    );
    acks.extend(accepted);
    Ok((acks, rejections))
}
