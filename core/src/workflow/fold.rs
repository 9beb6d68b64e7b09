//! History, not a status field: [`Transition`]s and the deterministic [`fold`] into a
//! [`CaseState`], plus [`check`] / [`check_transition`] to refuse a transition before it is made.
//!
//! The store keeps transitions as an append-only list in each case's Automerge document.
//! Concurrent appends end up in the same list order on every replica, so folding the list in
//! order gives the same state everywhere. A transition that is not valid at its point of the
//! list (made from a state the case has left, by a role that may not take it, ...) is kept in
//! history and reported as a [`WorkflowConflict`]; it changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::definition::{
    ActionDef, CardLevel, DEFAULT_MAX_CHARS, Effect, ParamType, Satisfaction, Stamp, Target, WorkflowDefinition,
    parse_level, tree_rank,
};
use super::error::WorkflowError;
use crate::domain::{OrgLevel, Role};

/// 流转记录: one step of a case's history, as stored in its document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct Transition {
    /// Unique id (a UUID).
    pub id: String,
    /// Action name in the definition.
    pub action: String,
    /// State the actor saw when acting (its local fold).
    pub from: String,
    /// State the action leads to (equal to `from` for actions that stay).
    pub to: String,
    /// Account id of the actor.
    pub actor: String,
    /// The actor's role.
    pub role: Role,
    /// The org node the actor acted for.
    pub org_node: String,
    /// When, server-anchored estimate (never later than the server's receipt).
    pub at: DateTime<Utc>,
    /// The device's own clock at the time, kept for audits.
    pub device_time: DateTime<Utc>,
    /// Reason or comment (回退理由, 驳回理由 ...).
    #[serde(default)]
    pub reason: Option<String>,
    /// Parameters (`department`, `days`, `card`, `satisfaction` ...).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Attachments (SHA-256 of photos and files).
    #[serde(default)]
    pub attachments: Vec<String>,
}

/// 流程冲突: a transition of the history that was not valid at its point and changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowConflict {
    /// The skipped transition.
    pub transition_id: String,
    /// Its action.
    pub action: String,
    /// Who made it.
    pub actor: String,
    /// Their role.
    pub role: Role,
    /// When.
    pub at: DateTime<Utc>,
    /// The state it was made from.
    pub from: String,
    /// The state the case was in at that point of the history.
    pub state: String,
    /// Why it was skipped: a stable [`WorkflowError::code`] (`claim_lost`, `stale_from_state` ...).
    pub reason_code: String,
    /// Why, in English, for logs and supervisors' detail views.
    pub detail: String,
}

/// 督办单: one supervision order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisionOrder {
    /// The transition that issued it.
    pub transition_id: String,
    /// 普通 / 黄牌 / 红牌.
    pub card: CardLevel,
    /// Issuer (account).
    pub by: String,
    /// Issuer's role.
    pub role: Role,
    /// When.
    pub at: DateTime<Utc>,
    /// Its text.
    pub reason: Option<String>,
}

/// 延期申请 awaiting a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingExtension {
    /// The request transition.
    pub transition_id: String,
    /// Working days asked for.
    pub days: u32,
    /// Who asked.
    pub requested_by: String,
    /// When.
    pub requested_at: DateTime<Utc>,
}

/// Why a stage clock did not run for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseKind {
    /// An extension request was pending (counts only if the time-limit rule says so).
    Extension,
    /// The case was out of the stage (waiting for verification before 验证不通过 sent it back).
    OutOfStage,
}

/// An interval when a stage clock did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// Why.
    pub kind: PauseKind,
    /// Start.
    pub from: DateTime<Utc>,
    /// End; `None` while still paused.
    pub to: Option<DateTime<Utc>>,
}

/// The clock of one timed stage (受理, 派遣, 处置 ...), from its latest start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageClock {
    /// When the case (last) entered the stage.
    pub since: DateTime<Utc>,
    /// When it left the stage; `None` while in it.
    pub left_at: Option<DateTime<Utc>>,
    /// Intervals the clock did not run.
    pub pauses: Vec<Pause>,
    /// Approved extension days in this stage.
    pub extension_days: u32,
}

