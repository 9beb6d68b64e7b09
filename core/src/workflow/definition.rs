//! The workflow as data: states, actions, who may take them, what they need and what they do.
//!
//! A district edits the JSON file (`core/data/workflow_default.json` is the default); the engine
//! only knows the small fixed vocabulary of [`Effect`]s and [`Stamp`]s an action may have.
//! [`WorkflowDefinition::from_json`] validates the whole file before anything uses it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::error::WorkflowError;
use crate::domain::{CaseKind, OrgLevel, Role};

/// The JSON word for "the action does not change the state".
pub const STAY: &str = "stay";

/// A validated workflow definition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowDefinition {
    id: String,
    version: u32,
    label_zh: String,
    label_en: String,
    initial: String,
    states: Vec<StateDef>,
    actions: Vec<ActionDef>,
    #[serde(skip)]
    state_index: BTreeMap<String, usize>,
    #[serde(skip)]
    action_index: BTreeMap<String, usize>,
}

/// The file layout, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DefinitionFile {
    id: String,
    version: u32,
    label_zh: String,
    #[serde(default)]
    label_en: String,
    initial: String,
    states: Vec<StateDef>,
    actions: Vec<ActionDef>,
}

/// 环节: one state of the closed loop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateDef {
    /// Stable snake_case name (`draft`, `reported` ...).
    pub name: String,
    /// zh-CN label.
    pub label_zh: String,
    /// English label.
    #[serde(default)]
    pub label_en: String,
    /// The timed stage (key of the time-limits file) the case is in while in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// No action leaves a terminal state (归档, 不予受理).
    #[serde(default)]
    pub terminal: bool,
}

/// Where an action leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Target {
    /// The state does not change (督办, 催办, 申请延期 ...).
    Stay,
    /// This state.
    State(String),
}

impl TryFrom<String> for Target {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.is_empty() {
            return Err("empty target state".into());
        }
        Ok(if s == STAY { Target::Stay } else { Target::State(s) })
    }
}

impl From<Target> for String {
    fn from(t: Target) -> String {
        match t {
            Target::Stay => STAY.to_string(),
            Target::State(s) => s,
        }
    }
}

/// 操作: one action a person may take on a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionDef {
    /// Stable snake_case name, stored in every transition (`dispatch`, `claim` ...).
    pub name: String,
    /// zh-CN label.
    pub label_zh: String,
    /// English label.
    #[serde(default)]
    pub label_en: String,
    /// Which kinds of case show this action (a hint for menus; the fold does not know a case's
    /// kind, so it does not enforce it).
    #[serde(default = "both_kinds")]
    pub kinds: Vec<CaseKind>,
    /// States the action may be taken from.
    pub from: Vec<String>,
    /// Where it leads.
    pub to: Target,
    /// Roles that may take it.
    pub roles: Vec<Role>,
    /// Org levels of the actor's node that may take it (any level when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<Vec<OrgLevel>>,
    /// The actor must be at the level holding the case, or above it (see [`Effect::SetHolder`]).
    #[serde(default)]
    pub holder_only: bool,
    /// The transition must carry a non-empty `reason` (回退, 驳回延期, 验证不通过 ...).
    #[serde(default)]
    pub reason_required: bool,
    /// Parameters, checked on every transition.
    #[serde(default)]
    pub params: Vec<ParamSpec>,
    /// What the action does to the case besides moving it.
    #[serde(default)]
    pub effects: Vec<Effect>,
    /// Key timestamps the action sets.
    #[serde(default)]
    pub stamps: Vec<Stamp>,
}

fn both_kinds() -> Vec<CaseKind> {
    vec![CaseKind::Incident, CaseKind::Request]
}

impl ActionDef {
    /// The declared parameter `name`.
    pub fn param(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Whether one of the action's effects satisfies `pred`.
    pub fn has_effect(&self, pred: impl Fn(&Effect) -> bool) -> bool {
        self.effects.iter().any(pred)
    }
}

/// A parameter of an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    /// Key in [`crate::workflow::Transition::params`].
    pub name: String,
    /// zh-CN label.
    pub label_zh: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: ParamType,
    /// Whether it must be given (default: yes).
    #[serde(default = "yes")]
    pub required: bool,
    /// Smallest value of an `int`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    /// Largest value of an `int`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    /// Longest `text` (characters; default [`DEFAULT_MAX_CHARS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chars: Option<usize>,
    /// The allowed values of a `choice`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Choice>,
}

