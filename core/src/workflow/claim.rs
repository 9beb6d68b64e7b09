//! 我要抢单: who won the claim of an open request.
//!
//! The first valid claim in the merged history wins; any later claim (made concurrently on
//! another phone) is a [`crate::workflow::WorkflowConflict`] with code `claim_lost`. Every
//! replica folds the same list, so every replica names the same owner.

use serde::{Deserialize, Serialize};

use super::fold::CaseState;

/// What a claimant is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimOutcome {
    /// 抢单成功: the account owns the request.
    Won,
    /// 抢单未成功: someone else owns it.
    Lost,
    /// Nobody owns it (not claimed yet, or opened for a new claim round).
    NotClaimed,
}

/// The outcome for `account` on this case.
pub fn claim_outcome(state: &CaseState, account: &str) -> ClaimOutcome {
    match &state.claim_owner {
        Some(owner) if owner == account => ClaimOutcome::Won,
        Some(_) => ClaimOutcome::Lost,
        None => ClaimOutcome::NotClaimed,
    }
}
