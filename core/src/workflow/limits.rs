//! 处置时限: time limits per (category × scale × stage), with yellow and red thresholds, in
//! working days, working hours or natural hours, and the deadline of a case's stage.
//!
//! How a deadline is worked out (see also `docs/metrics.md`):
//!
//! 1. The stage clock starts when the case entered the stage (`StageClock::since`).
//! 2. The unpaused deadline: `working_days` N → the end of the working day of the
//!    (N + approved extension days)-th working day after the start day (the start day is not
//!    counted); `working_hours` H → when H working hours have passed, then moved by the
//!    approved extension days to the same time of a later working day; `natural_hours` H →
//!    start + H hours, then moved likewise.
//! 3. The budget is the time (working or natural) from the start to that deadline. Pauses do
//!    not consume it: the time outside the stage before 验证不通过 sent the case back, and —
//!    if the rule says `pause_on_extension` — the time an extension request was pending (a
//!    pending request counts up to `now`). The deadline is when the budget is used up.
//! 4. Yellow and red are the instants when `yellow_pct` / `red_pct` of the budget is used up.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::WorkCalendar;
use super::definition::{WorkflowDefinition, is_snake_key};
use super::error::WorkflowError;
use super::fold::{CaseState, PauseKind, StageClock};

/// Largest `amount` of a rule, per unit, to keep arithmetic sane.
const MAX_DAYS: u32 = 365;
const MAX_HOURS: u32 = 24 * 365;

/// The wildcard of a rule's category or scale.
pub const ANY: &str = "*";

/// A validated time-limits file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeLimits {
    /// Stable id.
    pub id: String,
    /// Version (bump on edits).
    pub version: u32,
    /// zh-CN label.
    pub label_zh: String,
    /// Where the figures come from.
    pub source: String,
    /// Thresholds and pause flag for rules that do not say.
    pub defaults: RuleDefaults,
    /// The stage whose deadline is the response deadline (响应率).
    pub response_stage: String,
    /// The stage whose deadline is the handling deadline (按期处置率).
    pub handling_stage: String,
    /// Timed stages.
    pub stages: Vec<Labelled>,
    /// 规模: individual / group / major_group.
    pub scales: Vec<Labelled>,
    /// Two-level categories.
    pub categories: Vec<CategoryDef>,
    /// The rules.
    pub rules: Vec<LimitRule>,
}

/// A key with labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Labelled {
    /// Stable snake_case key.
    pub key: String,
    /// zh-CN label.
    pub label_zh: String,
    /// English label.
    #[serde(default)]
    pub label_en: String,
}

/// A first-level category with its second-level categories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryDef {
    /// Stable snake_case key (`dispute`, `safety_hazard` ...).
    pub key: String,
    /// zh-CN label (矛盾纠纷 ...).
    pub label_zh: String,
    /// English label.
    #[serde(default)]
    pub label_en: String,
    /// Second-level categories (keys unique within the parent).
    #[serde(default)]
    pub children: Vec<Labelled>,
}

/// Defaults of the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDefaults {
    /// Yellow (黄灯) when this share of the budget is used.
    pub yellow_pct: u8,
    /// Red (红灯) when this share is used (100 = at the deadline).
    pub red_pct: u8,
    /// Whether the clock stops while an extension request is pending.
    pub pause_on_extension: bool,
}

/// Unit of a time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitUnit {
    /// 工作日: ends at the end of the N-th working day after the start day.
    WorkingDays,
    /// 工作小时: within the calendar's work periods.
    WorkingHours,
    /// 自然小时: around the clock (突发事件).
    NaturalHours,
}

/// One rule of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitRule {
    /// Stage key.
    pub stage: String,
    /// Category key or `*`.
    pub category: String,
    /// Second-level category key (only with a category).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subcategory: Option<String>,
    /// Scale key or `*`.
    pub scale: String,
    /// How many units.
    pub amount: u32,
    /// Unit.
    pub unit: LimitUnit,
    /// Override of the default yellow threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yellow_pct: Option<u8>,
    /// Override of the default red threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub red_pct: Option<u8>,
    /// Override of the default pause flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_on_extension: Option<bool>,
}

/// The rule that applies to one case and stage, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedLimit {
    /// Stage key.
    pub stage: String,
    /// How many units.
    pub amount: u32,
    /// Unit.
    pub unit: LimitUnit,
    /// Yellow threshold (percent of the budget).
    pub yellow_pct: u8,
    /// Red threshold (percent of the budget).
    pub red_pct: u8,
    /// Whether a pending extension request stops the clock.
    pub pause_on_extension: bool,
}

