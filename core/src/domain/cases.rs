//! Incidents (网格事件) and resident requests (群众诉求, 接诉即办): the record; its closed-loop
//! workflow lives in [`crate::workflow`] and its history in the document's `transitions`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::visits::GeoPoint;
use super::{Record, RecordKind, check_len, require_text};
use crate::error::{Error, Result};

/// Incident or resident request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    /// 网格事件
    Incident,
    /// 群众诉求
    Request,
}

/// The body of an incident or request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// Grid where it happened.
    pub grid_id: String,
    /// Incident or request.
    pub case_kind: CaseKind,
    /// Category key (first level), e.g. `dispute`, `safety_hazard`, `livelihood`.
    pub category: String,
    /// Second-level category key.
    pub subcategory: Option<String>,
    /// 规模: `individual` 个体 / `group` 一般群体 / `major_group` 重大群体.
    pub scale: String,
    /// Short title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Where.
    pub location: Option<GeoPoint>,
    /// Address text.
    pub address: String,
    /// Reporter (account id), or the channel's operator.
    pub reporter: String,
    /// Intake channel of a request: `phone`, `window`, `wechat_group`, `app`, `video`.
    pub channel: Option<String>,
    /// Resident's name, if they left one.
    pub resident_name: Option<String>,
    /// Resident's phone (sensitive).
    pub resident_phone: Option<String>,
    /// Photos (SHA-256).
    pub photos: Vec<String>,
    /// When it was found / received.
    pub occurred_at: DateTime<Utc>,
}

impl Record for Case {
    const KIND: RecordKind = RecordKind::Incident;
    fn kind(&self) -> RecordKind {
        match self.case_kind {
            CaseKind::Incident => RecordKind::Incident,
            CaseKind::Request => RecordKind::Request,
        }
    }
    fn scope(&self) -> String {
        self.grid_id.clone()
    }
    fn validate(&self) -> Result<()> {
        require_text("category", &self.category, 64)?;
        require_text("scale", &self.scale, 32)?;
        require_text("title", &self.title, 100)?;
        check_len("description", &self.description, 5000)?;
        check_len("address", &self.address, 200)?;
        require_text("reporter", &self.reporter, 64)?;
        if let Some(p) = &self.resident_phone {
            super::ids::validate_phone(p)?;
        }
        if self.case_kind == CaseKind::Request && self.channel.is_none() {
            return Err(Error::invalid(
                "empty_field",
                "channel",
                "a request comes from a channel",
            ));
        }
        Ok(())
    }
}
