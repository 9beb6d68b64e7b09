//! The org tree: district → sub-district → community → grid (→ sub-grid) → building → unit.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{DISTRICT_SCOPE, Lookup, OrgLevel, Record, RecordKind, require_text};
use crate::error::{Error, Result};

/// 网格编码规则: how grid codes are written in this district.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GridCodeScheme {
    /// CJ/T 349-2010: 20 digits, led by the 6-digit administrative division code.
    Cjt349,
    /// Local 15 digits: 区6 + 街道3 + 社区3 + 网格3.
    #[default]
    Local15,
}

impl GridCodeScheme {
    /// Digits a full grid code has.
    pub fn grid_len(self) -> usize {
        match self {
            GridCodeScheme::Cjt349 => 20,
            GridCodeScheme::Local15 => 15,
        }
    }

    /// Check a code for a node of `level`. Grids get the full check; for the local scheme the
    /// levels above have their prefix lengths (6 / 9 / 12).
    pub fn validate(self, level: OrgLevel, code: &str) -> Result<()> {
        let bad = |reason: &str| {
            Err(Error::InvalidGridCode {
                code: code.to_string(),
                reason: reason.to_string(),
            })
        };
        if !code.bytes().all(|b| b.is_ascii_digit()) {
            return bad("only digits are allowed");
        }
        let expected = match (self, level) {
            (_, OrgLevel::Grid | OrgLevel::SubGrid) => Some(self.grid_len()),
            (GridCodeScheme::Local15, OrgLevel::District) => Some(6),
            (GridCodeScheme::Local15, OrgLevel::SubDistrict) => Some(9),
            (GridCodeScheme::Local15, OrgLevel::Community) => Some(12),
            _ => None,
        };
        if let Some(n) = expected
            && code.len() != n
        {
            return bad(&format!("expected {n} digits, found {}", code.len()));
        }
        if code.len() >= 6 && code[..6].chars().all(|c| c == '0') {
            return bad("the administrative division code must not be zero");
        }
        Ok(())
    }
}

/// 组织节点: one node of the org tree, effective-dated so re-gridding never breaks old ledgers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgNode {
    /// 名称
    pub name: String,
    /// Level in the tree.
    pub level: OrgLevel,
    /// Code (grid code for grids), as text.
    pub code: String,
    /// Parent node id; none only for the district.
    pub parent: Option<String>,
    /// In force from this date.
    pub effective_from: NaiveDate,
    /// In force until this date (inclusive); none while current.
    pub effective_to: Option<NaiveDate>,
}

impl Record for OrgNode {
    const KIND: RecordKind = RecordKind::OrgNode;
    fn scope(&self) -> String {
        DISTRICT_SCOPE.to_string()
    }
    fn validate(&self) -> Result<()> {
        require_text("name", &self.name, 100)?;
        if let Some(to) = self.effective_to
            && to < self.effective_from
        {
            return Err(Error::invalid(
                "end_before_start",
                "effective_to",
                "ends before it starts",
            ));
        }
        if self.parent.is_none() && self.level != OrgLevel::District && self.level != OrgLevel::Department {
            return Err(Error::invalid(
                "missing_parent",
                "parent",
                "only the district has no parent",
            ));
        }
        Ok(())
    }
    fn check_refs(&self, lookup: &dyn Lookup) -> Result<()> {
        let scheme = lookup.grid_scheme();
        scheme.validate(self.level, &self.code)?;
        let Some(parent_id) = &self.parent else { return Ok(()) };
        let parent = lookup.org_node(parent_id)?.ok_or_else(|| Error::NotFound {
            kind: "org_node",
            id: parent_id.clone(),
        })?;
        let allowed = match self.level {
            OrgLevel::SubDistrict => matches!(parent.level, OrgLevel::District),
            OrgLevel::Community => matches!(parent.level, OrgLevel::SubDistrict),
            // A grid always belongs to a community; a sub-grid to a grid (village 二级网格).
            OrgLevel::Grid => matches!(parent.level, OrgLevel::Community),
            OrgLevel::SubGrid => matches!(parent.level, OrgLevel::Grid),
            OrgLevel::Building => matches!(parent.level, OrgLevel::Grid | OrgLevel::SubGrid),
            OrgLevel::Unit => matches!(parent.level, OrgLevel::Building),
            OrgLevel::Department => matches!(parent.level, OrgLevel::District | OrgLevel::SubDistrict),
            OrgLevel::District => false,
        };
        if !allowed {
            return Err(Error::invalid(
                "invalid_parent",
                "parent",
                format!("a {:?} cannot sit below a {:?}", self.level, parent.level),
            ));
        }
        // Codes nest: a grid's code begins with its community's code (local scheme).
        if scheme == GridCodeScheme::Local15
            && matches!(self.level, OrgLevel::SubDistrict | OrgLevel::Community | OrgLevel::Grid)
            && !parent.code.is_empty()
            && !self.code.starts_with(&parent.code)
        {
            return Err(Error::InvalidGridCode {
                code: self.code.clone(),
                reason: format!("does not begin with the parent's code {}", parent.code),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_codes() {
        let s = GridCodeScheme::Local15;
        assert!(s.validate(OrgLevel::Grid, "370883001002003").is_ok());
        assert!(s.validate(OrgLevel::Grid, "37088300100200").is_err());
        assert!(s.validate(OrgLevel::Grid, "37088300100200x").is_err());
        assert!(s.validate(OrgLevel::Grid, "000000001002003").is_err());
        let c = GridCodeScheme::Cjt349;
        assert!(c.validate(OrgLevel::Grid, "37088300100200300001").is_ok());
        assert_eq!(
            c.validate(OrgLevel::Grid, "370883001002003").unwrap_err().code(),
            "invalid_grid_code"
        );
    }
}
