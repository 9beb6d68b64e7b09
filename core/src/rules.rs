//! 规则版本: published versions of the workflow definition (流程定义), the time limits (办理时限)
//! and the holiday calendar (节假日/工作日历), as ordinary records of the district scope.
//!
//! The files shipped in `core/data/` are version 1 of each rule. A district publishes a later
//! version as a [`RuleSet`] record (only the server's administration may make one); every device
//! receives it at its next sync and materializes it into the `rule_sets` query table.
//!
//! A case pins the workflow and time-limits versions it was created with (the document's root
//! key `rules`, absent = version 1, see [`RulePins`]); its fold, deadlines and metrics use those.
//! The calendar is not pinned: every case uses the newest calendar held, so a deadline running
//! into a newly published year counts that year's 调休 (ADR 0007).
//!
//! A case may arrive on a device before the version it pins. Until then it is folded with the
//! highest version held that is not above its pin (the documented fallback); when the version
//! arrives, the cases pinning it (or a later one) are re-materialized, so the rows equal a
//! rebuild whatever the arrival order.
//!
//! Rank 3 of the crate's layers (core/README.md): pure, it uses `workflow`, `doc`, `domain`.
//! Reading the versions a database holds ([`RuleBook::load`]) is `db::rule_sets`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use automerge::AutoCommit;
use serde::{Deserialize, Serialize};

use crate::doc;
use crate::domain::{DISTRICT_SCOPE, Record, RecordKind};
use crate::error::{Error, Result};
use crate::workflow::{self, TimeLimits, WorkCalendar, WorkflowDefinition, WorkflowError};

/// The rules a case is handled with: workflow definition, time limits, working calendar (the
/// versions a case pins).
#[derive(Debug, Clone)]
pub struct Rules {
    /// 流程定义
    pub definition: Arc<WorkflowDefinition>,
    /// 办理时限
    pub limits: Arc<TimeLimits>,
    /// 工作日历
    pub calendar: Arc<WorkCalendar>,
    /// The versions these are.
    pub versions: RuleVersions,
}

/// The default rules shipped with the app (version 1 of each), parsed once.
pub fn default_rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| Rules {
        // The shipped data files are validated by unit tests; a broken build cannot pass them.
        definition: Arc::new(workflow::default_definition().expect("shipped workflow definition is valid")),
        limits: Arc::new(workflow::default_time_limits().expect("shipped time limits are valid")),
        calendar: Arc::new(workflow::calendar_cn().expect("shipped calendar is valid")),
        versions: RuleVersions::SHIPPED,
    })
}

/// The version of the rules shipped with the app.
pub const SHIPPED_VERSION: u32 = 1;

/// Largest rule file accepted (the shipped calendar is ~10 KiB).
pub const MAX_RULE_JSON_BYTES: usize = 512 * 1024;

/// Which rule a [`RuleSet`] is a version of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// 流程定义
    Workflow,
    /// 办理时限
    TimeLimits,
    /// 工作日历 (节假日与调休)
    Calendar,
}

impl RuleKind {
    /// Every rule.
    pub const ALL: [RuleKind; 3] = [RuleKind::Workflow, RuleKind::TimeLimits, RuleKind::Calendar];

    /// Stable text form.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Workflow => "workflow",
            RuleKind::TimeLimits => "time_limits",
            RuleKind::Calendar => "calendar",
        }
    }

    /// zh-CN name.
    pub fn label_zh(self) -> &'static str {
        match self {
            RuleKind::Workflow => "流程定义",
            RuleKind::TimeLimits => "办理时限",
            RuleKind::Calendar => "节假日日历",
        }
    }

    /// The shipped file (version 1).
    pub fn shipped_json(self) -> &'static str {
        match self {
            RuleKind::Workflow => crate::workflow::DEFAULT_DEFINITION_JSON,
            RuleKind::TimeLimits => crate::workflow::DEFAULT_TIME_LIMITS_JSON,
            RuleKind::Calendar => crate::workflow::CALENDAR_CN_JSON,
        }
    }
}

impl std::str::FromStr for RuleKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        RuleKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::invalid("unknown_rule", "rule", format!("unknown rule `{s}`")))
    }
}

/// One published version of a rule: the body of a `rule_set` record (规则版本).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSet {
    /// Which rule.
    pub rule: RuleKind,
    /// Its version, above every earlier one (the shipped file is 1).
    pub version: u32,
    /// The rule file, in the layout of the shipped one (`core/data/*.json`).
    pub json: String,
}

