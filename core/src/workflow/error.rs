//! [`WorkflowError`]: why a definition, calendar or limits file was refused, or why a transition
//! may not be taken. Every variant has a stable snake_case [`WorkflowError::code`], which is
//! also the `reason_code` of a [`crate::workflow::WorkflowConflict`].

use crate::domain::{OrgLevel, Role};
use crate::error::Error;

/// Everything the workflow engine refuses, with a stable code per variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    // ---- loading data files ----
    /// A data file is not valid JSON of the expected shape.
    #[error("{file} is not valid: {reason}")]
    Parse {
        /// Which file (`workflow`, `calendar`, `time_limits`).
        file: &'static str,
        /// The parser's message.
        reason: String,
    },
    /// A state name used by the definition is not declared.
    #[error("unknown state `{state}` in {context}")]
    UnknownState {
        /// The undeclared name.
        state: String,
        /// Where it was used (`initial`, `action dispatch` ...).
        context: String,
    },
    /// Two states share a name.
    #[error("state `{0}` is declared twice")]
    DuplicateState(String),
    /// Two actions share a name.
    #[error("action `{0}` is declared twice")]
    DuplicateAction(String),
    /// A state that no chain of actions reaches from the initial state.
    #[error("state `{0}` cannot be reached from the initial state")]
    UnreachableState(String),
    /// An action leaves a terminal state.
    #[error("action `{action}` leaves terminal state `{state}`")]
    TransitionFromTerminal {
        /// The action.
        action: String,
        /// The terminal state it names in `from`.
        state: String,
    },
    /// Any other inconsistency of the workflow definition.
    #[error("invalid workflow definition: {0}")]
    InvalidDefinition(String),
    /// The calendar file is inconsistent.
    #[error("invalid calendar: {0}")]
    InvalidCalendar(String),
    /// The time-limits file is inconsistent (or does not fit the workflow definition).
    #[error("invalid time limits: {0}")]
    InvalidLimits(String),

    // ---- refusing a transition ----
    /// No action of that name in the definition.
    #[error("unknown action `{0}`")]
    UnknownAction(String),
    /// The case is in a terminal state (archived, rejected): nothing more can happen.
    #[error("the case is closed (state `{state}`)")]
    CaseClosed {
        /// The terminal state.
        state: String,
    },
    /// The action is not available in the current state.
    #[error("action `{action}` is not allowed in state `{state}`")]
    ActionNotAllowedInState {
        /// The action.
        action: String,
        /// The current state.
        state: String,
    },
    /// The role may not take the action.
    #[error("role `{}` may not take action `{action}`", role.as_str())]
    RoleNotAllowed {
        /// The action.
        action: String,
        /// The refused role.
        role: Role,
    },
    /// The actor's org level may not take the action.
    #[error("action `{action}` may not be taken at org level {level:?}")]
    LevelNotAllowed {
        /// The action.
        action: String,
        /// The refused level.
        level: OrgLevel,
    },
    /// The case is held by a level the actor is below (e.g. after 越级上报 to the sub-district,
    /// the community can no longer accept it).
    #[error("the case is held at level {holder:?}; level {level:?} may not take `{action}`")]
    NotHolder {
        /// The action.
        action: String,
        /// The actor's level.
        level: OrgLevel,
        /// The level holding the case.
        holder: OrgLevel,
    },
    /// A required parameter (or the reason) is missing.
    #[error("action `{action}` needs `{param}`")]
    MissingParam {
        /// The action.
        action: String,
        /// The parameter (`reason` for a missing reason).
        param: String,
    },
    /// A parameter has a value the definition does not allow, or is not declared.
    #[error("parameter `{param}` of `{action}` is invalid: {reason}")]
    InvalidParam {
        /// The action.
        action: String,
        /// The parameter.
        param: String,
        /// Why, in English.
        reason: String,
    },
    /// An extension is already pending: decide it before asking again.
    #[error("an extension request is already pending")]
    ExtensionPending,
    /// Approving or rejecting an extension when none is pending.
    #[error("no extension request is pending")]
    NoPendingExtension,
    /// 抢单: the request already has an owner.
    #[error("the request was already claimed by `{owner}`")]
    AlreadyClaimed {
        /// The account that holds the claim.
        owner: String,
    },

    // ---- folding concurrent history (conflict codes only) ----
    /// A claim that lost to an earlier claim in the merged history.
    #[error("claim lost to `{owner}`")]
    ClaimLost {
        /// The winner.
        owner: String,
    },
    /// The transition was made from a state the case is no longer in (a concurrent transition
    /// came first in the merged history).
    #[error("made from state `{from}`, but the case was in `{state}`")]
    StaleFromState {
        /// The state the transition was made from.
        from: String,
        /// The state the case was in at that point of the history.
        state: String,
    },
    /// The transition names a target state other than the one its action leads to.
    #[error("recorded target `{recorded}` differs from `{expected}`")]
    ToStateMismatch {
        /// What the transition says.
        recorded: String,
        /// What the definition says.
        expected: String,
    },
    /// A second transition with an id already in the history.
    #[error("transition `{0}` appears twice")]
    DuplicateTransition(String),

    // ---- time limits ----
    /// No time-limit rule matches (category × scale × stage).
    #[error("no time limit for stage `{stage}`, category `{category}`, scale `{scale}`")]
    NoTimeLimit {
        /// Stage key.
        stage: String,
        /// Category key.
        category: String,
        /// Scale key.
        scale: String,
    },
}

