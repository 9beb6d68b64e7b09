//! The area a supervisor sees: the grids of its grants and the org nodes from its own node
//! down to them. A node, ledger, case or worker outside it is answered exactly like one that
//! does not exist (404 `not_found`).

use std::collections::{BTreeMap, BTreeSet};

use super::{Viewer, not_found};
use crate::error::ApiResult;
pub use crate::model::org::Node;
use crate::storage::Storage;

/// What one supervisor may see.
#[derive(Debug, Clone, Default)]
pub struct Area {
    /// Every org node (names for display).
    pub nodes: BTreeMap<String, Node>,
    /// Granted grids, in name order.
    pub grids: Vec<String>,
    /// Org path (`district/sub/community/grid`) of each granted grid.
    pub paths: BTreeMap<String, String>,
    /// Nodes the viewer may filter by: its own node and those between it and its grids.
    pub visible: Vec<String>,
    /// Workers (account id → display name) bound to the granted grids.
    pub workers: BTreeMap<String, String>,
}

impl Area {
    /// Load the area of `viewer`.
    pub fn load(storage: &dyn Storage, viewer: &Viewer) -> ApiResult<Area> {
        Area::for_grants(storage, &viewer.account.org_node, &viewer.grants.grids())
    }

    /// The area of an account bound to `own` with these granted grids.
    pub fn for_grants(storage: &dyn Storage, own: &str, granted: &[String]) -> ApiResult<Area> {
        let nodes = storage.org_nodes()?.into_iter().map(|n| (n.id.clone(), n)).collect();
        let mut area = Area {
            nodes,
            ..Area::default()
        };
        let granted: BTreeSet<&String> = granted.iter().collect();
        let mut grids: Vec<String> = granted.iter().map(|g| (*g).clone()).collect();
        grids.sort_by(|a, b| area.name(a).cmp(area.name(b)).then(a.cmp(b)));
        let mut visible: Vec<String> = vec![own.to_string()];
        for g in &grids {
            let path = area.path_of(g);
            // Nodes strictly below the viewer's own node on the way to the grid.
            let ids: Vec<&str> = path.split('/').collect();
            let start = ids.iter().position(|i| *i == own).map_or(ids.len() - 1, |p| p + 1);
            for id in &ids[start..] {
                if !visible.iter().any(|v| v == id) {
                    visible.push((*id).to_string());
                }
            }
            area.paths.insert(g.clone(), path);
        }
        area.grids = grids;
        area.visible = visible;
        for w in storage.field_workers()? {
            if granted.contains(&w.org_node) {
                area.workers.insert(w.id, w.display_name);
            }
        }
        Ok(area)
    }

    /// A node's name (its id when unknown).
    pub fn name<'a>(&'a self, id: &'a str) -> &'a str {
        self.nodes.get(id).map_or(id, |n| n.name.as_str())
    }

    /// A worker's display name (the account id when unknown).
    pub fn worker_name<'a>(&'a self, id: &'a str) -> &'a str {
        self.workers.get(id).map_or(id, String::as_str)
    }

    /// Ids from the top of the tree down to `id`, joined by `/`.
    pub fn path_of(&self, id: &str) -> String {
        let mut path = vec![id.to_string()];
        let mut cur = id;
        for _ in 0..16 {
            match self.nodes.get(cur).and_then(|n| n.parent.as_deref()) {
                Some(p) => {
                    path.push(p.to_string());
                    cur = p;
                }
                None => break,
            }
        }
        path.reverse();
        path.join("/")
    }

    /// Whether a grid is in the area.
    pub fn has_grid(&self, grid: &str) -> bool {
        self.paths.contains_key(grid)
    }

    /// The granted grids at or below `node` (`None` or empty: all of them). A node outside the
    /// area is `not_found`.
    pub fn grids_under(&self, node: Option<&str>) -> ApiResult<Vec<String>> {
        match node.filter(|n| !n.is_empty()) {
            None => Ok(self.grids.clone()),
            Some(n) if self.visible.iter().any(|v| v == n) => Ok(self
                .grids
                .iter()
                .filter(|g| self.paths[*g].split('/').any(|p| p == n))
                .cloned()
                .collect()),
            Some(_) => Err(not_found("org node")),
        }
    }

    /// The org path of a node in the area, for metrics (`not_found` outside it).
    pub fn node_path(&self, node: &str) -> ApiResult<String> {
        if self.visible.iter().any(|v| v == node) {
            Ok(self.path_of(node))
        } else {
            Err(not_found("org node"))
        }
    }

    /// (id, indented name) of the nodes to filter by.
    pub fn node_options(&self) -> Vec<(String, String)> {
        self.visible
            .iter()
            .map(|id| {
                let indent = match self.nodes.get(id).map(|n| n.level.as_str()) {
                    Some("sub_district") => "· ",
                    Some("community") => "·· ",
                    Some("grid") | Some("sub_grid") => "··· ",
                    _ => "",
                };
                (id.clone(), format!("{indent}{}", self.name(id)))
            })
            .collect()
    }

    /// A worker in the area (`not_found` otherwise).
    pub fn check_worker(&self, worker: &str) -> ApiResult<()> {
        if self.workers.contains_key(worker) {
            Ok(())
        } else {
            Err(not_found("worker"))
        }
    }
}
