//! [`OrgTree`] on SQLite (rank 2, `storage`).

use rusqlite::OptionalExtension;

use super::SqliteStorage;
use crate::model::accounts::OrgGrid;
use crate::model::org::{CurrentNode, Node};
use crate::storage::{OrgTree, Result};

impl OrgTree for SqliteStorage {
    fn org_grids(&self) -> Result<Vec<OrgGrid>> {
        // Grids, and sub-grids (二级网格) with the community and sub-district of their grid:
        // a sub-grid's records belong to that community's area like its grid's.
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT g.id, CASE g.level WHEN 'grid' THEN g.parent ELSE p.parent END AS community, c.parent
                 FROM org_nodes g
                 LEFT JOIN org_nodes p ON p.id = g.parent AND g.level = 'sub_grid'
                 LEFT JOIN org_nodes c ON c.id = (CASE g.level WHEN 'grid' THEN g.parent ELSE p.parent END)
                 WHERE g.level = 'grid' OR (g.level = 'sub_grid' AND p.level = 'grid')
                 ORDER BY g.id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(OrgGrid {
                    id: r.get(0)?,
                    community: r.get(1)?,
                    sub_district: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn org_nodes(&self) -> Result<Vec<Node>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT id, name, level, parent FROM org_nodes")?;
            let rows = stmt.query_map([], |r| {
                Ok(Node {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    level: r.get(2)?,
                    parent: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn departments(&self) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT id, name FROM org_nodes WHERE level = 'department' ORDER BY name")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn current_org_nodes(&self) -> Result<Vec<CurrentNode>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, level, code, name, coalesce(parent, ''), effective_from FROM org_nodes
                 WHERE effective_to IS NULL ORDER BY code, level, name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(CurrentNode {
                    id: r.get(0)?,
                    level: r.get(1)?,
                    code: r.get(2)?,
                    name: r.get(3)?,
                    parent: r.get(4)?,
                    effective_from: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn current_node_level(&self, id: &str) -> Result<Option<String>> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT level FROM org_nodes WHERE id = ?1 AND effective_to IS NULL")?
                    .query_row([id], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    fn district(&self) -> Result<Option<(String, String)>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT id, code FROM org_nodes WHERE level = 'district' AND effective_to IS NULL ORDER BY id LIMIT 1",
            )?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
        })
    }
}
