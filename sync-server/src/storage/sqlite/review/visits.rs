//! The visit coverage's queries on SQLite (rank 2, `storage`).

use rusqlite::{Connection, OptionalExtension, params};

use crate::storage::Result;
use crate::storage::review::visits::{ActiveLabel, GridVisits, HouseholdVisit};

pub(crate) fn template_json(c: &Connection, template_id: &str) -> Result<Option<String>> {
    Ok(c.query_row(
        "SELECT json FROM templates WHERE template_id = ?1 ORDER BY version DESC LIMIT 1",
        [template_id],
        |r| r.get(0),
    )
    .optional()?)
}

pub(crate) fn households(c: &Connection, grid: &str) -> Result<Vec<HouseholdVisit>> {
    let mut stmt = c.prepare_cached(
        "SELECT h.id, h.registered_on, (SELECT max(day) FROM house_calls c WHERE c.household_id = h.id)
         FROM households h WHERE h.grid_id = ?1",
    )?;
    let rows = stmt.query_map([grid], |r| {
        Ok(HouseholdVisit {
            id: r.get(0)?,
            registered_on: r.get(1)?,
            last_visit: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn active_labels(c: &Connection, grid: &str, day: &str) -> Result<Vec<ActiveLabel>> {
    let mut stmt = c.prepare_cached(
        "SELECT l.household_id, l.person_id, l.label, l.start_date FROM person_labels l
         JOIN households h ON h.id = l.household_id
         WHERE h.grid_id = ?1 AND l.start_date <= ?2 AND (l.end_date IS NULL OR l.end_date >= ?2)",
    )?;
    let rows = stmt.query_map(params![grid, day], |r| {
        Ok(ActiveLabel {
            household_id: r.get(0)?,
            person_id: r.get(1)?,
            label: r.get(2)?,
            start_date: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn grid_visits(c: &Connection, grid: &str, since: &str, until: &str) -> Result<GridVisits> {
    let households: i64 = c.query_row("SELECT count(*) FROM households WHERE grid_id = ?1", [grid], |r| {
        r.get(0)
    })?;
    let (visits_done, households_visited): (i64, i64) = c.query_row(
        "SELECT count(*), count(DISTINCT household_id) FROM house_calls WHERE grid_id = ?1 AND day >= ?2 AND day <= ?3",
        params![grid, since, until],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(GridVisits {
        households,
        visits_done,
        households_visited,
    })
}