/// A parsed rule file.
#[derive(Debug, Clone)]
enum Parsed {
    Workflow(Arc<WorkflowDefinition>),
    TimeLimits(Arc<TimeLimits>),
    Calendar(Arc<WorkCalendar>),
}

fn rule_error(rule: RuleKind, e: WorkflowError) -> Error {
    Error::invalid("invalid_rule_set", "json", format!("{}: {e}", rule.as_str()))
}

/// Parse a rule file; parsed files are shared by content, so stores of one process (and
/// repeated loads) parse each file once.
fn parse(rule: RuleKind, json: &str) -> Result<Parsed> {
    static CACHE: OnceLock<Mutex<HashMap<(RuleKind, String), Parsed>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (rule, json.to_string());
    if let Some(p) = cache.lock().map_err(|_| poisoned())?.get(&key) {
        return Ok(p.clone());
    }
    let parsed = match rule {
        RuleKind::Workflow => Parsed::Workflow(Arc::new(
            WorkflowDefinition::from_json(json).map_err(|e| rule_error(rule, e))?,
        )),
        RuleKind::TimeLimits => {
            Parsed::TimeLimits(Arc::new(TimeLimits::from_json(json).map_err(|e| rule_error(rule, e))?))
        }
        RuleKind::Calendar => Parsed::Calendar(Arc::new(
            WorkCalendar::from_json(json).map_err(|e| rule_error(rule, e))?,
        )),
    };
    cache.lock().map_err(|_| poisoned())?.insert(key, parsed.clone());
    Ok(parsed)
}

fn poisoned() -> Error {
    Error::Corrupt {
        id: "rule cache".into(),
        reason: "a thread panicked while holding it".into(),
    }
}

impl RuleSet {
    /// Parse and check the rule file alone (its own validation, its stated version).
    fn parsed(&self) -> Result<Parsed> {
        let parsed = parse(self.rule, &self.json)?;
        let stated = match &parsed {
            Parsed::Workflow(d) => Some(d.version()),
            Parsed::TimeLimits(l) => Some(l.version),
            Parsed::Calendar(_) => None,
        };
        if let Some(v) = stated
            && v != self.version
        {
            return Err(Error::invalid(
                "rule_version_mismatch",
                "version",
                format!("the file says version {v}, the publication {}", self.version),
            ));
        }
        Ok(parsed)
    }
}

impl Record for RuleSet {
    const KIND: RecordKind = RecordKind::RuleSet;
    fn scope(&self) -> String {
        DISTRICT_SCOPE.to_string()
    }
    fn validate(&self) -> Result<()> {
        if self.version <= SHIPPED_VERSION {
            return Err(Error::invalid(
                "rule_version_not_newer",
                "version",
                format!(
                    "version {} is not above the shipped version {SHIPPED_VERSION}",
                    self.version
                ),
            ));
        }
        if self.json.len() > MAX_RULE_JSON_BYTES {
            return Err(Error::invalid(
                "too_long",
                "json",
                format!("at most {MAX_RULE_JSON_BYTES} bytes"),
            ));
        }
        self.parsed().map(|_| ())
    }
}

/// The rule versions a case pins: the root key `rules` of its document, written when it is
/// created. Absent (every case made before rule versions existed) = the shipped version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulePins {
    /// 流程定义 version.
    #[serde(default = "shipped")]
    pub workflow: u32,
    /// 办理时限 version.
    #[serde(default = "shipped")]
    pub time_limits: u32,
}

fn shipped() -> u32 {
    SHIPPED_VERSION
}

impl Default for RulePins {
    fn default() -> Self {
        RulePins::SHIPPED
    }
}

impl RulePins {
    /// The shipped versions.
    pub const SHIPPED: RulePins = RulePins {
        workflow: SHIPPED_VERSION,
        time_limits: SHIPPED_VERSION,
    };

    /// The pins of a case document; `Err` when its `rules` key is not a pin map.
    pub fn of_doc(doc: &AutoCommit) -> std::result::Result<RulePins, String> {
        match doc::root_obj(doc, "rules") {
            None => Ok(RulePins::SHIPPED),
            Some(o) => serde_json::from_value(doc::read_json(doc, &o)).map_err(|e| format!("rules: {e}")),
        }
    }

    /// The version pinned for `rule` (`None` for the calendar, which is never pinned).
    pub fn get(&self, rule: RuleKind) -> Option<u32> {
        match rule {
            RuleKind::Workflow => Some(self.workflow),
            RuleKind::TimeLimits => Some(self.time_limits),
            RuleKind::Calendar => None,
        }
    }
}

