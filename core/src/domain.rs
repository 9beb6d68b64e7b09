//! The records a grid worker and a district make, as plain Rust types.
//!
//! Each record type is stored as one Automerge document (see [`crate::doc`]); its fields are the
//! document's `body`. Validation here is pure: [`Record::validate`] checks the record alone,
//! [`Record::check_refs`] checks what it points to through a [`Lookup`] that the phone's store
//! and the server both implement, so both run the same rules.

pub mod cases;
pub mod ids;
pub mod org;
pub mod people;
pub mod roles;
pub mod template;
pub mod visits;

use serde::{Serialize, de::DeserializeOwned};

pub use cases::{Case, CaseKind};
pub use org::{GridCodeScheme, OrgNode};
pub use people::{AttentionLevel, GridAssignment, Household, HousingUse, LabelCategory, Person, PersonLabel};
pub use roles::{OrgLevel, Role};
pub use template::{AnswerType, ChecklistTemplate, TemplateItem, TemplateSection};
pub use visits::{GeoPoint, HouseCall, Ledger, Patrol, PatrolCheckin, Problem, TrackPoint};

use crate::error::{Error, Result};

/// The scope of records every device receives: the org tree, templates and rule versions.
pub const DISTRICT_SCOPE: &str = "district";

/// Every kind of record, with its stable text form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// 组织节点: a node of the org tree.
    OrgNode,
    /// 户
    Household,
    /// 人员
    Person,
    /// 入户走访
    HouseCall,
    /// 巡查
    Patrol,
    /// 走访台账 / 民情日志
    Ledger,
    /// 网格事件
    Incident,
    /// 群众诉求 (接诉即办)
    Request,
    /// 检查清单模板 (三知四清五报六访)
    Template,
    /// 规则版本: a published workflow definition, time limits or holiday calendar
    /// ([`crate::rules::RuleSet`]).
    RuleSet,
}

impl RecordKind {
    /// Every kind.
    pub const ALL: [RecordKind; 10] = [
        RecordKind::OrgNode,
        RecordKind::Household,
        RecordKind::Person,
        RecordKind::HouseCall,
        RecordKind::Patrol,
        RecordKind::Ledger,
        RecordKind::Incident,
        RecordKind::Request,
        RecordKind::Template,
        RecordKind::RuleSet,
    ];

    /// Stable text form, as stored in documents and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::OrgNode => "org_node",
            RecordKind::Household => "household",
            RecordKind::Person => "person",
            RecordKind::HouseCall => "house_call",
            RecordKind::Patrol => "patrol",
            RecordKind::Ledger => "ledger",
            RecordKind::Incident => "incident",
            RecordKind::Request => "request",
            RecordKind::Template => "template",
            RecordKind::RuleSet => "rule_set",
        }
    }

    /// Whether records of this kind carry a workflow history.
    pub fn has_workflow(self) -> bool {
        matches!(self, RecordKind::Incident | RecordKind::Request | RecordKind::Ledger)
    }
}

impl std::str::FromStr for RecordKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        RecordKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::invalid("unknown_kind", "kind", format!("unknown record kind `{s}`")))
    }
}

/// What record validation may look up: implemented by the phone's store and by the server.
pub trait Lookup {
    /// A checklist template version.
    fn template(&self, id: &str, version: u32) -> Result<Option<ChecklistTemplate>>;
    /// Whether a household exists (and is not deleted).
    fn household_exists(&self, id: &str) -> Result<bool>;
    /// An org node.
    fn org_node(&self, id: &str) -> Result<Option<OrgNode>>;
    /// The grid code scheme this district uses.
    fn grid_scheme(&self) -> GridCodeScheme;
}

/// A record type stored as a document.
pub trait Record: Serialize + DeserializeOwned + Clone + std::fmt::Debug {
    /// Its kind.
    const KIND: RecordKind;
    /// Version of this body layout.
    const SCHEMA: i64 = 1;
    /// The kind of this record (one type may serve two kinds, like incidents and requests).
    fn kind(&self) -> RecordKind {
        Self::KIND
    }
    /// The scope (grid id, or [`DISTRICT_SCOPE`]) the record belongs to.
    fn scope(&self) -> String;
    /// Checks of the record alone.
    fn validate(&self) -> Result<()>;
    /// Checks of what the record refers to.
    fn check_refs(&self, _lookup: &dyn Lookup) -> Result<()> {
        Ok(())
    }
}

pub(crate) fn require_text(field: &str, value: &str, max_chars: usize) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::invalid("empty_field", field, "must not be empty"));
    }
    check_len(field, value, max_chars)
}

pub(crate) fn check_len(field: &str, value: &str, max_chars: usize) -> Result<()> {
    if value.chars().count() > max_chars {
        return Err(Error::invalid(
            "too_long",
            field,
            format!("longer than {max_chars} characters"),
        ));
    }
    Ok(())
}
