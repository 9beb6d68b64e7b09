//! Reads of an administration working copy (rank 2, `storage`): the in-memory `core` store
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

/// `(code, id)` of the grids and sub-grids in effect on `day` (`YYYY-MM-DD`).
pub fn grids_by_code(store: &Store, day: &str) -> Result<Vec<(String, String)>> {
    let mut stmt = store.connection().prepare(
        "SELECT code, id FROM org_nodes WHERE level IN ('grid', 'sub_grid')
         AND effective_from <= ?1 AND (effective_to IS NULL OR effective_to >= ?1)",
    )?;
    let rows = stmt.query_map([day], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The scope and saved bytes of a document the store holds (an error if it holds none).
pub fn doc_scope_bytes(store: &Store, id: &str) -> Result<(Option<String>, Vec<u8>)> {
    Ok(store
        .connection()
        .prepare_cached("SELECT scope, bytes FROM docs WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?)
}
