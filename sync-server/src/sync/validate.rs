//! Validation of pushed changes: each is applied to the server's copy of its document and the
//! shared `core` rules run on the result. Pure and blocking; [`super`] spreads the groups of
//! one push over cores.
//!
//! A change is refused (code in brackets) when its bytes are not a change [`invalid_change`],
//! its hash is not the one claimed [`hash_mismatch`], its actor is not the pushing device
//! [`actor_mismatch`], its dependencies are unknown [`missing_dependency`], or the document
//! after it: names another id [`doc_id_mismatch`], has no known kind [`unknown_kind`], moved
//! to another scope [`scope_change`], lies outside the device's grants or, pushed by a
//! department, is anything but a case dispatched to it [`out_of_scope`], has a body that is
//! not its record type or fails `validate()` [`invalid_record` or the record's own code],
//! states a scope other than its body's [`scope_mismatch`], lost workflow history
//! [`transition_removed`], or gained a transition in someone else's name or role
//! [`transition_actor_mismatch`, `transition_role_mismatch`] or by a role that may never take
//! it under the case's pinned workflow definition [`role_not_allowed`], is a rule-set version
//! (published by the server's administration only) [`rule_set_admin_only`], or is a case that
//! pins rule versions the server does not hold [`unknown_rule_version`], pins unreadably
//! [`invalid_record`] or changed its pins [`rule_pins_changed`].

use automerge::{AutoCommit, Change};
use gridbook_core::doc;
use gridbook_core::domain::{
    Case, ChecklistTemplate, HouseCall, Household, Ledger, OrgNode, Patrol, Person, Record, RecordKind, Role,
};
use gridbook_core::review::{self, ReviewState};
use gridbook_core::sync::{PushChange, Rejection};
use gridbook_core::{RuleKind, RulePins};
use serde_json::Value as Json;
use uuid::Uuid;

pub use crate::storage::departments::{departments_of, doc_departments};

use crate::scope::Grants;
use crate::storage::{LogEntry, SavedDoc};

/// Who pushes.
#[derive(Debug, Clone)]
pub struct Pusher {
    /// Account id.
    pub account_id: String,
    /// Its role.
    pub role: Role,
    /// Its grants.
    pub grants: Grants,
    /// Device id = Automerge actor id.
    pub device_id: Uuid,
    /// The rule versions the server holds (read once per push).
    pub rules: std::sync::Arc<gridbook_core::RuleBook>,
}

/// A pushed change that parsed, with the hash it really has.
pub struct Parsed {
    /// Record id.
    pub doc_id: String,
    /// Hash (hex).
    pub hash: String,
    /// The change.
    pub change: Change,
}

fn reject(p: &PushChange, code: &str, message: impl Into<String>) -> Rejection {
    Rejection {
        hash: p.hash.clone(),
        doc_id: p.doc_id.clone(),
        code: code.into(),
        message: message.into(),
    }
}

/// Parse, check hash and actor, drop repeats within the push.
pub fn parse(push: Vec<PushChange>, device: Uuid) -> (Vec<Parsed>, Vec<Rejection>) {
    let mut ok = Vec::with_capacity(push.len());
    let mut bad = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in push {
        if p.doc_id.is_empty() || p.doc_id.len() > 64 {
            bad.push(reject(&p, "invalid_record", "doc_id must have 1 to 64 characters"));
            continue;
        }
        let change = match doc::parse_change(&p.bytes) {
            Ok(c) => c,
            Err(e) => {
                bad.push(reject(&p, "invalid_change", format!("not an Automerge change: {e}")));
                continue;
            }
        };
        let hash = change.hash().to_string();
        if hash != p.hash {
            bad.push(reject(&p, "hash_mismatch", "the change's hash is not the one sent"));
            continue;
        }
        if change.actor_id().to_bytes() != device.as_bytes() {
            bad.push(reject(
                &p,
                "actor_mismatch",
                "the change was not made by the pushing device",
            ));
            continue;
        }
        if seen.insert(hash.clone()) {
            ok.push(Parsed {
                doc_id: p.doc_id,
                hash,
                change,
            });
        }
    }
    (ok, bad)
}

/// What validating one document's changes gave.
pub struct GroupOutcome {
    /// Accepted changes, in order.
    pub accepted: Vec<LogEntry>,
    /// The document after them, saved and indexed (none if nothing was accepted).
    pub doc: Option<gridbook_core::Result<SavedDoc>>,
    /// Refused changes.
    pub rejections: Vec<Rejection>,
}

struct Before {
    scope: Option<String>,
    /// The case's rule pins before the change (`None`: not yet a document with a kind).
    pins: Option<Result<RulePins, String>>,
    transitions: Vec<Json>,
    /// The body, read only when a department pushes (it may add transitions, never edit).
    body: Option<Json>,
}

fn before_of(doc: &AutoCommit, who: &Pusher) -> Before {
    Before {
        scope: doc::root_str(doc, "scope"),
        pins: doc::root_str(doc, "kind").map(|_| RulePins::of_doc(doc)),
        transitions: doc::history::read(doc),
        body: (who.role == Role::Department).then(|| doc::body::read(doc)).flatten(),
    }
}