fn yes() -> bool {
    true
}

/// Longest text parameter when the definition does not say.
pub const DEFAULT_MAX_CHARS: usize = 200;

/// Type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    /// Free text (an org node id, a note).
    Text,
    /// A whole number in `min..=max`.
    Int,
    /// One of `values`.
    Choice,
}

/// One value of a `choice` parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    /// Stable key, stored in the transition.
    pub key: String,
    /// zh-CN label.
    pub label_zh: String,
}

/// What an action does to the case besides moving it: the engine's fixed vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Effect {
    /// The case is now held by this level (上报 → community). Actions with `holder_only` need
    /// an actor at this level or above.
    SetHolder {
        /// `community`, `sub_district` or `district`.
        level: OrgLevel,
    },
    /// 越级上报: the holder level comes from a choice parameter.
    SetHolderFromParam {
        /// The parameter.
        param: String,
    },
    /// Record the intake channel (电话, 窗口, 微信群, 应用).
    SetChannel {
        /// The parameter.
        param: String,
    },
    /// 分派: the department (org node id) from a parameter; clears the assignee.
    Dispatch {
        /// The parameter.
        param: String,
    },
    /// The actor becomes the assignee (部门接单, 自办自结).
    AssignSelf,
    /// Department and assignee are cleared (回退).
    ClearAssignment,
    /// A new claim round: clears the claim owner (发布抢单).
    OpenClaim,
    /// 我要抢单: the first valid claim makes the actor owner and assignee.
    Claim,
    /// 申请延期: working days from a parameter; pauses the clock if the rule says so.
    RequestExtension {
        /// The parameter.
        param: String,
    },
    /// 批准延期: adds the requested working days (or the optional parameter's value, which may
    /// not exceed the request).
    ApproveExtension {
        /// The optional parameter.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        param: Option<String>,
    },
    /// 驳回延期
    RejectExtension,
    /// 督办: a supervision order with a card level from a parameter.
    Supervise {
        /// The parameter (`normal`, `yellow`, `red`).
        param: String,
    },
    /// 催办: counts one urge.
    Urge,
    /// 二次走访: the resident's satisfaction from a parameter (latest wins).
    FollowUp {
        /// The parameter (`satisfied`, `basically_satisfied`, `dissatisfied`).
        param: String,
    },
    /// 验证不通过: back to work; clears `handled_at`/`verified_at` and resumes the stage clock
    /// it re-enters (the time spent waiting for verification does not count).
    Reopen,
}

/// Key timestamps an action may set. `reported_at`, `responded_at` and `accepted_at` keep the
/// first value; the others keep the latest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stamp {
    /// 上报 (or intake of a request): the clock of the response starts.
    ReportedAt,
    /// First response: 受理, 不予受理, 自办自结, 发布抢单.
    RespondedAt,
    /// 受理
    AcceptedAt,
    /// 分派
    DispatchedAt,
    /// 办结
    HandledAt,
    /// 督查验证通过
    VerifiedAt,
    /// 反馈
    FeedbackAt,
    /// 归档
    ArchivedAt,
}

/// Card levels of 督办.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardLevel {
    /// 普通督办
    Normal,
    /// 黄牌督办
    Yellow,
    /// 红牌督办
    Red,
}

impl CardLevel {
    /// Every card level.
    pub const ALL: [CardLevel; 3] = [CardLevel::Normal, CardLevel::Yellow, CardLevel::Red];

    /// Stable key.
    pub fn as_str(self) -> &'static str {
        match self {
            CardLevel::Normal => "normal",
            CardLevel::Yellow => "yellow",
            CardLevel::Red => "red",
        }
    }

    /// Parse a stable key.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// 满意度 recorded by 二次走访.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Satisfaction {
    /// 满意
    Satisfied,
    /// 基本满意
    BasicallySatisfied,
    /// 不满意
    Dissatisfied,
}