impl WorkflowError {
    /// The stable machine-readable code (never renamed).
    pub fn code(&self) -> &'static str {
        match self {
            WorkflowError::Parse { .. } => "invalid_data_file",
            WorkflowError::UnknownState { .. } => "unknown_state",
            WorkflowError::DuplicateState(_) => "duplicate_state",
            WorkflowError::DuplicateAction(_) => "duplicate_action",
            WorkflowError::UnreachableState(_) => "unreachable_state",
            WorkflowError::TransitionFromTerminal { .. } => "transition_from_terminal",
            WorkflowError::InvalidDefinition(_) => "invalid_definition",
            WorkflowError::InvalidCalendar(_) => "invalid_calendar",
            WorkflowError::InvalidLimits(_) => "invalid_time_limits",
            WorkflowError::UnknownAction(_) => "unknown_action",
            WorkflowError::CaseClosed { .. } => "case_closed",
            WorkflowError::ActionNotAllowedInState { .. } => "action_not_allowed_in_state",
            WorkflowError::RoleNotAllowed { .. } => "role_not_allowed",
            WorkflowError::LevelNotAllowed { .. } => "level_not_allowed",
            WorkflowError::NotHolder { .. } => "not_holder_level",
            WorkflowError::MissingParam { .. } => "missing_param",
            WorkflowError::InvalidParam { .. } => "invalid_param",
            WorkflowError::ExtensionPending => "extension_pending",
            WorkflowError::NoPendingExtension => "no_pending_extension",
            WorkflowError::AlreadyClaimed { .. } => "already_claimed",
            WorkflowError::ClaimLost { .. } => "claim_lost",
            WorkflowError::StaleFromState { .. } => "stale_from_state",
            WorkflowError::ToStateMismatch { .. } => "to_state_mismatch",
            WorkflowError::DuplicateTransition(_) => "duplicate_transition",
            WorkflowError::NoTimeLimit { .. } => "no_time_limit",
        }
    }

    /// A short message for a person, zh-CN (no personal data).
    pub fn message_zh(&self) -> String {
        match self {
            WorkflowError::Parse { .. }
            | WorkflowError::UnknownState { .. }
            | WorkflowError::DuplicateState(_)
            | WorkflowError::DuplicateAction(_)
            | WorkflowError::UnreachableState(_)
            | WorkflowError::TransitionFromTerminal { .. }
            | WorkflowError::InvalidDefinition(_) => "流程配置有误".into(),
            WorkflowError::InvalidCalendar(_) => "工作日历配置有误".into(),
            WorkflowError::InvalidLimits(_) => "时限配置有误".into(),
            WorkflowError::UnknownAction(_) => "未知的操作".into(),
            WorkflowError::CaseClosed { .. } => "案件已结束，不能再操作".into(),
            WorkflowError::ActionNotAllowedInState { .. } => "当前环节不能进行此操作".into(),
            WorkflowError::RoleNotAllowed { .. } => "您的角色不能进行此操作".into(),
            WorkflowError::LevelNotAllowed { .. } => "您所在层级不能进行此操作".into(),
            WorkflowError::NotHolder { .. } => "案件已由上级办理，本级不能操作".into(),
            WorkflowError::MissingParam { param, .. } if param == "reason" => "请填写理由".into(),
            WorkflowError::MissingParam { .. } => "缺少必填项".into(),
            WorkflowError::InvalidParam { .. } => "填写的内容不符合要求".into(),
            WorkflowError::ExtensionPending => "已有延期申请待审批".into(),
            WorkflowError::NoPendingExtension => "没有待审批的延期申请".into(),
            WorkflowError::AlreadyClaimed { .. } => "该诉求已被抢单".into(),
            WorkflowError::ClaimLost { .. } => "抢单未成功，已被他人抢先".into(),
            WorkflowError::StaleFromState { .. } => "与他人同时操作，本次操作未生效".into(),
            WorkflowError::ToStateMismatch { .. } => "操作与流程配置不一致".into(),
            WorkflowError::DuplicateTransition(_) => "重复的操作记录".into(),
            WorkflowError::NoTimeLimit { .. } => "未配置处置时限".into(),
        }
    }
}

/// A refusal of the workflow engine as the crate's [`crate::error::Error::Workflow`], with the
/// engine's own code.
impl From<WorkflowError> for Error {
    fn from(e: WorkflowError) -> Self {
        Error::Workflow {
            code: e.code(),
            message: e.to_string(),
        }
    }
}