fn load(base: Option<&[u8]>) -> Result<AutoCommit, String> {
    match base {
        Some(b) => AutoCommit::load(b).map_err(|e| e.to_string()),
        None => Ok(AutoCommit::new()),
    }
}

/// Validate the changes of one document, in push order, against its stored bytes.
pub fn validate_group(doc_id: &str, base: Option<&[u8]>, changes: Vec<Parsed>, who: &Pusher) -> GroupOutcome {
    let mut out = GroupOutcome {
        accepted: vec![],
        doc: None,
        rejections: vec![],
    };
    let refuse = |p: &Parsed, code: &str, msg: String| Rejection {
        hash: p.hash.clone(),
        doc_id: p.doc_id.clone(),
        code: code.into(),
        message: msg,
    };
    let mut doc = match load(base) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(doc_id, error = %e, "stored document does not load");
            out.rejections.extend(
                changes
                    .iter()
                    .map(|p| refuse(p, "storage_error", "the server's copy does not load".into())),
            );
            return out;
        }
    };
    let mut kept: Vec<Change> = Vec::new();
    for p in changes {
        let before = before_of(&doc, who);
        // Automerge can panic on some crafted changes (found by fuzzing: an op order that
        // breaks its sort). A panic is a refusal of that change, never a dead worker; the
        // document is rebuilt from the stored copy below.
        let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| doc.apply_changes([p.change.clone()])));
        let verdict = match applied.unwrap_or_else(|_| Err(automerge::AutomergeError::Fail)) {
            Err(e) => Err(("invalid_change", e.to_string())),
            // Just applied, it is a head; queued for missing dependencies, it is not.
            Ok(()) if !doc.get_heads().contains(&p.change.hash()) => Err((
                "missing_dependency",
                "the change depends on changes the server does not hold".to_string(),
            )),
            Ok(()) => check(doc_id, &before, &doc, who),
        };
        match verdict {
            Ok(scope) => {
                out.accepted.push(LogEntry {
                    hash: p.hash.clone(),
                    doc_id: doc_id.to_string(),
                    scope,
                    bytes: p.change.raw_bytes().to_vec(),
                });
                kept.push(p.change);
            }
            Err((code, msg)) => {
                out.rejections.push(refuse(&p, code, msg));
                // Start again from the stored document plus what was accepted (this also
                // drops a change Automerge queued for missing dependencies).
                doc = match load(base)
                    .and_then(|mut d| d.apply_changes(kept.clone()).map(|_| d).map_err(|e| e.to_string()))
                {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::error!(doc_id, error = %e, "rebuilding a document failed");
                        return GroupOutcome {
                            accepted: vec![],
                            doc: None,
                            rejections: out.rejections,
                        };
                    }
                };
            }
        }
    }
    if !out.accepted.is_empty() {
        // Saved and indexed here, on the validating thread; an error (not seen: the rows are
        // plain values) fails the whole push with a 500, so the device retries it.
        out.doc = Some(SavedDoc::new(doc_id.to_string(), doc));
    }
    out
}