/// The rule versions a store (or the server) holds, parsed.
#[derive(Debug, Clone, Default)]
pub struct RuleBook {
    workflow: BTreeMap<u32, Arc<WorkflowDefinition>>,
    time_limits: BTreeMap<u32, Arc<TimeLimits>>,
    calendar: BTreeMap<u32, Arc<WorkCalendar>>,
}

impl RuleBook {
    /// Only the shipped rules.
    pub fn shipped() -> RuleBook {
        RuleBook::default()
    }

    /// From `(rule, version, json)` rows. A row that does not parse is left out (a version is
    /// validated before it is accepted, so only a corrupt replica could hold one).
    pub fn from_rows(rows: impl IntoIterator<Item = (String, u32, String)>) -> RuleBook {
        let mut book = RuleBook::default();
        for (rule, version, json) in rows {
            let Ok(rule) = rule.parse::<RuleKind>() else { continue };
            match parse(rule, &json) {
                Ok(Parsed::Workflow(d)) => {
                    book.workflow.insert(version, d);
                }
                Ok(Parsed::TimeLimits(l)) => {
                    book.time_limits.insert(version, l);
                }
                Ok(Parsed::Calendar(c)) => {
                    book.calendar.insert(version, c);
                }
                Err(e) => {
                    tracing::warn!(rule = rule.as_str(), version, error = %e, "a held rule version does not parse")
                }
            }
        }
        book
    }

    /// Whether only the shipped rules are held.
    pub fn is_shipped_only(&self) -> bool {
        self.workflow.is_empty() && self.time_limits.is_empty() && self.calendar.is_empty()
    }

    /// The highest version of `rule` held (the shipped one counts).
    pub fn latest(&self, rule: RuleKind) -> u32 {
        let v = match rule {
            RuleKind::Workflow => self.workflow.keys().next_back(),
            RuleKind::TimeLimits => self.time_limits.keys().next_back(),
            RuleKind::Calendar => self.calendar.keys().next_back(),
        };
        v.copied().unwrap_or(SHIPPED_VERSION)
    }

    /// Whether `version` of `rule` is held (the shipped version always is).
    pub fn holds(&self, rule: RuleKind, version: u32) -> bool {
        version == SHIPPED_VERSION
            || match rule {
                RuleKind::Workflow => self.workflow.contains_key(&version),
                RuleKind::TimeLimits => self.time_limits.contains_key(&version),
                RuleKind::Calendar => self.calendar.contains_key(&version),
            }
    }

    /// What a new case pins: the highest versions held.
    pub fn pins_for_new(&self) -> RulePins {
        RulePins {
            workflow: self.latest(RuleKind::Workflow),
            time_limits: self.latest(RuleKind::TimeLimits),
        }
    }

    /// The rules of a case with `pins`: the pinned workflow and time limits, or, while a pinned
    /// version has not arrived, the highest held below it; and the newest calendar.
    pub fn rules_for(&self, pins: RulePins) -> Rules {
        let base = default_rules();
        fn pick<T>(m: &BTreeMap<u32, Arc<T>>, pin: u32) -> Option<(u32, Arc<T>)> {
            m.range(..=pin).next_back().map(|(v, x)| (*v, Arc::clone(x)))
        }
        let (wv, definition) =
            pick(&self.workflow, pins.workflow).unwrap_or_else(|| (SHIPPED_VERSION, Arc::clone(&base.definition)));
        let (lv, limits) =
            pick(&self.time_limits, pins.time_limits).unwrap_or_else(|| (SHIPPED_VERSION, Arc::clone(&base.limits)));
        let (cv, calendar) = self
            .calendar
            .iter()
            .next_back()
            .map(|(v, c)| (*v, Arc::clone(c)))
            .unwrap_or_else(|| (SHIPPED_VERSION, Arc::clone(&base.calendar)));
        Rules {
            definition,
            limits,
            calendar,
            versions: RuleVersions {
                workflow: wv,
                time_limits: lv,
                calendar: cv,
            },
        }
    }

    /// The rules new cases get.
    pub fn newest(&self) -> Rules {
        self.rules_for(self.pins_for_new())
    }

