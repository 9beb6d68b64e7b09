//! 组织架构: the org tree as grants and the dashboard read it. A role of [`crate::storage::Storage`]
//! (rank 2, `storage`).

use crate::model::accounts::OrgGrid;
use crate::model::org::{CurrentNode, Node};
use crate::storage::Result;

/// 组织架构: the org tree as grants and the dashboard read it.
pub trait OrgTree {
    /// Every grid and sub-grid with its community and sub-district: the scopes grants are made of.
    fn org_grids(&self) -> Result<Vec<OrgGrid>>;

    /// Every org node (the dashboard's names and paths).
    fn org_nodes(&self) -> Result<Vec<Node>>;

    /// The departments (部门): `(id, name)`, by name.
    fn departments(&self) -> Result<Vec<(String, String)>>;

    /// The current org nodes (no end date), by code, level and name.
    fn current_org_nodes(&self) -> Result<Vec<CurrentNode>>;

    /// The level of a current org node (`None`: no such node, or closed).
    fn current_node_level(&self, id: &str) -> Result<Option<String>>;

    /// The current district node, `(id, code)`, if any (the lowest id if there were several).
    fn district(&self) -> Result<Option<(String, String)>>;
}