impl Satisfaction {
    /// Every value.
    pub const ALL: [Satisfaction; 3] = [
        Satisfaction::Satisfied,
        Satisfaction::BasicallySatisfied,
        Satisfaction::Dissatisfied,
    ];

    /// Stable key.
    pub fn as_str(self) -> &'static str {
        match self {
            Satisfaction::Satisfied => "satisfied",
            Satisfaction::BasicallySatisfied => "basically_satisfied",
            Satisfaction::Dissatisfied => "dissatisfied",
        }
    }

    /// Parse a stable key.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Counted as satisfied by 满意率 (满意 or 基本满意).
    pub fn counts_as_satisfied(self) -> bool {
        !matches!(self, Satisfaction::Dissatisfied)
    }
}

/// Position of a level in the org tree, top first; `None` for departments (beside the tree).
pub(crate) fn tree_rank(level: OrgLevel) -> Option<u8> {
    match level {
        OrgLevel::District => Some(0),
        OrgLevel::SubDistrict => Some(1),
        OrgLevel::Community => Some(2),
        OrgLevel::Grid => Some(3),
        OrgLevel::SubGrid => Some(4),
        OrgLevel::Building => Some(5),
        OrgLevel::Unit => Some(6),
        OrgLevel::Department => None,
    }
}

/// Parse an org level from its snake_case form.
pub(crate) fn parse_level(s: &str) -> Option<OrgLevel> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

/// Levels that may hold a case (accept it, publish it, reject it).
fn is_holder_level(level: OrgLevel) -> bool {
    matches!(level, OrgLevel::District | OrgLevel::SubDistrict | OrgLevel::Community)
}