/// Key timestamps of a case (anchored times of the transitions that set them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyTimes {
    /// 上报 / 群众点单 (first).
    pub reported_at: Option<DateTime<Utc>>,
    /// First response: 受理, 不予受理, 自办自结 or 发布抢单 (first).
    pub responded_at: Option<DateTime<Utc>>,
    /// 受理 (first).
    pub accepted_at: Option<DateTime<Utc>>,
    /// 分派 (latest).
    pub dispatched_at: Option<DateTime<Utc>>,
    /// 办结 (latest; cleared by 验证不通过).
    pub handled_at: Option<DateTime<Utc>>,
    /// 督查验证通过 (latest; cleared by 验证不通过).
    pub verified_at: Option<DateTime<Utc>>,
    /// 反馈 (latest).
    pub feedback_at: Option<DateTime<Utc>>,
    /// 归档.
    pub archived_at: Option<DateTime<Utc>>,
    /// Reached a terminal state (归档 or 不予受理).
    pub closed_at: Option<DateTime<Utc>>,
}

impl KeyTimes {
    fn stamp(&mut self, stamp: Stamp, at: DateTime<Utc>) {
        let first = |slot: &mut Option<DateTime<Utc>>| {
            if slot.is_none() {
                *slot = Some(at);
            }
        };
        match stamp {
            Stamp::ReportedAt => first(&mut self.reported_at),
            Stamp::RespondedAt => first(&mut self.responded_at),
            Stamp::AcceptedAt => first(&mut self.accepted_at),
            Stamp::DispatchedAt => self.dispatched_at = Some(at),
            Stamp::HandledAt => self.handled_at = Some(at),
            Stamp::VerifiedAt => self.verified_at = Some(at),
            Stamp::FeedbackAt => self.feedback_at = Some(at),
            Stamp::ArchivedAt => self.archived_at = Some(at),
        }
    }
}

/// The folded state of one case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseState {
    /// Current state.
    pub state: String,
    /// Timed stage of the current state.
    pub stage: Option<String>,
    /// Ids of the applied transitions, in history order.
    pub applied: Vec<String>,
    /// Transitions skipped as invalid at their point, in history order.
    pub conflicts: Vec<WorkflowConflict>,
    /// Level holding the case (set by 上报 / 越级上报).
    pub holder: Option<OrgLevel>,
    /// Department (org node id) it is dispatched to.
    pub department: Option<String>,
    /// Account handling it.
    pub assignee: Option<String>,
    /// 抢单: the account whose claim won.
    pub claim_owner: Option<String>,
    /// The winning claim transition.
    pub claim_transition: Option<String>,
    /// Intake channel of a request.
    pub channel: Option<String>,
    /// 督办 orders, in history order.
    pub supervision: Vec<SupervisionOrder>,
    /// 催办 count.
    pub urge_count: u32,
    /// 延期申请 awaiting a decision.
    pub pending_extension: Option<PendingExtension>,
    /// Approved extension working days over the whole case.
    pub approved_extension_days: u32,
    /// Latest 二次走访 satisfaction.
    pub satisfaction: Option<Satisfaction>,
    /// Key timestamps.
    pub times: KeyTimes,
    /// Clock of each timed stage the case has entered (its latest entry).
    pub clocks: BTreeMap<String, StageClock>,
    /// Number of transitions folded (applied + conflicts).
    pub history_len: usize,
    #[serde(skip)]
    seen: BTreeSet<String>,
}

impl CaseState {
    /// The state of a case with an empty history.
    pub fn new(def: &WorkflowDefinition) -> Self {
        CaseState {
            state: def.initial().to_string(),
            stage: def.stage_of(def.initial()).map(str::to_string),
            applied: Vec::new(),
            conflicts: Vec::new(),
            holder: None,
            department: None,
            assignee: None,
            claim_owner: None,
            claim_transition: None,
            channel: None,
            supervision: Vec::new(),
            urge_count: 0,
            pending_extension: None,
            approved_extension_days: 0,
            satisfaction: None,
            times: KeyTimes::default(),
            clocks: BTreeMap::new(),
            history_len: 0,
            seen: BTreeSet::new(),
        }
    }

    /// Fold one more transition (the next one of the history).
    pub fn apply(&mut self, def: &WorkflowDefinition, t: &Transition) {
        self.history_len += 1;
        match validate_transition(def, self, t) {
            Ok((action, to)) => {
                self.seen.insert(t.id.clone());
                self.apply_valid(def, action, t, to);
                self.applied.push(t.id.clone());
            }
            Err(e) => {
                self.seen.insert(t.id.clone());
                self.conflicts.push(WorkflowConflict {
                    transition_id: t.id.clone(),
                    action: t.action.clone(),
                    actor: t.actor.clone(),
                    role: t.role,
                    at: t.at,
                    from: t.from.clone(),
                    state: self.state.clone(),
                    reason_code: e.code().to_string(),
                    detail: e.to_string(),
                });
            }
        }
    }