/// What a case is, for choosing its rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseClass<'a> {
    /// First-level category key.
    pub category: &'a str,
    /// Second-level category key.
    pub subcategory: Option<&'a str>,
    /// Scale key.
    pub scale: &'a str,
}

/// How close a stage is to its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineLevel {
    /// 正常
    OnTime,
    /// 黄灯: past the yellow threshold.
    Yellow,
    /// 红灯: past the red threshold, not yet overdue.
    Red,
    /// 超期
    Overdue,
}

/// The deadline of one stage of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlineStatus {
    /// Stage key.
    pub stage: String,
    /// The rule used.
    pub limit: ResolvedLimit,
    /// When the stage clock started.
    pub started_at: DateTime<Utc>,
    /// 截止时间, pauses and extensions included.
    pub deadline: DateTime<Utc>,
    /// 黄灯 from.
    pub yellow_at: DateTime<Utc>,
    /// 红灯 from.
    pub red_at: DateTime<Utc>,
    /// Level at `now`, or at the moment the case left the stage.
    pub level: DeadlineLevel,
    /// 超期: `level == Overdue`.
    pub overdue: bool,
    /// The clock is stopped right now (extension pending and the rule pauses).
    pub paused: bool,
    /// When the case left the stage (the deadline is then final).
    pub finished_at: Option<DateTime<Utc>>,
    /// Approved extension working days in the stage.
    pub extension_days: u32,
}

fn bad(s: String) -> WorkflowError {
    WorkflowError::InvalidLimits(s)
}

fn check_pct(what: &str, yellow: u8, red: u8) -> Result<(), WorkflowError> {
    if yellow == 0 || yellow > red || red > 100 {
        return Err(bad(format!(
            "{what}: need 0 < yellow_pct ({yellow}) <= red_pct ({red}) <= 100"
        )));
    }
    Ok(())
}

fn check_labelled(what: &str, items: &[Labelled]) -> Result<(), WorkflowError> {
    let mut keys = BTreeSet::new();
    for i in items {
        if !is_snake_key(&i.key) || !keys.insert(i.key.as_str()) {
            return Err(bad(format!("{what} key `{}` is not a distinct snake_case key", i.key)));
        }
        if i.label_zh.trim().is_empty() {
            return Err(bad(format!("{what} `{}` has no zh-CN label", i.key)));
        }
    }
    Ok(())
}

impl TimeLimits {
    /// Parse and validate a time-limits file.
    pub fn from_json(json: &str) -> Result<Self, WorkflowError> {
        let limits: TimeLimits = serde_json::from_str(json).map_err(|e| WorkflowError::Parse {
            file: "time_limits",
            reason: e.to_string(),
        })?;
        limits.validate()?;
        Ok(limits)
    }

    fn validate(&self) -> Result<(), WorkflowError> {
        check_pct("defaults", self.defaults.yellow_pct, self.defaults.red_pct)?;
        check_labelled("stage", &self.stages)?;
        check_labelled("scale", &self.scales)?;
        let mut cats = BTreeSet::new();
        for c in &self.categories {
            if !is_snake_key(&c.key) || !cats.insert(c.key.as_str()) || c.label_zh.trim().is_empty() {
                return Err(bad(format!(
                    "category `{}` needs a distinct snake_case key and a label",
                    c.key
                )));
            }
            check_labelled(&format!("subcategory of {}", c.key), &c.children)?;
        }
        for s in [&self.response_stage, &self.handling_stage] {
            if self.stage(s).is_none() {
                return Err(bad(format!("stage `{s}` is not declared")));
            }
        }
        let mut seen = BTreeSet::new();
        for r in &self.rules {
            let what = format!("rule {}/{}/{}", r.stage, r.category, r.scale);
            if self.stage(&r.stage).is_none() {
                return Err(bad(format!("{what}: unknown stage")));
            }
            if r.category != ANY && self.category(&r.category).is_none() {
                return Err(bad(format!("{what}: unknown category")));
            }
            if let Some(sub) = &r.subcategory {
                let known = self
                    .category(&r.category)
                    .is_some_and(|c| c.children.iter().any(|s| &s.key == sub));
                if !known {
                    return Err(bad(format!("{what}: unknown subcategory `{sub}`")));
                }
            }
            if r.scale != ANY && self.scales.iter().all(|s| s.key != r.scale) {
                return Err(bad(format!("{what}: unknown scale")));
            }
            let max = match r.unit {
                LimitUnit::WorkingDays => MAX_DAYS,
                LimitUnit::WorkingHours | LimitUnit::NaturalHours => MAX_HOURS,
            };
            if r.amount == 0 || r.amount > max {
                return Err(bad(format!("{what}: amount must be 1..={max}")));
            }
            check_pct(
                &what,
                r.yellow_pct.unwrap_or(self.defaults.yellow_pct),
                r.red_pct.unwrap_or(self.defaults.red_pct),
            )?;
            if !seen.insert((&r.stage, &r.category, &r.subcategory, &r.scale)) {
                return Err(bad(format!("{what}: declared twice")));
            }
        }
        for s in &self.stages {
            if !self
                .rules
                .iter()
                .any(|r| r.stage == s.key && r.category == ANY && r.scale == ANY)
            {
                return Err(bad(format!(
                    "stage `{}` has no catch-all rule (category * and scale *)",
                    s.key
                )));
            }
        }
        Ok(())
    }

