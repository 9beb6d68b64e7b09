//! 接诉即办 closed loop: the pure workflow engine of incidents (网格事件) and resident requests
//! (群众诉求).
//!
//! Pure: no SQLite, no Automerge, no I/O; phone and server run the same rules.
//!
//! - [`definition`]: the workflow as data (states, actions, roles, parameters), validated on
//!   load. The default ships as `core/data/workflow_default.json`.
//! - [`mod@fold`]: a case's history is an append-only list of [`Transition`]s; its state is
//!   [`fold()`] over that list. Transitions invalid at their point become [`WorkflowConflict`]s.
//!   [`check`] refuses a transition before it is made, with typed [`WorkflowError`]s.
//! - [`claim`]: 我要抢单 — the first valid claim wins, the others are told [`ClaimOutcome::Lost`].
//! - [`calendar`]: working days and hours, with PRC holidays and 调休 make-up days as data.
//! - [`limits`]: time limits per (category × scale × stage), yellow/red thresholds, deadlines.
//! - [`metrics`]: 响应率, 按期处置率, 办结率, 满意率 over query-table rows.
//!
//! ```
//! use std::collections::BTreeMap;
//! use gridbook_core::domain::Role;
//! use gridbook_core::workflow::{self, Transition};
//!
//! let def = workflow::default_definition().unwrap();
//! let at = chrono::DateTime::parse_from_rfc3339("2026-03-02T01:00:00Z").unwrap().to_utc();
//! let state = workflow::fold(&def, &[]);
//! let to = workflow::check(&def, &state, "report", Role::GridWorker, Role::GridWorker.level(), &BTreeMap::new()).unwrap();
//! let t = Transition {
//!     id: "t1".into(), action: "report".into(), from: state.state.clone(), to,
//!     actor: "worker-1".into(), role: Role::GridWorker, org_node: "grid-1".into(),
//!     at, device_time: at, reason: None, params: BTreeMap::new(), attachments: vec![],
//! };
//! assert_eq!(workflow::fold(&def, &[t]).state, "reported");
//! ```

pub mod calendar;
pub mod claim;
pub mod definition;
pub mod error;
pub mod fold;
pub mod limits;
pub mod metrics;

pub use calendar::WorkCalendar;
pub use claim::{ClaimOutcome, claim_outcome};
pub use definition::{
    ActionDef, CardLevel, Effect, ParamSpec, ParamType, Satisfaction, Stamp, StateDef, Target, WorkflowDefinition,
};
pub use error::WorkflowError;
pub use fold::{
    CaseState, KeyTimes, Pause, PauseKind, PendingExtension, StageClock, SupervisionOrder, Transition,
    WorkflowConflict, available_actions, check, check_transition, fold,
};
pub use limits::{
    CaseClass, DeadlineLevel, DeadlineStatus, LimitUnit, ResolvedLimit, TimeLimits, compute_deadline, deadline_status,
    stage_deadline,
};
pub use metrics::{CaseFacts, CaseRow, Metrics, MetricsQuery, Ratio, SatisfactionCounts, compute_metrics};

/// The default workflow definition (JSON text).
pub const DEFAULT_DEFINITION_JSON: &str = include_str!("../data/workflow_default.json");
/// The default time limits (JSON text).
pub const DEFAULT_TIME_LIMITS_JSON: &str = include_str!("../data/time_limits_default.json");
/// The PRC working calendar 2025–2027 (JSON text).
pub const CALENDAR_CN_JSON: &str = include_str!("../data/calendar_cn.json");

/// The default workflow definition, validated.
pub fn default_definition() -> Result<WorkflowDefinition, WorkflowError> {
    WorkflowDefinition::from_json(DEFAULT_DEFINITION_JSON)
}

/// The default time limits, validated.
pub fn default_time_limits() -> Result<TimeLimits, WorkflowError> {
    TimeLimits::from_json(DEFAULT_TIME_LIMITS_JSON)
}

/// The PRC working calendar, validated.
pub fn calendar_cn() -> Result<WorkCalendar, WorkflowError> {
    WorkCalendar::from_json(CALENDAR_CN_JSON)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_data_files_load_and_fit_together() {
        let def = default_definition().expect("workflow");
        let limits = default_time_limits().expect("limits");
        calendar_cn().expect("calendar");
        limits.validate_against(&def).expect("limits cover every stage");
    }

    #[test]
    fn definition_errors_are_typed() {
        let base: serde_json::Value = serde_json::from_str(DEFAULT_DEFINITION_JSON).unwrap();
        let with = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v = base.clone();
            f(&mut v);
            WorkflowDefinition::from_json(&v.to_string())
                .map(|_| ())
                .map_err(|e| e.code())
        };
        assert_eq!(with(&|_| {}), Ok(()));
        assert_eq!(
            with(&|v| v["actions"][1]["to"] = "nowhere".into()),
            Err("unknown_state")
        );
        assert_eq!(
            with(&|v| v["actions"][1]["name"] = "intake".into()),
            Err("duplicate_action")
        );
        assert_eq!(
            with(&|v| v["states"][1]["name"] = "draft".into()),
            Err("duplicate_state")
        );
        assert_eq!(
            with(&|v| v["actions"][0]["from"] = serde_json::json!(["archived"])),
            Err("transition_from_terminal")
        );
        // No action leads to `rejected` any more.
        assert_eq!(
            with(&|v| {
                let actions = v["actions"].as_array_mut().unwrap();
                actions.retain(|a| a["name"] != "reject");
            }),
            Err("unreachable_state")
        );
        assert_eq!(
            with(&|v| v["actions"][0]["roles"] = serde_json::json!([])),
            Err("invalid_definition")
        );
        assert_eq!(with(&|v| v["initial"] = "nope".into()), Err("unknown_state"));
        assert_eq!(
            with(&|v| v["actions"][0]["colour"] = "red".into()),
            Err("invalid_data_file")
        );
        assert_eq!(
            WorkflowDefinition::from_json("{").map(|_| ()).map_err(|e| e.code()),
            Err("invalid_data_file")
        );
    }
}
