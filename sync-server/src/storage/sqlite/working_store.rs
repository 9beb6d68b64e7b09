//! Lookups in an administration working copy (rank 2, `storage`): the in-memory `core` store
//! that an import loads with the server's org tree and changes row by row before anything is
//! committed (`crate::admin`). They read that store's query tables, so they see the nodes the
//! import made so far; `core` has no such lookups of its own.

use gridbook_core::{Result, Store};
use rusqlite::OptionalExtension;

/// The current node of `level` (its serde name: `grid`, `community` ...) with `code`.
pub fn node_by_code(store: &Store, level: &str, code: &str) -> Result<Option<String>> {
    Ok(store
        .connection()
        .query_row(
            "SELECT id FROM org_nodes WHERE level = ?1 AND code = ?2 AND effective_to IS NULL",
            [level, code],
            |r| r.get(0),
        )
        .optional()?)
}

/// The current child of `parent` named `name`.
pub fn child_by_name(store: &Store, parent: &str, name: &str) -> Result<Option<String>> {
    Ok(store
        .connection()
        .query_row(
            "SELECT id FROM org_nodes WHERE parent = ?1 AND name = ?2 AND effective_to IS NULL",
            [parent, name],
            |r| r.get(0),
        )
        .optional()?)
}

/// The current district node.
pub fn district(store: &Store) -> Result<Option<String>> {
    Ok(store
        .connection()
        .query_row(
            "SELECT id FROM org_nodes WHERE level = 'district' AND effective_to IS NULL",
            [],
            |r| r.get(0),
        )
        .optional()?)
}