    /// Check that every timed stage of `def` has limits.
    pub fn validate_against(&self, def: &WorkflowDefinition) -> Result<(), WorkflowError> {
        for s in def.stages() {
            if self.stage(s).is_none() {
                return Err(bad(format!("workflow stage `{s}` has no time limits")));
            }
        }
        Ok(())
    }

    /// A stage by key.
    pub fn stage(&self, key: &str) -> Option<&Labelled> {
        self.stages.iter().find(|s| s.key == key)
    }
    /// A first-level category by key.
    pub fn category(&self, key: &str) -> Option<&CategoryDef> {
        self.categories.iter().find(|c| c.key == key)
    }
    /// A scale by key.
    pub fn scale(&self, key: &str) -> Option<&Labelled> {
        self.scales.iter().find(|s| s.key == key)
    }

    /// The rule for `stage` of a case: the most specific match (subcategory over category over
    /// `*`, then exact scale over `*`). Unknown keys fall back to the `*` rules.
    pub fn rule(&self, stage: &str, class: &CaseClass<'_>) -> Result<ResolvedLimit, WorkflowError> {
        let score = |r: &LimitRule| -> Option<u8> {
            let cat = match (&r.subcategory, r.category.as_str()) {
                (Some(sub), c) if c == class.category && class.subcategory == Some(sub.as_str()) => 4,
                (Some(_), _) => return None,
                (None, ANY) => 0,
                (None, c) if c == class.category => 2,
                (None, _) => return None,
            };
            let scale = match r.scale.as_str() {
                ANY => 0,
                s if s == class.scale => 1,
                _ => return None,
            };
            Some(cat + scale)
        };
        let best = self
            .rules
            .iter()
            .filter(|r| r.stage == stage)
            .filter_map(|r| score(r).map(|s| (s, r)))
            .max_by_key(|(s, _)| *s)
            .map(|(_, r)| r)
            .ok_or_else(|| WorkflowError::NoTimeLimit {
                stage: stage.to_string(),
                category: class.category.to_string(),
                scale: class.scale.to_string(),
            })?;
        Ok(ResolvedLimit {
            stage: stage.to_string(),
            amount: best.amount,
            unit: best.unit,
            yellow_pct: best.yellow_pct.unwrap_or(self.defaults.yellow_pct),
            red_pct: best.red_pct.unwrap_or(self.defaults.red_pct),
            pause_on_extension: best.pause_on_extension.unwrap_or(self.defaults.pause_on_extension),
        })
    }
}

/// The deadline of the stage the case is in now (`None` when its state has no timed stage:
/// 采集, 已反馈, closed cases).
pub fn deadline_status(
    limits: &TimeLimits,
    calendar: &WorkCalendar,
    state: &CaseState,
    class: &CaseClass<'_>,
    now: DateTime<Utc>,
) -> Result<Option<DeadlineStatus>, WorkflowError> {
    match &state.stage {
        Some(stage) => stage_deadline(limits, calendar, state, class, stage, now),
        None => Ok(None),
    }
}

