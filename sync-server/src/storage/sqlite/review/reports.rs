//! The reports page's queries on SQLite (rank 2, `storage`).

use rusqlite::{Connection, params};

use super::super::json_list;
use crate::storage::Result;
use crate::storage::review::reports::CaseSummary;

pub(crate) fn case_summaries(c: &Connection, grids: &[String]) -> Result<Vec<CaseSummary>> {
    let mut stmt = c.prepare_cached(
        "SELECT grid_id, summary_json, reporter FROM cases WHERE grid_id IN (SELECT value FROM json_each(?1))",
    )?;
    let rows = stmt.query_map([json_list(grids)], |r| {
        Ok(CaseSummary {
            grid_id: r.get(0)?,
            summary_json: r.get(1)?,
            reporter: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn worker_visits(c: &Connection, worker: &str, from: &str, to: &str) -> Result<i64> {
    Ok(c.query_row(
        "SELECT count(*) FROM house_calls WHERE visitor = ?1 AND day BETWEEN ?2 AND ?3",
        params![worker, from, to],
        |r| r.get(0),
    )?)
}

pub(crate) fn worker_reviews(c: &Connection, worker: &str, from: &str, to: &str) -> Result<(i64, i64)> {
    Ok(c.query_row(
        "SELECT coalesce(sum(review_state = 'returned'), 0), coalesce(sum(review_state = 'approved'), 0) FROM ledgers
         WHERE worker = ?1 AND day BETWEEN ?2 AND ?3",
        params![worker, from, to],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}
