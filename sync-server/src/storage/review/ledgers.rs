//! Rows of the 走访台账 list and page (`crate::review::ledgers`; rank 2, `storage`).

use serde::Serialize;

/// A parsed, checked filter.
#[derive(Debug, Clone)]
pub struct LedgerFilter {
    /// Grids to include.
    pub grids: Vec<String>,
    /// Worker.
    pub worker: Option<String>,
    /// First day.
    pub from: Option<String>,
    /// Last day.
    pub to: Option<String>,
    /// Review state.
    pub state: Option<String>,
    /// SQL sort column (whitelisted).
    pub sort: &'static str,
    /// Sort key as given.
    pub sort_key: String,
    /// Descending.
    pub desc: bool,
    /// Page from 1.
    pub page: usize,
}

/// The list's sort keys and the SQL column each sorts by (the only columns a filter may name).
pub const LEDGER_SORTS: &[(&str, &str)] = &[
    ("day", "l.day"),
    ("worker", "l.worker"),
    ("grid", "grid_name"),
    ("state", "l.review_state"),
    ("calls", "calls"),
    ("households", "households"),
    ("problems", "problems"),
    ("solved", "solved"),
    ("reported", "reported"),
];

/// One ledger in the list, counts derived from its worker's house calls and patrols that day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerListRow {
    /// Ledger id.
    pub id: String,
    /// Grid id.
    pub grid_id: String,
    /// Grid name.
    pub grid_name: String,
    /// Worker account id.
    pub worker: String,
    /// Worker name.
    pub worker_name: String,
    /// Day.
    pub day: String,
    /// 审核状态
    pub review_state: String,
    /// 退回意见
    pub review_comment: Option<String>,
    /// 审核后修改
    pub flagged: bool,
    /// 走访次数
    pub house_calls: i64,
    /// 走访户数
    pub households_visited: i64,
    /// 发现问题
    pub problems: i64,
    /// 当场解决
    pub solved_on_spot: i64,
    /// 上报
    pub reported: i64,
}

/// A person of a house call as the ledger page shows it (masked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskedPerson {
    /// Name, masked.
    pub name: String,
    /// ID number, masked (empty when none).
    pub id_number: String,
    /// Phone, masked (empty when none).
    pub phone: String,
    /// Relation to the head of household.
    pub relation: String,
}

/// A member of a household visited on a ledger's day (the ledger export's second sheet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitedMember {
    /// Day.
    pub day: String,
    /// Worker's display name (the account id when unknown).
    pub worker_name: String,
    /// Household address.
    pub address: String,
    /// Person id.
    pub person_id: String,
    /// Name, masked.
    pub name: String,
    /// ID number, masked (empty when none).
    pub id_number: String,
    /// Phone, masked (empty when none).
    pub phone: String,
    /// Relation to the head of household.
    pub relation: String,
}