    /// Whether the case is in a terminal state.
    pub fn is_closed(&self, def: &WorkflowDefinition) -> bool {
        def.is_terminal(&self.state)
    }

    /// Whether an extension request is pending (whether that stops the clock is up to the
    /// time-limit rule, see [`crate::workflow::DeadlineStatus::paused`]).
    pub fn is_paused(&self) -> bool {
        self.pending_extension.is_some()
    }

    fn apply_valid(&mut self, def: &WorkflowDefinition, action: &ActionDef, t: &Transition, to: String) {
        let reopen = action.effects.contains(&Effect::Reopen);
        let new_stage = def.stage_of(&to).map(str::to_string);
        if new_stage != self.stage {
            if let Some(old) = self.stage.as_ref().and_then(|s| self.clocks.get_mut(s)) {
                old.left_at = Some(t.at);
                for p in old.pauses.iter_mut().filter(|p| p.to.is_none()) {
                    p.to = Some(t.at);
                }
            }
            // A pending extension concerns the stage being left.
            self.pending_extension = None;
            if let Some(stage) = &new_stage {
                match self.clocks.get_mut(stage) {
                    Some(clock) if reopen => {
                        if let Some(left) = clock.left_at.take() {
                            clock.pauses.push(Pause {
                                kind: PauseKind::OutOfStage,
                                from: left,
                                to: Some(t.at),
                            });
                        }
                    }
                    _ => {
                        self.clocks.insert(
                            stage.clone(),
                            StageClock {
                                since: t.at,
                                left_at: None,
                                pauses: Vec::new(),
                                extension_days: 0,
                            },
                        );
                    }
                }
            }
            self.stage = new_stage;
        }
        self.state = to;

        let param = |name: &str| t.params.get(name).map(|v| v.trim().to_string());
        for e in &action.effects {
            match e {
                Effect::SetHolder { level } => self.holder = Some(*level),
                Effect::SetHolderFromParam { param: p } => {
                    if let Some(level) = param(p).as_deref().and_then(parse_level) {
                        self.holder = Some(level);
                    }
                }
                Effect::SetChannel { param: p } => self.channel = param(p),
                Effect::Dispatch { param: p } => {
                    self.department = param(p);
                    self.assignee = None;
                }
                Effect::AssignSelf => self.assignee = Some(t.actor.clone()),
                Effect::ClearAssignment => {
                    self.department = None;
                    self.assignee = None;
                }
                Effect::OpenClaim => {
                    self.claim_owner = None;
                    self.claim_transition = None;
                }
                Effect::Claim => {
                    self.claim_owner = Some(t.actor.clone());
                    self.claim_transition = Some(t.id.clone());
                    self.assignee = Some(t.actor.clone());
                    self.department = None;
                }
                Effect::RequestExtension { param: p } => {
                    let days = param(p).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
                    self.pending_extension = Some(PendingExtension {
                        transition_id: t.id.clone(),
                        days,
                        requested_by: t.actor.clone(),
                        requested_at: t.at,
                    });
                    if let Some(clock) = self.current_clock_mut() {
                        clock.pauses.push(Pause {
                            kind: PauseKind::Extension,
                            from: t.at,
                            to: None,
                        });
                    }
                }
                Effect::ApproveExtension { param: p } => {
                    let requested = self.pending_extension.take().map_or(0, |x| x.days);
                    let days = p
                        .as_deref()
                        .and_then(param)
                        .filter(|v| !v.is_empty())
                        .and_then(|v| v.parse::<u32>().ok())
                        .unwrap_or(requested);
                    self.approved_extension_days = self.approved_extension_days.saturating_add(days);
                    if let Some(clock) = self.current_clock_mut() {
                        clock.extension_days = clock.extension_days.saturating_add(days);
                        close_extension_pause(clock, t.at);
                    }
                }
                Effect::RejectExtension => {
                    self.pending_extension = None;
                    if let Some(clock) = self.current_clock_mut() {
                        close_extension_pause(clock, t.at);
                    }
                }
                Effect::Supervise { param: p } => {
                    if let Some(card) = param(p).as_deref().and_then(CardLevel::parse) {
                        self.supervision.push(SupervisionOrder {
                            transition_id: t.id.clone(),
                            card,
                            by: t.actor.clone(),
                            role: t.role,
                            at: t.at,
                            reason: t.reason.clone(),
                        });
                    }
                }
                Effect::Urge => self.urge_count = self.urge_count.saturating_add(1),
                Effect::FollowUp { param: p } => {
                    if let Some(s) = param(p).as_deref().and_then(Satisfaction::parse) {
                        self.satisfaction = Some(s);
                    }
                }
                Effect::Reopen => {
                    self.times.handled_at = None;
                    self.times.verified_at = None;
                }
            }
        }
        for s in &action.stamps {
            self.times.stamp(*s, t.at);
        }
        if def.is_terminal(&self.state) {
            self.times.closed_at = Some(t.at);
        }
    }

