//! Visit ledgers in the store: editing while allowed, submitting, and the supervisor's review.

use rusqlite::OptionalExtension;
use uuid::Uuid;

use super::Store;
use crate::domain::{Ledger, RecordKind};
use crate::error::{Error, Result};
use crate::review::{self, ReviewEntry, ReviewState};

impl Store {
    /// The current review state of a ledger.
    pub fn ledger_state(&self, id: &str) -> Result<ReviewState> {
        let s: Option<String> = self
            .conn
            .query_row("SELECT review_state FROM ledgers WHERE id = ?1", [id], |r| r.get(0))
            .optional()?;
        match s.as_deref() {
            Some("draft") => Ok(ReviewState::Draft),
            Some("submitted") => Ok(ReviewState::Submitted),
            Some("approved") => Ok(ReviewState::Approved),
            Some("returned") => Ok(ReviewState::Returned),
            _ => Err(Error::NotFound {
                kind: "ledger",
                id: id.to_string(),
            }),
        }
    }

    /// Edit a ledger: allowed while a draft or returned, refused once submitted or approved.
    pub fn update_ledger(&mut self, id: &str, ledger: &Ledger) -> Result<()> {
        match self.ledger_state(id)? {
            ReviewState::Draft | ReviewState::Returned => self.update(id, ledger),
            s => Err(Error::Workflow {
                code: "ledger_locked",
                message: format!("a {} ledger is read-only", s.as_str()),
            }),
        }
    }

    /// 提交: the worker submits the ledger for review.
    pub fn submit_ledger(&mut self, id: &str) -> Result<()> {
        self.review_step(id, "submit", None)
    }

    /// 通过: a supervisor approves the ledger.
    pub fn approve_ledger(&mut self, id: &str) -> Result<()> {
        self.review_step(id, "approve", None)
    }

    /// 退回: a supervisor returns the ledger with a comment; it becomes editable again.
    pub fn return_ledger(&mut self, id: &str, comment: &str) -> Result<()> {
        if comment.trim().is_empty() {
            return Err(Error::invalid("empty_field", "comment", "a return needs a comment"));
        }
        self.review_step(id, "return", Some(comment.to_string()))
    }

    fn review_step(&mut self, id: &str, action: &str, comment: Option<String>) -> Result<()> {
        let state = self.ledger_state(id)?;
        let role = self.identity().role;
        if review::next(state, action, role).is_none() {
            let code = if review::next(state, action, crate::domain::Role::CommunitySupervisor).is_some()
                || review::next(state, action, crate::domain::Role::GridWorker).is_some()
            {
                "role_not_allowed"
            } else {
                "action_not_allowed_in_state"
            };
            return Err(Error::Workflow {
                code,
                message: format!("cannot {action} a {} ledger as {}", state.as_str(), role.as_str()),
            });
        }
        let scope: String = self
            .conn
            .query_row("SELECT grid_id FROM ledgers WHERE id = ?1", [id], |r| r.get(0))?;
        if !self.identity().may_write(&scope) {
            return Err(Error::OutOfScope { scope });
        }
        let base: String = self
            .conn
            .query_row("SELECT heads FROM docs WHERE id = ?1", [id], |r| r.get(0))?;
        let entry = ReviewEntry {
            id: Uuid::now_v7().to_string(),
            action: action.to_string(),
            actor: self.identity().account_id.clone(),
            role,
            at: self.now(),
            comment,
            base: base.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        };
        let json =
            serde_json::to_value(&entry).map_err(|e| Error::invalid("invalid_record", "transition", e.to_string()))?;
        self.append_transition(id, &[RecordKind::Ledger], &json)
    }
}
