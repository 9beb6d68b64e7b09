//! The rule versions a database holds (`rule_sets`, core migration 4): reading them into a
//! [`RuleBook`] (规则版本, see [`crate::rules`]).
//!
//! Part of `db` (rank 4). The phone's store and the server's storage both use it.

use rusqlite::Connection;

use crate::error::Result;
use crate::rules::RuleBook;

impl RuleBook {
    /// The versions held in a store's `rule_sets` table.
    pub fn load(conn: &Connection) -> Result<RuleBook> {
        let mut stmt = conn.prepare_cached("SELECT rule, version, json FROM rule_sets")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?, r.get::<_, String>(2)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(RuleBook::from_rows(rows))
    }
}
