//! 台账审核: the review of a visit ledger, as a fold over its append-only history.
//!
//! A worker submits (提交), a supervisor approves (通过) or returns it with a comment (退回);
//! a returned ledger is editable again and is submitted anew. Entries that were invalid at
//! their point (two supervisors acting on the same submission offline) are kept in history
//! and listed as conflicts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::Role;

/// One review step in a ledger's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewEntry {
    /// Unique id of the entry.
    pub id: String,
    /// `submit`, `approve` or `return`.
    pub action: String,
    /// Account.
    pub actor: String,
    /// Its role.
    pub role: Role,
    /// When (anchored device time).
    pub at: DateTime<Utc>,
    /// 退回意见: the comment of a return.
    pub comment: Option<String>,
    /// Heads of the ledger when the step was taken (edits not below them came later or
    /// concurrently).
    pub base: Vec<String>,
}

/// 审核状态
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// 草稿
    Draft,
    /// 已提交
    Submitted,
    /// 已通过 (read-only)
    Approved,
    /// 已退回 (editable again)
    Returned,
}

impl ReviewState {
    /// Stable text form.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::Draft => "draft",
            ReviewState::Submitted => "submitted",
            ReviewState::Approved => "approved",
            ReviewState::Returned => "returned",
        }
    }
}

/// The folded review of a ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    /// Current state.
    pub state: ReviewState,
    /// The comment of the last return in force.
    pub comment: Option<String>,
    /// Ids of entries skipped because they were invalid at their point.
    pub conflicts: Vec<String>,
    /// The entry that put the ledger in its current state.
    pub last: Option<ReviewEntry>,
}

/// Whether `role` may review ledgers.
pub fn is_reviewer(role: Role) -> bool {
    matches!(
        role,
        Role::CommunitySupervisor | Role::SubDistrictSupervisor | Role::DistrictAdmin
    )
}

/// The state after `action` from `state` by `role`, if allowed.
pub fn next(state: ReviewState, action: &str, role: Role) -> Option<ReviewState> {
    match (state, action) {
        (ReviewState::Draft | ReviewState::Returned, "submit")
            if matches!(role, Role::GridWorker | Role::GridLeader) =>
        {
            Some(ReviewState::Submitted)
        }
        (ReviewState::Submitted, "approve") if is_reviewer(role) => Some(ReviewState::Approved),
        (ReviewState::Submitted | ReviewState::Approved, "return") if is_reviewer(role) => Some(ReviewState::Returned),
        _ => None,
    }
}

/// Fold the history in list order (the same on every replica).
pub fn fold(entries: &[ReviewEntry]) -> Review {
    let mut r = Review {
        state: ReviewState::Draft,
        comment: None,
        conflicts: vec![],
        last: None,
    };
    for e in entries {
        match next(r.state, &e.action, e.role) {
            Some(s) => {
                r.state = s;
                r.comment = if s == ReviewState::Returned {
                    e.comment.clone()
                } else if s == ReviewState::Approved {
                    None
                } else {
                    r.comment
                };
                r.last = Some(e.clone());
            }
            None => r.conflicts.push(e.id.clone()),
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: &str, action: &str, role: Role) -> ReviewEntry {
        ReviewEntry {
            id: id.into(),
            action: action.into(),
            actor: "a".into(),
            role,
            at: Utc::now(),
            comment: Some("补充走访记录".into()),
            base: vec![],
        }
    }

    #[test]
    fn submit_return_resubmit_approve() {
        let h = [
            e("1", "submit", Role::GridWorker),
            e("2", "return", Role::CommunitySupervisor),
            e("3", "submit", Role::GridWorker),
            e("4", "approve", Role::CommunitySupervisor),
        ];
        assert_eq!(fold(&h[..2]).state, ReviewState::Returned);
        assert_eq!(fold(&h[..2]).comment.as_deref(), Some("补充走访记录"));
        let r = fold(&h);
        assert_eq!(r.state, ReviewState::Approved);
        assert!(r.conflicts.is_empty());
    }

    #[test]
    fn concurrent_reviews_keep_both_and_flag_one() {
        let h = [
            e("1", "submit", Role::GridWorker),
            e("2", "approve", Role::CommunitySupervisor),
            e("3", "approve", Role::SubDistrictSupervisor),
        ];
        let r = fold(&h);
        assert_eq!(r.state, ReviewState::Approved);
        assert_eq!(r.conflicts, vec!["3".to_string()]);
        assert_eq!(fold(&[e("1", "approve", Role::GridWorker)]).conflicts.len(), 1);
    }
}
