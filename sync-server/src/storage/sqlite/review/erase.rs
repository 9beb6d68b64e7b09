//! The erase form's queries on SQLite (rank 2, `storage`).

use rusqlite::{Connection, OptionalExtension};

use crate::storage::Result;
use crate::storage::review::erase::PersonMatch;

const MATCH_SQL: &str = "SELECT p.id, p.name_masked, coalesce(p.id_number_masked, ''), p.relation,
        coalesce(h.address, ''), p.grid_id, EXISTS (SELECT 1 FROM erasures e WHERE e.person_id = p.id)
     FROM persons p LEFT JOIN households h ON h.id = p.household_id";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PersonMatch> {
    Ok(PersonMatch {
        id: r.get(0)?,
        name_masked: r.get(1)?,
        id_number_masked: r.get(2)?,
        relation: r.get(3)?,
        address: r.get(4)?,
        grid_id: r.get(5)?,
        erased: r.get(6)?,
    })
}

pub(crate) fn search(c: &Connection, q: &str, limit: usize) -> Result<Vec<PersonMatch>> {
    let mut stmt = c.prepare(&format!(
        "{MATCH_SQL} WHERE p.id = ?1 OR instr(h.address, ?1) > 0 ORDER BY h.address, p.relation, p.id LIMIT {limit}"
    ))?;
    let rows = stmt.query_map([q], row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn person(c: &Connection, id: &str) -> Result<Option<PersonMatch>> {
    Ok(c.query_row(&format!("{MATCH_SQL} WHERE p.id = ?1"), [id], row)
        .optional()?)
}

pub(crate) fn deleted_person_erased(c: &Connection, id: &str) -> Result<Option<bool>> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM erasures WHERE person_id = ?1) FROM docs WHERE id = ?1 AND kind = 'person'",
        [id],
        |r| r.get::<_, bool>(0),
    )
    .optional()?)
}