    /// Check a version before it is published: valid alone, above every version held, and
    /// consistent with what new cases will use beside it:
    /// - the newest time limits must time every stage of the newest workflow definition
    ///   (`rules_inconsistent`);
    /// - a calendar must keep every year the previous newest calendar covers, since every case
    ///   uses the newest calendar (`calendar_year_dropped`).
    ///
    /// A workflow version may drop states or actions: cases pinned to older versions keep
    /// folding with theirs.
    pub fn check_publish(&self, set: &RuleSet) -> Result<()> {
        set.validate()?;
        let latest = self.latest(set.rule);
        if set.version <= latest {
            return Err(Error::invalid(
                "rule_version_not_newer",
                "version",
                format!(
                    "{} version {} is not above the held version {latest}",
                    set.rule.as_str(),
                    set.version
                ),
            ));
        }
        let newest = self.newest();
        match set.parsed()? {
            Parsed::Workflow(def) => newest.limits.validate_against(&def),
            Parsed::TimeLimits(limits) => limits.validate_against(&newest.definition),
            Parsed::Calendar(cal) => {
                if let Some(y) = newest.calendar.years().find(|y| cal.year(*y).is_none()) {
                    return Err(Error::invalid(
                        "calendar_year_dropped",
                        "json",
                        format!("the calendar in force covers {y}; a new version must keep it"),
                    ));
                }
                Ok(())
            }
        }
        .map_err(|e| Error::invalid("rules_inconsistent", "json", e.to_string()))
    }
}

/// The versions a [`Rules`] was resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleVersions {
    /// 流程定义
    pub workflow: u32,
    /// 办理时限
    pub time_limits: u32,
    /// 工作日历
    pub calendar: u32,
}

impl RuleVersions {
    /// The shipped versions.
    pub const SHIPPED: RuleVersions = RuleVersions {
        workflow: SHIPPED_VERSION,
        time_limits: SHIPPED_VERSION,
        calendar: SHIPPED_VERSION,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bumped(rule: RuleKind, version: u32) -> String {
        let mut v: serde_json::Value = serde_json::from_str(rule.shipped_json()).unwrap();
        if rule != RuleKind::Calendar {
            v["version"] = version.into();
        }
        v.to_string()
    }

    #[test]
    fn versions_are_checked() {
        let book = RuleBook::shipped();
        let ok = RuleSet {
            rule: RuleKind::TimeLimits,
            version: 2,
            json: bumped(RuleKind::TimeLimits, 2),
        };
        book.check_publish(&ok).unwrap();
        let same = RuleSet {
            version: 1,
            ..ok.clone()
        };
        assert_eq!(book.check_publish(&same).unwrap_err().code(), "rule_version_not_newer");
        let mismatch = RuleSet {
            version: 3,
            ..ok.clone()
        };
        assert_eq!(
            book.check_publish(&mismatch).unwrap_err().code(),
            "rule_version_mismatch"
        );
        let garbage = RuleSet {
            json: "{".into(),
            ..ok.clone()
        };
        assert_eq!(book.check_publish(&garbage).unwrap_err().code(), "invalid_rule_set");
        let held = RuleBook::from_rows([("time_limits".to_string(), 2, ok.json.clone())]);
        assert_eq!(held.check_publish(&ok).unwrap_err().code(), "rule_version_not_newer");
        assert_eq!(held.latest(RuleKind::TimeLimits), 2);
    }

    #[test]
    fn a_calendar_keeps_its_years() {
        let mut v: serde_json::Value = serde_json::from_str(RuleKind::Calendar.shipped_json()).unwrap();
        v["years"].as_array_mut().unwrap().pop();
        let set = RuleSet {
            rule: RuleKind::Calendar,
            version: 2,
            json: v.to_string(),
        };
        assert_eq!(
            RuleBook::shipped().check_publish(&set).unwrap_err().code(),
            "calendar_year_dropped"
        );
    }

    #[test]
    fn pins_fall_back_to_the_highest_held_below() {
        let json = bumped(RuleKind::TimeLimits, 2);
        let book = RuleBook::from_rows([("time_limits".to_string(), 2, json)]);
        let pins = RulePins {
            workflow: 1,
            time_limits: 3,
        };
        assert_eq!(book.rules_for(pins).versions.time_limits, 2);
        assert_eq!(book.rules_for(RulePins::SHIPPED).versions.time_limits, 1);
        assert_eq!(RuleBook::shipped().rules_for(pins).versions, RuleVersions::SHIPPED);
    }

    #[test]
    fn every_case_uses_the_newest_calendar() {
        let mut cal: serde_json::Value = serde_json::from_str(RuleKind::Calendar.shipped_json()).unwrap();
        cal["label_zh"] = "工作日历（第2版）".into();
        let book = RuleBook::from_rows([("calendar".to_string(), 2, cal.to_string())]);
        for pins in [RulePins::SHIPPED, book.pins_for_new()] {
            let rules = book.rules_for(pins);
            assert_eq!(rules.versions.calendar, 2);
            assert_eq!(rules.calendar.label_zh(), "工作日历（第2版）");
        }
        assert_eq!(book.pins_for_new(), RulePins::SHIPPED, "the calendar is never pinned");
    }
}
