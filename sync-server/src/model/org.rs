//! 组织架构 as the dashboard reads it: org nodes and the field workers bound to them (rank 0,
//! `model`).

/// An org node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Level key (`district`, `sub_district`, `community`, `grid` ...).
    pub level: String,
    /// Parent id.
    pub parent: Option<String>,
}

/// A field worker's account (网格员, 网格长): who does house calls in a grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldWorker {
    /// Account id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Org node (grid) the account is bound to.
    pub org_node: String,
}

/// A current org node (no end date) as the admin pages and the tree list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentNode {
    /// Id.
    pub id: String,
    /// Level key.
    pub level: String,
    /// Code (统一编码).
    pub code: String,
    /// Name.
    pub name: String,
    /// Parent id (empty for the district).
    pub parent: String,
    /// First day it is in effect (`YYYY-MM-DD`).
    pub effective_from: String,
}