pub(crate) fn is_snake_key(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z')) && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

impl WorkflowDefinition {
    /// Parse and validate a definition.
    pub fn from_json(json: &str) -> Result<Self, WorkflowError> {
        let file: DefinitionFile = serde_json::from_str(json).map_err(|e| WorkflowError::Parse {
            file: "workflow",
            reason: e.to_string(),
        })?;
        Self::build(file)
    }

    fn build(f: DefinitionFile) -> Result<Self, WorkflowError> {
        let bad = |s: String| Err(WorkflowError::InvalidDefinition(s));
        if !is_snake_key(&f.id) {
            return bad(format!("id `{}` is not a snake_case key", f.id));
        }
        if f.states.is_empty() {
            return bad("no states".into());
        }
        let mut state_index = BTreeMap::new();
        for (i, s) in f.states.iter().enumerate() {
            if !is_snake_key(&s.name) || s.name == STAY {
                return bad(format!("state name `{}` is not a usable snake_case key", s.name));
            }
            if s.label_zh.trim().is_empty() {
                return bad(format!("state `{}` has no zh-CN label", s.name));
            }
            if let Some(stage) = &s.stage
                && !is_snake_key(stage)
            {
                return bad(format!("stage `{stage}` of state `{}` is not a snake_case key", s.name));
            }
            if state_index.insert(s.name.clone(), i).is_some() {
                return Err(WorkflowError::DuplicateState(s.name.clone()));
            }
        }
        let initial = match state_index.get(&f.initial) {
            Some(&i) => &f.states[i],
            None => {
                return Err(WorkflowError::UnknownState {
                    state: f.initial.clone(),
                    context: "initial".into(),
                });
            }
        };
        if initial.terminal {
            return bad(format!("initial state `{}` is terminal", f.initial));
        }

        let mut action_index = BTreeMap::new();
        for (i, a) in f.actions.iter().enumerate() {
            if !is_snake_key(&a.name) {
                return bad(format!("action name `{}` is not a snake_case key", a.name));
            }
            if action_index.insert(a.name.clone(), i).is_some() {
                return Err(WorkflowError::DuplicateAction(a.name.clone()));
            }
            validate_action(a, &f.states, &state_index)?;
        }

        // Every state reachable from the initial one.
        let mut seen = BTreeSet::from([f.initial.clone()]);
        let mut queue = VecDeque::from([f.initial.clone()]);
        while let Some(s) = queue.pop_front() {
            for a in &f.actions {
                if let Target::State(to) = &a.to
                    && a.from.contains(&s)
                    && seen.insert(to.clone())
                {
                    queue.push_back(to.clone());
                }
            }
        }
        if let Some(s) = f.states.iter().find(|s| !seen.contains(&s.name)) {
            return Err(WorkflowError::UnreachableState(s.name.clone()));
        }

        Ok(WorkflowDefinition {
            id: f.id,
            version: f.version,
            label_zh: f.label_zh,
            label_en: f.label_en,
            initial: f.initial,
            states: f.states,
            actions: f.actions,
            state_index,
            action_index,
        })
    }

    /// Stable id of the definition.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Its version (bump when a district edits it).
    pub fn version(&self) -> u32 {
        self.version
    }
    /// zh-CN label.
    pub fn label_zh(&self) -> &str {
        &self.label_zh
    }
    /// English label.
    pub fn label_en(&self) -> &str {
        &self.label_en
    }
    /// The state of a case with an empty history.
    pub fn initial(&self) -> &str {
        &self.initial
    }
    /// All states, in file order.
    pub fn states(&self) -> &[StateDef] {
        &self.states
    }
    /// All actions, in file order.
    pub fn actions(&self) -> &[ActionDef] {
        &self.actions
    }
    /// A state by name.
    pub fn state(&self, name: &str) -> Option<&StateDef> {
        self.state_index.get(name).map(|&i| &self.states[i])
    }
    /// An action by name.
    pub fn action(&self, name: &str) -> Option<&ActionDef> {
        self.action_index.get(name).map(|&i| &self.actions[i])
    }
    /// Whether `state` is terminal (unknown states count as not terminal).
    pub fn is_terminal(&self, state: &str) -> bool {
        self.state(state).is_some_and(|s| s.terminal)
    }
    /// The timed stage of `state`.
    pub fn stage_of(&self, state: &str) -> Option<&str> {
        self.state(state).and_then(|s| s.stage.as_deref())
    }
    /// Every stage key the states use.
    pub fn stages(&self) -> BTreeSet<&str> {
        self.states.iter().filter_map(|s| s.stage.as_deref()).collect()
    }
}

fn validate_action(a: &ActionDef, states: &[StateDef], index: &BTreeMap<String, usize>) -> Result<(), WorkflowError> {
    let bad = |s: String| Err(WorkflowError::InvalidDefinition(s));
    let ctx = || format!("action {}", a.name);
    if a.label_zh.trim().is_empty() {
        return bad(format!("action `{}` has no zh-CN label", a.name));
    }
    if a.from.is_empty() {
        return bad(format!("action `{}` has no from-states", a.name));
    }
    for s in &a.from {
        match index.get(s) {
            None => {
                return Err(WorkflowError::UnknownState {
                    state: s.clone(),
                    context: ctx(),
                });
            }
            Some(&i) if states[i].terminal => {
                return Err(WorkflowError::TransitionFromTerminal {
                    action: a.name.clone(),
                    state: s.clone(),
                });
            }
            Some(_) => {}
        }
    }
    if let Target::State(to) = &a.to
        && !index.contains_key(to)
    {
        return Err(WorkflowError::UnknownState {
            state: to.clone(),
            context: ctx(),
        });
    }
    if a.roles.is_empty() {
        return bad(format!("action `{}` allows no role", a.name));
    }
    if let Some(levels) = &a.levels {
        // The fold sees the role, not the node: a role whose own level is excluded could never
        // take the action on another replica.
        if let Some(r) = a.roles.iter().find(|r| !levels.contains(&r.level())) {
            return bad(format!(
                "action `{}` allows role `{}` but not its level",
                a.name,
                r.as_str()
            ));
        }
    }
    let mut names = BTreeSet::new();
    for p in &a.params {
        if !is_snake_key(&p.name) || p.name == "reason" {
            return bad(format!(
                "parameter `{}` of `{}` is not a usable snake_case key",
                p.name, a.name
            ));
        }
        if !names.insert(p.name.as_str()) {
            return bad(format!("parameter `{}` of `{}` is declared twice", p.name, a.name));
        }
        match p.kind {
            ParamType::Int => match (p.min, p.max) {
                (Some(lo), Some(hi)) if lo <= hi => {}
                _ => {
                    return bad(format!("int parameter `{}` of `{}` needs min <= max", p.name, a.name));
                }
            },
            ParamType::Choice => {
                let keys: BTreeSet<&str> = p.values.iter().map(|c| c.key.as_str()).collect();
                if keys.is_empty() || keys.len() != p.values.len() || !keys.iter().all(|k| is_snake_key(k)) {
                    return bad(format!(
                        "choice parameter `{}` of `{}` needs distinct snake_case values",
                        p.name, a.name
                    ));
                }
            }
            ParamType::Text => {
                if p.max_chars == Some(0) {
                    return bad(format!(
                        "text parameter `{}` of `{}` allows no characters",
                        p.name, a.name
                    ));
                }
            }
        }
    }
    // Effects refer to declared parameters of the right type.
    let need = |param: &str, kind: ParamType, required: bool| -> Result<&ParamSpec, WorkflowError> {
        match a.param(param) {
            Some(p) if p.kind == kind && (!required || p.required) => Ok(p),
            _ => Err(WorkflowError::InvalidDefinition(format!(
                "effect of `{}` needs a{} {:?} parameter `{param}`",
                a.name,
                if required { " required" } else { "n" },
                kind
            ))),
        }
    };
    let choices_within = |p: &ParamSpec, ok: &dyn Fn(&str) -> bool| -> Result<(), WorkflowError> {
        match p.values.iter().find(|c| !ok(&c.key)) {
            Some(c) => Err(WorkflowError::InvalidDefinition(format!(
                "value `{}` of `{}` in `{}` has no meaning to the engine",
                c.key, p.name, a.name
            ))),
            None => Ok(()),
        }
    };
    let mut claims = 0;
    for e in &a.effects {
        match e {
            Effect::SetHolder { level } => {
                if !is_holder_level(*level) {
                    return bad(format!("`{}` sets a holder level that cannot hold cases", a.name));
                }
            }
            Effect::SetHolderFromParam { param } => {
                let p = need(param, ParamType::Choice, true)?;
                choices_within(p, &|k| parse_level(k).is_some_and(is_holder_level))?;
            }
            Effect::SetChannel { param } => {
                need(param, ParamType::Choice, true)?;
            }
            Effect::Dispatch { param } => {
                need(param, ParamType::Text, true)?;
            }
            Effect::RequestExtension { param } => {
                let p = need(param, ParamType::Int, true)?;
                if p.min.unwrap_or(0) < 1 {
                    return bad(format!("extension days of `{}` must be at least 1", a.name));
                }
            }
            Effect::ApproveExtension { param: Some(param) } => {
                let p = need(param, ParamType::Int, false)?;
                if p.min.unwrap_or(0) < 1 {
                    return bad(format!("extension days of `{}` must be at least 1", a.name));
                }
            }
            Effect::Supervise { param } => {
                let p = need(param, ParamType::Choice, true)?;
                choices_within(p, &|k| CardLevel::parse(k).is_some())?;
            }
            Effect::FollowUp { param } => {
                let p = need(param, ParamType::Choice, true)?;
                choices_within(p, &|k| Satisfaction::parse(k).is_some())?;
            }
            Effect::Claim => claims += 1,
            Effect::ApproveExtension { param: None }
            | Effect::AssignSelf
            | Effect::ClearAssignment
            | Effect::OpenClaim
            | Effect::RejectExtension
            | Effect::Urge
            | Effect::Reopen => {}
        }
    }
    if claims > 1 {
        return bad(format!("`{}` claims twice", a.name));
    }
    let extension_effects = a
        .effects
        .iter()
        .filter(|e| {
            matches!(
                e,
                Effect::RequestExtension { .. } | Effect::ApproveExtension { .. } | Effect::RejectExtension
            )
        })
        .count();
    if extension_effects > 1 {
        return bad(format!("`{}` has more than one extension effect", a.name));
    }
    Ok(())
}