/// The deadline of `stage` for the case (current or finished; `None` if never entered).
pub fn stage_deadline(
    limits: &TimeLimits,
    calendar: &WorkCalendar,
    state: &CaseState,
    class: &CaseClass<'_>,
    stage: &str,
    now: DateTime<Utc>,
) -> Result<Option<DeadlineStatus>, WorkflowError> {
    let Some(clock) = state.clocks.get(stage) else {
        return Ok(None);
    };
    let limit = limits.rule(stage, class)?;
    Ok(Some(compute_deadline(&limit, calendar, clock, now)))
}

/// Working or natural time.
#[derive(Clone, Copy)]
enum Measure<'a> {
    Working(&'a WorkCalendar),
    Natural,
}

impl Measure<'_> {
    fn elapsed(self, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
        match self {
            Measure::Working(cal) => cal.working_time_between(a, b),
            Measure::Natural => (b - a).max(Duration::zero()),
        }
    }

    fn advance(self, start: DateTime<Utc>, amount: Duration) -> DateTime<Utc> {
        match self {
            Measure::Working(cal) => cal.add_working_time(start, amount),
            Measure::Natural => start
                .checked_add_signed(amount.max(Duration::zero()))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }

    /// When `amount` has passed after `start`, not counting the (sorted, disjoint) pauses.
    fn advance_excluding(
        self,
        start: DateTime<Utc>,
        amount: Duration,
        pauses: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> DateTime<Utc> {
        let mut cursor = start;
        let mut left = amount;
        for &(from, to) in pauses {
            if to <= cursor {
                continue;
            }
            let from = from.max(cursor);
            let candidate = self.advance(cursor, left);
            if candidate <= from {
                return candidate;
            }
            left -= self.elapsed(cursor, from);
            cursor = to;
        }
        self.advance(cursor, left)
    }
}

/// The deadline of one stage clock under one rule, evaluated at `now`.
pub fn compute_deadline(
    limit: &ResolvedLimit,
    calendar: &WorkCalendar,
    clock: &StageClock,
    now: DateTime<Utc>,
) -> DeadlineStatus {
    let start = clock.since;
    let ext = clock.extension_days;
    let (unpaused, measure) = match limit.unit {
        LimitUnit::WorkingDays => (
            calendar.working_days_deadline(start, limit.amount.saturating_add(ext)),
            Measure::Working(calendar),
        ),
        LimitUnit::WorkingHours => (
            calendar.add_working_days(calendar.add_working_hours(start, limit.amount), ext),
            Measure::Working(calendar),
        ),
        LimitUnit::NaturalHours => (
            calendar.add_working_days(
                start
                    .checked_add_signed(Duration::hours(i64::from(limit.amount)))
                    .unwrap_or(DateTime::<Utc>::MAX_UTC),
                ext,
            ),
            Measure::Natural,
        ),
    };
    let budget = measure.elapsed(start, unpaused);

    // Pauses that count, clipped to the clock's run and merged.
    let mut paused_now = false;
    let mut pauses: Vec<(DateTime<Utc>, DateTime<Utc>)> = clock
        .pauses
        .iter()
        .filter(|p| p.kind == PauseKind::OutOfStage || limit.pause_on_extension)
        .filter_map(|p| {
            let end = match p.to {
                Some(to) => to,
                None => {
                    paused_now = clock.left_at.is_none();
                    clock.left_at.unwrap_or(now).max(p.from)
                }
            };
            let from = p.from.max(start);
            (end > from).then_some((from, end))
        })
        .collect();
    pauses.sort();
    let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::with_capacity(pauses.len());
    for (from, to) in pauses {
        match merged.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => merged.push((from, to)),
        }
    }

    let share = |pct: u8| budget * i32::from(pct) / 100;
    let deadline = measure.advance_excluding(start, budget, &merged);
    let yellow_at = measure.advance_excluding(start, share(limit.yellow_pct), &merged);
    let red_at = measure.advance_excluding(start, share(limit.red_pct), &merged);
    let at = clock.left_at.unwrap_or(now);
    let level = if at > deadline {
        DeadlineLevel::Overdue
    } else if at >= red_at {
        DeadlineLevel::Red
    } else if at >= yellow_at {
        DeadlineLevel::Yellow
    } else {
        DeadlineLevel::OnTime
    };
    DeadlineStatus {
        stage: limit.stage.clone(),
        limit: limit.clone(),
        started_at: start,
        deadline,
        yellow_at,
        red_at,
        level,
        overdue: level == DeadlineLevel::Overdue,
        paused: paused_now,
        finished_at: clock.left_at,
        extension_days: ext,
    }
}