type Verdict = Result<String, (&'static str, String)>;

fn body_check<R: Record>(body: &Json, kind: RecordKind, scope: &str) -> Result<(), (&'static str, String)> {
    let r = R::deserialize(body).map_err(|e| ("invalid_record", format!("body is not a {}: {e}", kind.as_str())))?;
    r.validate().map_err(|e| (e.code(), e.to_string()))?;
    if r.kind() != kind {
        return Err((
            "kind_mismatch",
            format!("body is a {}, document says {}", r.kind().as_str(), kind.as_str()),
        ));
    }
    if r.scope() != scope {
        return Err((
            "scope_mismatch",
            format!("document scope `{scope}` differs from the body's `{}`", r.scope()),
        ));
    }
    Ok(())
}

/// The shared rules on a document after a change.
fn check(doc_id: &str, before: &Before, after: &AutoCommit, who: &Pusher) -> Verdict {
    if doc::root_str(after, "id").as_deref() != Some(doc_id) {
        return Err((
            "doc_id_mismatch",
            "the document's id is not the one it was pushed under".into(),
        ));
    }
    let kind: RecordKind = doc::root_str(after, "kind")
        .unwrap_or_default()
        .parse()
        .map_err(|_| ("unknown_kind", "the document has no known kind".to_string()))?;
    let scope = doc::root_str(after, "scope").ok_or(("invalid_record", "the document has no scope".to_string()))?;
    if let Some(old) = &before.scope
        && *old != scope
    {
        return Err((
            "scope_change",
            format!("a record cannot move from `{old}` to `{scope}`"),
        ));
    }
    // A department writes no area: it acts on the cases dispatched to it, adding workflow
    // transitions (部门接单, 办结 ...) without editing what the case says.
    let as_department = who.role == Role::Department
        && matches!(kind, RecordKind::Incident | RecordKind::Request)
        && departments_of(&before.transitions)
            .iter()
            .any(|d| who.grants.may_write(&crate::scope::department_scope(d)));
    if !as_department && !who.grants.may_write(&scope) {
        return Err(("out_of_scope", format!("scope `{scope}` is outside this device's area")));
    }
    // Its own `dept:` scope is in a department's grants only to name the cases dispatched to
    // it: no record of any kind may be created there (found by the hostile corpus: a
    // department's household, incident or ledger "in" its scope was stored).
    if who.role == Role::Department && !as_department {
        return Err((
            "out_of_scope",
            "a department only adds workflow steps to the cases dispatched to it".into(),
        ));
    }
    let mut body = doc::body::read(after).ok_or(("invalid_record", "the document has no body".to_string()))?;
    if as_department && before.body.as_ref() != Some(&body) {
        return Err((
            "out_of_scope",
            "a department may add workflow steps to a case dispatched to it, not edit the case".into(),
        ));
    }
    // Sealed fields (crypto-shredding, ADR 0004) were checked by the phone before sealing; the
    // rest of the body is checked here as always.
    gridbook_core::shred::redact_sealed(kind, &mut body);
    match kind {
        RecordKind::OrgNode => body_check::<OrgNode>(&body, kind, &scope)?,
        RecordKind::Household => body_check::<Household>(&body, kind, &scope)?,
        RecordKind::Person => body_check::<Person>(&body, kind, &scope)?,
        RecordKind::HouseCall => body_check::<HouseCall>(&body, kind, &scope)?,
        RecordKind::Patrol => body_check::<Patrol>(&body, kind, &scope)?,
        RecordKind::Ledger => body_check::<Ledger>(&body, kind, &scope)?,
        RecordKind::Incident | RecordKind::Request => body_check::<Case>(&body, kind, &scope)?,
        RecordKind::Template => body_check::<ChecklistTemplate>(&body, kind, &scope)?,
        RecordKind::RuleSet => {
            return Err((
                "rule_set_admin_only",
                "rule versions are published by the district server's administration, not pushed".into(),
            ));
        }
    }
    let is_case = matches!(kind, RecordKind::Incident | RecordKind::Request);
    let pins = if is_case {
        let pins = RulePins::of_doc(after).map_err(|e| ("invalid_record", e))?;
        if let Some(old) = &before.pins
            && old.as_ref().ok() != Some(&pins)
        {
            return Err((
                "rule_pins_changed",
                "a case keeps the rule versions it was created with".into(),
            ));
        }
        for rule in [RuleKind::Workflow, RuleKind::TimeLimits] {
            let v = pins.get(rule).unwrap_or(1);
            if !who.rules.holds(rule, v) {
                return Err((
                    "unknown_rule_version",
                    format!(
                        "the case pins {} version {v}, which the server does not hold",
                        rule.as_str()
                    ),
                ));
            }
        }
        pins
    } else {
        RulePins::SHIPPED
    };
    let now = doc::history::read(after);
    if !before.transitions.is_empty() || !now.is_empty() {
        let mut remaining = now.clone();
        for t in &before.transitions {
            match remaining.iter().position(|x| x == t) {
                Some(i) => {
                    remaining.swap_remove(i);
                }
                None => return Err(("transition_removed", "workflow history is append-only".into())),
            }
        }
        for t in &remaining {
            if t.get("actor").and_then(Json::as_str) != Some(who.account_id.as_str()) {
                return Err((
                    "transition_actor_mismatch",
                    "a transition names another account as its actor".into(),
                ));
            }
            if t.get("role").and_then(Json::as_str) != Some(who.role.as_str()) {
                return Err((
                    "transition_role_mismatch",
                    "a transition names another role than the account's".into(),
                ));
            }
            if matches!(kind, RecordKind::Incident | RecordKind::Request) {
                // The role must be one the workflow definition lets take this action at all
                // (whether it was valid *at its point* is the fold's business: a stale but
                // honest transition is a workflow conflict, not a forgery).
                let action = t.get("action").and_then(Json::as_str).unwrap_or_default();
                match who.rules.rules_for(pins).definition.action(action) {
                    Some(a) if a.roles.contains(&who.role) => {}
                    Some(_) => {
                        return Err((
                            "role_not_allowed",
                            format!("a {} may not take `{action}`", who.role.as_str()),
                        ));
                    }
                    None => return Err(("unknown_action", format!("`{action}` is not a workflow action"))),
                }
            }
            if kind == RecordKind::Ledger {
                let action = t.get("action").and_then(Json::as_str).unwrap_or_default();
                let states = [
                    ReviewState::Draft,
                    ReviewState::Submitted,
                    ReviewState::Approved,
                    ReviewState::Returned,
                ];
                if !states.iter().any(|s| review::next(*s, action, who.role).is_some()) {
                    return Err((
                        "role_not_allowed",
                        format!("a {} may not {action} a ledger", who.role.as_str()),
                    ));
                }
            }
        }
    }
    Ok(scope)
}
