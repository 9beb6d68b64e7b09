//! The 走访台账 list's and page's queries on SQLite (rank 2, `storage`).

use rusqlite::{Connection, OptionalExtension, params};

use super::super::json_list;
use crate::storage::Result;
use crate::storage::review::ledgers::{LedgerFilter, LedgerListRow, MaskedPerson, VisitedMember};

fn where_clause() -> &'static str {
    "l.grid_id IN (SELECT value FROM json_each(?1)) AND (?2 IS NULL OR l.worker = ?2)
     AND (?3 IS NULL OR l.day >= ?3) AND (?4 IS NULL OR l.day <= ?4) AND (?5 IS NULL OR l.review_state = ?5)"
}

pub(crate) fn rows(
    c: &Connection,
    f: &LedgerFilter,
    limit: Option<usize>,
    offset: usize,
    each: &mut dyn FnMut(LedgerListRow) -> bool,
) -> Result<()> {
    let dir = if f.desc { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT l.id, l.grid_id, coalesce(g.name, l.grid_id) AS grid_name, l.worker, coalesce(a.display_name, l.worker),
                l.day, l.review_state, l.review_comment, l.flagged,
                (SELECT count(*) FROM house_calls c WHERE c.visitor = l.worker AND c.day = l.day) AS calls,
                (SELECT count(DISTINCT c.household_id) FROM house_calls c WHERE c.visitor = l.worker AND c.day = l.day) AS households,
                (SELECT count(*) FROM problems p WHERE p.worker = l.worker AND p.day = l.day) AS problems,
                (SELECT coalesce(sum(p.solved_on_spot), 0) FROM problems p WHERE p.worker = l.worker AND p.day = l.day) AS solved,
                (SELECT coalesce(sum(p.reported), 0) FROM problems p WHERE p.worker = l.worker AND p.day = l.day) AS reported
         FROM ledgers l LEFT JOIN org_nodes g ON g.id = l.grid_id LEFT JOIN accounts a ON a.id = l.worker
         WHERE {} ORDER BY {} {dir}, l.day DESC, l.id LIMIT ?6 OFFSET ?7",
        where_clause(),
        f.sort
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let limit = limit.map_or(-1, |l| l as i64);
    let mut rows = stmt.query(params![
        json_list(&f.grids),
        f.worker,
        f.from,
        f.to,
        f.state,
        limit,
        offset as i64
    ])?;
    while let Some(r) = rows.next()? {
        let row = LedgerListRow {
            id: r.get(0)?,
            grid_id: r.get(1)?,
            grid_name: r.get(2)?,
            worker: r.get(3)?,
            worker_name: r.get(4)?,
            day: r.get(5)?,
            review_state: r.get(6)?,
            review_comment: r.get(7)?,
            flagged: r.get(8)?,
            house_calls: r.get(9)?,
            households_visited: r.get(10)?,
            problems: r.get(11)?,
            solved_on_spot: r.get(12)?,
            reported: r.get(13)?,
        };
        if !each(row) {
            break;
        }
    }
    Ok(())
}

pub(crate) fn count(c: &Connection, f: &LedgerFilter) -> Result<usize> {
    let sql = format!("SELECT count(*) FROM ledgers l WHERE {}", where_clause());
    let n: i64 = c
        .prepare_cached(&sql)?
        .query_row(params![json_list(&f.grids), f.worker, f.from, f.to, f.state], |r| {
            r.get(0)
        })?;
    Ok(n.max(0) as usize)
}

pub(crate) fn ledger_grid(c: &Connection, id: &str) -> Result<Option<String>> {
    Ok(
        c.query_row("SELECT grid_id FROM ledgers WHERE id = ?1", [id], |r| r.get(0))
            .optional()?,
    )
}

pub(crate) fn ledger_worker_day(c: &Connection, id: &str) -> Result<(String, String)> {
    Ok(c.query_row("SELECT worker, day FROM ledgers WHERE id = ?1", [id], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?)
}

pub(crate) fn house_calls_of(c: &Connection, worker: &str, day: &str) -> Result<Vec<(String, String)>> {
    let mut stmt = c.prepare_cached(
        "SELECT c.id, coalesce(h.address, c.household_id) FROM house_calls c LEFT JOIN households h ON h.id = c.household_id
         WHERE c.visitor = ?1 AND c.day = ?2 ORDER BY c.started_at, c.id",
    )?;
    let rows = stmt.query_map(params![worker, day], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn template_version_json(c: &Connection, template_id: &str, version: u32) -> Result<Option<String>> {
    Ok(c.query_row(
        "SELECT json FROM templates WHERE template_id = ?1 AND version = ?2",
        params![template_id, version],
        |r| r.get(0),
    )
    .optional()?)
}

pub(crate) fn masked_person(c: &Connection, id: &str) -> Result<Option<MaskedPerson>> {
    Ok(c
        .query_row(
            "SELECT name_masked, coalesce(id_number_masked, ''), coalesce(phone_masked, ''), relation FROM persons WHERE id = ?1",
            [id],
            |r| {
                Ok(MaskedPerson {
                    name: r.get(0)?,
                    id_number: r.get(1)?,
                    phone: r.get(2)?,
                    relation: r.get(3)?,
                })
            },
        )
        .optional()?)
}

pub(crate) fn patrols_of(c: &Connection, worker: &str, day: &str) -> Result<Vec<String>> {
    let mut stmt = c.prepare_cached("SELECT id FROM patrols WHERE worker = ?1 AND day = ?2 ORDER BY started_at")?;
    let rows = stmt.query_map(params![worker, day], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn visited_members(
    c: &Connection,
    f: &LedgerFilter,
    each: &mut dyn FnMut(VisitedMember) -> bool,
) -> Result<()> {
    let mut stmt = c.prepare(
        "SELECT l.day, coalesce(a.display_name, l.worker), h.address, p.id, p.name_masked, coalesce(p.id_number_masked, ''),
                coalesce(p.phone_masked, ''), p.relation
         FROM ledgers l JOIN house_calls c ON c.visitor = l.worker AND c.day = l.day
         JOIN households h ON h.id = c.household_id JOIN persons p ON p.household_id = c.household_id
         LEFT JOIN accounts a ON a.id = l.worker
         WHERE l.grid_id IN (SELECT value FROM json_each(?1)) AND (?2 IS NULL OR l.worker = ?2)
           AND (?3 IS NULL OR l.day >= ?3) AND (?4 IS NULL OR l.day <= ?4) AND (?5 IS NULL OR l.review_state = ?5)
         ORDER BY l.day DESC, l.worker, c.started_at, p.id",
    )?;
    let mut rows = stmt.query(params![json_list(&f.grids), f.worker, f.from, f.to, f.state])?;
    while let Some(r) = rows.next()? {
        let m = VisitedMember {
            day: r.get(0)?,
            worker_name: r.get(1)?,
            address: r.get(2)?,
            person_id: r.get(3)?,
            name: r.get(4)?,
            id_number: r.get(5)?,
            phone: r.get(6)?,
            relation: r.get(7)?,
        };
        if !each(m) {
            break;
        }
    }
    Ok(())
}