    fn current_clock_mut(&mut self) -> Option<&mut StageClock> {
        let stage = self.stage.as_ref()?;
        self.clocks.get_mut(stage)
    }
}

fn close_extension_pause(clock: &mut StageClock, at: DateTime<Utc>) {
    for p in clock
        .pauses
        .iter_mut()
        .filter(|p| p.kind == PauseKind::Extension && p.to.is_none())
    {
        p.to = Some(at);
    }
}

/// Fold a whole history, in list order.
pub fn fold(def: &WorkflowDefinition, transitions: &[Transition]) -> CaseState {
    let mut state = CaseState::new(def);
    for t in transitions {
        state.apply(def, t);
    }
    state
}

/// Whether `action` may be taken now by `role` at an org node of level `org_level`, with
/// `params`; returns the state it leads to. The reason (for actions with `reason_required`) is
/// not seen here: [`check_transition`] checks the finished transition exactly as the fold will.
pub fn check(
    def: &WorkflowDefinition,
    state: &CaseState,
    action: &str,
    role: Role,
    org_level: OrgLevel,
    params: &BTreeMap<String, String>,
) -> Result<String, WorkflowError> {
    let a = Attempt {
        action,
        role,
        level: org_level,
        params,
        reason: None,
        from: None,
        actor: None,
    };
    evaluate(def, state, &a).map(|(_, to)| to)
}

/// The fold's own rule for one transition appended after `state`: call it on a transition
/// before appending it, and the local fold is sure to apply it. Returns the target state.
pub fn check_transition(def: &WorkflowDefinition, state: &CaseState, t: &Transition) -> Result<String, WorkflowError> {
    validate_transition(def, state, t).map(|(_, to)| to)
}

/// Actions `role` at `org_level` could take now (parameters aside), in definition order:
/// what a phone shows as buttons.
pub fn available_actions<'d>(
    def: &'d WorkflowDefinition,
    state: &CaseState,
    role: Role,
    org_level: OrgLevel,
) -> Vec<&'d ActionDef> {
    let empty = BTreeMap::new();
    def.actions()
        .iter()
        .filter(|a| match check(def, state, &a.name, role, org_level, &empty) {
            Ok(_) => true,
            // Parameters are the user's to give, but the case's own state must allow the action
            // whatever they are: an extension already pending, or none to approve, hides the
            // button (the parameter check comes first in `check`, so it cannot tell).
            Err(WorkflowError::MissingParam { .. } | WorkflowError::InvalidParam { .. }) => {
                extension_state_refuses(a, state).is_none()
            }
            Err(_) => false,
        })
        .collect()
}

/// The refusal an action's extension effects meet in `state`, parameters aside.
fn extension_state_refuses(action: &ActionDef, state: &CaseState) -> Option<WorkflowError> {
    action.effects.iter().find_map(|e| match e {
        Effect::RequestExtension { .. } if state.pending_extension.is_some() => Some(WorkflowError::ExtensionPending),
        Effect::ApproveExtension { .. } | Effect::RejectExtension if state.pending_extension.is_none() => {
            Some(WorkflowError::NoPendingExtension)
        }
        _ => None,
    })
}

struct Attempt<'a> {
    action: &'a str,
    role: Role,
    level: OrgLevel,
    params: &'a BTreeMap<String, String>,
    /// `Some` when the reason is to be checked.
    reason: Option<Option<&'a str>>,
    /// `Some` when the transition's recorded from-state is to be checked.
    from: Option<&'a str>,
    /// `Some` in the fold, to tell a lost claim from a repeated one.
    actor: Option<&'a str>,
}

fn validate_transition<'d>(
    def: &'d WorkflowDefinition,
    state: &CaseState,
    t: &Transition,
) -> Result<(&'d ActionDef, String), WorkflowError> {
    if state.seen.contains(&t.id) {
        return Err(WorkflowError::DuplicateTransition(t.id.clone()));
    }
    let a = Attempt {
        action: &t.action,
        role: t.role,
        level: t.role.level(),
        params: &t.params,
        reason: Some(t.reason.as_deref()),
        from: Some(&t.from),
        actor: Some(&t.actor),
    };
    let (action, to) = evaluate(def, state, &a)?;
    if t.to != to {
        return Err(WorkflowError::ToStateMismatch {
            recorded: t.to.clone(),
            expected: to,
        });
    }
    Ok((action, to))
}

