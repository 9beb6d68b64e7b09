//! House calls (入户走访), patrols (巡查) and visit ledgers (走访台账 / 民情日志).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::{Lookup, Record, RecordKind, check_len, require_text};
use crate::error::{Error, Result};

/// A point on the map (WGS-84).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
}

impl GeoPoint {
    fn validate(&self, field: &str) -> Result<()> {
        if !(-90.0..=90.0).contains(&self.lat) || !(-180.0..=180.0).contains(&self.lon) {
            return Err(Error::invalid(
                "invalid_location",
                field,
                "latitude or longitude out of range",
            ));
        }
        Ok(())
    }
}

/// A problem found on a house call or patrol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// Kind key: `dispute` 矛盾纠纷, `request` 群众诉求, `suggestion` 意见建议,
    /// `security_hazard` 治安隐患, `fire_hazard` 消防隐患, `sanitation` 环境卫生, `other`.
    pub kind: String,
    /// What was found.
    pub description: String,
    /// 当天自行解决
    pub solved_on_spot: bool,
    /// 上报
    pub reported: bool,
    /// The incident made from it, if reported.
    pub case_id: Option<String>,
}

/// Problem kinds a ledger counts.
pub const PROBLEM_KINDS: &[(&str, &str)] = &[
    ("dispute", "矛盾纠纷"),
    ("request", "群众诉求"),
    ("suggestion", "意见建议"),
    ("security_hazard", "治安隐患"),
    ("fire_hazard", "消防隐患"),
    ("sanitation", "环境卫生"),
    ("other", "其他"),
];

fn validate_problems(problems: &[Problem]) -> Result<()> {
    for (i, p) in problems.iter().enumerate() {
        if !PROBLEM_KINDS.iter().any(|(k, _)| *k == p.kind) {
            return Err(Error::invalid(
                "unknown_problem_kind",
                format!("problems.{i}.kind"),
                "unknown kind",
            ));
        }
        require_text(&format!("problems.{i}.description"), &p.description, 1000)?;
        if p.solved_on_spot && p.reported {
            return Err(Error::invalid(
                "invalid_problem",
                format!("problems.{i}"),
                "a problem is either solved on the spot or reported",
            ));
        }
    }
    Ok(())
}

fn check_times(start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> Result<()> {
    if let Some(end) = end
        && end < start
    {
        return Err(Error::invalid("end_before_start", "ended_at", "ends before it starts"));
    }
    Ok(())
}

/// 入户走访: a house call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HouseCall {
    /// Grid of the household at the time of the call.
    pub grid_id: String,
    /// Household visited.
    pub household_id: String,
    /// Persons met.
    pub person_ids: Vec<String>,
    /// Visitor (account id).
    pub visitor: String,
    /// 陪同人员
    pub companions: Vec<String>,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub ended_at: DateTime<Utc>,
    /// Where.
    pub location: Option<GeoPoint>,
    /// Checklist template id.
    pub template_id: String,
    /// Checklist template version.
    pub template_version: u32,
    /// Answers by item id.
    pub answers: BTreeMap<String, Json>,
    /// Problems found.
    pub problems: Vec<Problem>,
    /// Photos (SHA-256 of the blob).
    pub photos: Vec<String>,
    /// 二次走访: when to come back to record satisfaction.
    pub follow_up_due: Option<NaiveDate>,
    /// Free-text notes (collaborative text).
    pub notes: String,
}

impl Record for HouseCall {
    const KIND: RecordKind = RecordKind::HouseCall;
    fn scope(&self) -> String {
        self.grid_id.clone()
    }
    fn validate(&self) -> Result<()> {
        require_text("visitor", &self.visitor, 64)?;
        check_times(self.started_at, Some(self.ended_at))?;
        if let Some(l) = &self.location {
            l.validate("location")?;
        }
        validate_problems(&self.problems)?;
        check_len("notes", &self.notes, 5000)
    }
    fn check_refs(&self, lookup: &dyn Lookup) -> Result<()> {
        if !lookup.household_exists(&self.household_id)? {
            return Err(Error::NotFound {
                kind: "household",
                id: self.household_id.clone(),
            });
        }
        let template = lookup
            .template(&self.template_id, self.template_version)?
            .ok_or_else(|| Error::NotFound {
                kind: "template",
                id: format!("{}@{}", self.template_id, self.template_version),
            })?;
        template.check_answers(&self.answers)
    }
}

/// A GPS fix on a patrol track (行踪轨迹: sensitive).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrackPoint {
    /// When.
    pub at: DateTime<Utc>,
    /// Where.
    pub point: GeoPoint,
}

/// A check-in at a key point of the patrol route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatrolCheckin {
    /// Key point name or id.
    pub point: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Note.
    pub note: String,
}

/// 巡查: a patrol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Patrol {
    /// Grid patrolled.
    pub grid_id: String,
    /// Worker (account id).
    pub worker: String,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End, once finished.
    pub ended_at: Option<DateTime<Utc>>,
    /// GPS track.
    pub track: Vec<TrackPoint>,
    /// Key-point check-ins.
    pub checkins: Vec<PatrolCheckin>,
    /// Problems found.
    pub findings: Vec<Problem>,
    /// Notes.
    pub notes: String,
}

impl Record for Patrol {
    const KIND: RecordKind = RecordKind::Patrol;
    fn scope(&self) -> String {
        self.grid_id.clone()
    }
    fn validate(&self) -> Result<()> {
        require_text("worker", &self.worker, 64)?;
        check_times(self.started_at, self.ended_at)?;
        for (i, p) in self.track.iter().enumerate() {
            p.point.validate(&format!("track.{i}"))?;
        }
        validate_problems(&self.findings)?;
        check_len("notes", &self.notes, 5000)
    }
}

/// 走访台账 / 民情日志: a worker's ledger for one day. Its counts are derived from the house
/// calls and patrols of that worker and day (see the store's ledger query); the document holds
/// the summary and the review history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    /// Grid.
    pub grid_id: String,
    /// Worker (account id).
    pub worker: String,
    /// Day (China local date).
    pub day: NaiveDate,
    /// Summary notes.
    pub notes: String,
}

impl Record for Ledger {
    const KIND: RecordKind = RecordKind::Ledger;
    fn scope(&self) -> String {
        self.grid_id.clone()
    }
    fn validate(&self) -> Result<()> {
        require_text("worker", &self.worker, 64)?;
        check_len("notes", &self.notes, 5000)
    }
}
