//! Households (户) and persons (人员) with their multi-label categories.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{Lookup, Record, RecordKind, check_len, require_text};
use crate::error::{Error, Result};

/// 房屋用途: how the dwelling is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HousingUse {
    /// 自住
    OwnerOccupied,
    /// 租赁
    Rented,
    /// 群租
    GroupRented,
    /// 空置
    Vacant,
}

/// From a date on, the household belongs to this grid (re-gridding is effective-dated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridAssignment {
    /// Grid (org node id).
    pub grid_id: String,
    /// First day in this grid.
    pub from: NaiveDate,
}

/// 户: one household.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Household {
    /// Grid assignments, oldest first; the first one's grid is where the household was registered.
    pub grid_assignments: Vec<GridAssignment>,
    /// 楼栋
    pub building: String,
    /// 单元
    pub unit: String,
    /// 门牌 / room number
    pub room: String,
    /// Full address.
    pub address: String,
    /// 房屋用途
    pub housing_use: HousingUse,
    /// Day the household was registered (the first visit is due from here).
    pub registered_on: NaiveDate,
}

impl Household {
    /// The grid on `day` (effective-dated).
    pub fn grid_on(&self, day: NaiveDate) -> Option<&str> {
        self.grid_assignments
            .iter()
            .filter(|a| a.from <= day)
            .max_by_key(|a| a.from)
            .map(|a| a.grid_id.as_str())
    }

    /// The grid of the latest assignment.
    pub fn current_grid(&self) -> &str {
        self.grid_assignments
            .iter()
            .max_by_key(|a| a.from)
            .map_or("", |a| a.grid_id.as_str())
    }
}

impl Record for Household {
    const KIND: RecordKind = RecordKind::Household;
    fn scope(&self) -> String {
        self.current_grid().to_string()
    }
    fn validate(&self) -> Result<()> {
        if self.grid_assignments.is_empty() {
            return Err(Error::invalid(
                "empty_field",
                "grid_assignments",
                "a household belongs to a grid",
            ));
        }
        require_text("address", &self.address, 200)?;
        check_len("building", &self.building, 50)?;
        check_len("unit", &self.unit, 50)?;
        check_len("room", &self.room, 50)
    }
    fn check_refs(&self, lookup: &dyn Lookup) -> Result<()> {
        for a in &self.grid_assignments {
            if lookup.org_node(&a.grid_id)?.is_none() {
                return Err(Error::NotFound {
                    kind: "grid",
                    id: a.grid_id.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Which family of labels a label belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelCategory {
    /// 实有人口: 户籍 / 流动 / 境外
    Population,
    /// 关怀对象: 空巢/独居老人, 低保, 残疾, 优抚, 留守儿童 ...
    Care,
    /// 特殊人群: 社区矫正, 刑满释放, 严重精神障碍 ... (sensitive)
    Special,
}

/// 关注程度
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttentionLevel {
    /// 一般
    Normal,
    /// 关注
    Attention,
    /// 重点
    Key,
}

/// One category label on a person, with its own dates, attention level and responsible person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonLabel {
    /// Stable key, e.g. `living_alone_elderly`, `low_income`, `community_correction`.
    pub label: String,
    /// Its family.
    pub category: LabelCategory,
    /// 开始日期
    pub start: NaiveDate,
    /// 结束日期
    pub end: Option<NaiveDate>,
    /// 关注程度
    pub attention: AttentionLevel,
    /// 包案人 / 帮扶人 (account id or name)
    pub responsible: Option<String>,
}

impl PersonLabel {
    /// Whether the label is in force on `day`.
    pub fn active_on(&self, day: NaiveDate) -> bool {
        self.start <= day && self.end.is_none_or(|e| e >= day)
    }
}

/// 人员: one person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    /// Household id.
    pub household_id: String,
    /// Grid the person is registered in (the household's grid when created).
    pub grid_id: String,
    /// 姓名
    pub name: String,
    /// 身份证号 (sensitive)
    pub id_number: Option<String>,
    /// 电话 (sensitive)
    pub phone: Option<String>,
    /// 与户主关系
    pub relation: String,
    /// 出生日期
    pub birth_date: Option<NaiveDate>,
    /// Category labels.
    pub labels: Vec<PersonLabel>,
}

impl Record for Person {
    const KIND: RecordKind = RecordKind::Person;
    fn scope(&self) -> String {
        self.grid_id.clone()
    }
    fn validate(&self) -> Result<()> {
        require_text("name", &self.name, 50)?;
        check_len("relation", &self.relation, 20)?;
        if let Some(id) = &self.id_number {
            super::ids::validate_id_number(id)?;
        }
        if let Some(p) = &self.phone {
            super::ids::validate_phone(p)?;
        }
        for (i, l) in self.labels.iter().enumerate() {
            require_text(&format!("labels.{i}.label"), &l.label, 50)?;
            if let Some(end) = l.end
                && end < l.start
            {
                return Err(Error::invalid(
                    "end_before_start",
                    format!("labels.{i}.end"),
                    "ends before it starts",
                ));
            }
        }
        Ok(())
    }
    fn check_refs(&self, lookup: &dyn Lookup) -> Result<()> {
        if !lookup.household_exists(&self.household_id)? {
            return Err(Error::NotFound {
                kind: "household",
                id: self.household_id.clone(),
            });
        }
        Ok(())
    }
}