fn evaluate<'d>(
    def: &'d WorkflowDefinition,
    state: &CaseState,
    a: &Attempt<'_>,
) -> Result<(&'d ActionDef, String), WorkflowError> {
    let action = def
        .action(a.action)
        .ok_or_else(|| WorkflowError::UnknownAction(a.action.to_string()))?;
    if def.is_terminal(&state.state) {
        return Err(WorkflowError::CaseClosed {
            state: state.state.clone(),
        });
    }
    if action.effects.contains(&Effect::Claim)
        && let Some(owner) = &state.claim_owner
    {
        return Err(match a.actor {
            Some(actor) if actor != owner => WorkflowError::ClaimLost { owner: owner.clone() },
            _ => WorkflowError::AlreadyClaimed { owner: owner.clone() },
        });
    }
    if let Some(from) = a.from
        && from != state.state
    {
        return Err(WorkflowError::StaleFromState {
            from: from.to_string(),
            state: state.state.clone(),
        });
    }
    if !action.from.contains(&state.state) {
        return Err(WorkflowError::ActionNotAllowedInState {
            action: action.name.clone(),
            state: state.state.clone(),
        });
    }
    if !action.roles.contains(&a.role) {
        return Err(WorkflowError::RoleNotAllowed {
            action: action.name.clone(),
            role: a.role,
        });
    }
    if let Some(levels) = &action.levels
        && !levels.contains(&a.level)
    {
        return Err(WorkflowError::LevelNotAllowed {
            action: action.name.clone(),
            level: a.level,
        });
    }
    if action.holder_only
        && let Some(holder) = state.holder
    {
        let ok = match (tree_rank(a.level), tree_rank(holder)) {
            (Some(actor), Some(held)) => actor <= held,
            _ => false,
        };
        if !ok {
            return Err(WorkflowError::NotHolder {
                action: action.name.clone(),
                level: a.level,
                holder,
            });
        }
    }
    check_params(action, a.params)?;
    if let Some(reason) = a.reason
        && action.reason_required
        && reason.is_none_or(|r| r.trim().is_empty())
    {
        return Err(WorkflowError::MissingParam {
            action: action.name.clone(),
            param: "reason".into(),
        });
    }
    if let Some(refusal) = extension_state_refuses(action, state) {
        return Err(refusal);
    }
    for e in &action.effects {
        if let Effect::ApproveExtension { param: Some(p) } = e
            && let Some(pending) = &state.pending_extension
            && let Some(days) = a.params.get(p).and_then(|v| v.trim().parse::<u32>().ok())
            && days > pending.days
        {
            return Err(WorkflowError::InvalidParam {
                action: action.name.clone(),
                param: p.clone(),
                reason: format!("more than the {} days requested", pending.days),
            });
        }
    }
    let to = match &action.to {
        Target::Stay => state.state.clone(),
        Target::State(s) => s.clone(),
    };
    Ok((action, to))
}

fn check_params(action: &ActionDef, params: &BTreeMap<String, String>) -> Result<(), WorkflowError> {
    let invalid = |param: &str, reason: String| WorkflowError::InvalidParam {
        action: action.name.clone(),
        param: param.to_string(),
        reason,
    };
    if let Some(unknown) = params.keys().find(|k| action.param(k).is_none()) {
        return Err(invalid(unknown, "not a parameter of this action".into()));
    }
    for spec in &action.params {
        let value = params.get(&spec.name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let Some(value) = value else {
            if spec.required {
                return Err(WorkflowError::MissingParam {
                    action: action.name.clone(),
                    param: spec.name.clone(),
                });
            }
            continue;
        };
        match spec.kind {
            ParamType::Text => {
                let max = spec.max_chars.unwrap_or(DEFAULT_MAX_CHARS);
                if value.chars().count() > max {
                    return Err(invalid(&spec.name, format!("longer than {max} characters")));
                }
            }
            ParamType::Int => {
                let n: i64 = value
                    .parse()
                    .map_err(|_| invalid(&spec.name, "not a whole number".into()))?;
                let (lo, hi) = (spec.min.unwrap_or(i64::MIN), spec.max.unwrap_or(i64::MAX));
                if n < lo || n > hi {
                    return Err(invalid(&spec.name, format!("outside {lo}..={hi}")));
                }
            }
            ParamType::Choice => {
                if !spec.values.iter().any(|c| c.key == value) {
                    return Err(invalid(&spec.name, "not one of the allowed values".into()));
                }
            }
        }
    }
    Ok(())
}
