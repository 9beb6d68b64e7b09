//! The case board's queries on SQLite (rank 2, `storage`).

use rusqlite::{Connection, OptionalExtension};

use super::super::json_list;
use crate::storage::Result;
use crate::storage::review::cases::CaseDoc;

pub(crate) fn case_docs(
    c: &Connection,
    grids: &[String],
    chunk: usize,
    each: &mut dyn FnMut(Vec<CaseDoc>) -> bool,
) -> Result<()> {
    let mut stmt = c.prepare_cached(
        "SELECT c.id, c.grid_id, d.bytes FROM cases c JOIN docs d ON d.id = c.id
         WHERE c.grid_id IN (SELECT value FROM json_each(?1)) AND c.state != 'draft' ORDER BY c.occurred_at DESC, c.id",
    )?;
    let mut rows = stmt.query([json_list(grids)])?;
    let chunk = chunk.max(1);
    let mut batch: Vec<CaseDoc> = Vec::with_capacity(chunk);
    loop {
        let next = rows.next()?;
        if let Some(r) = next {
            batch.push(CaseDoc {
                id: r.get(0)?,
                grid_id: r.get(1)?,
                bytes: r.get(2)?,
            });
        }
        if (batch.len() >= chunk || (next.is_none() && !batch.is_empty()))
            && !each(std::mem::replace(&mut batch, Vec::with_capacity(chunk)))
        {
            return Ok(());
        }
        if next.is_none() {
            return Ok(());
        }
    }
}

pub(crate) fn case_doc(c: &Connection, id: &str) -> Result<Option<CaseDoc>> {
    Ok(c.query_row(
        "SELECT c.grid_id, d.bytes FROM cases c JOIN docs d ON d.id = c.id WHERE c.id = ?1",
        [id],
        |r| {
            Ok(CaseDoc {
                id: id.to_string(),
                grid_id: r.get(0)?,
                bytes: r.get(1)?,
            })
        },
    )
    .optional()?)
}
