//! The SQL of the query tables (查询表): which tables hold a record's rows, the statement that
//! writes a row of each, and the reads the rebuild needs. What goes in a row is computed from
//! the record's document by `materialize` (a pure function); the store writes it with
//! [`clear`] and [`insert`].
//!
//! Part of `db` (rank 4).

use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{Connection, OptionalExtension, ToSql, params};

use crate::domain::RecordKind;
use crate::error::Result;
use crate::rules::RuleKind;

/// The query tables, in a fixed order.
pub const QUERY_TABLES: &[&str] = &[
    "records",
    "field_conflicts",
    "org_nodes",
    "households",
    "household_grids",
    "persons",
    "person_labels",
    "house_calls",
    "patrols",
    "problems",
    "ledgers",
    "cases",
    "templates",
    "rule_sets",
];

/// A query table a row goes to. The values of a row are in the order of the columns its
/// statement (`insert_sql`) names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// One row per record: kind, scope, deleted, invalid ...
    Records,
    /// Fields of a record holding concurrent values.
    FieldConflicts,
    /// 组织节点
    OrgNodes,
    /// 户
    Households,
    /// A household's grid assignments.
    HouseholdGrids,
    /// 人员 (masked).
    Persons,
    /// 人员类别 labels.
    PersonLabels,
    /// 入户走访
    HouseCalls,
    /// 巡查
    Patrols,
    /// Problems found on a house call or patrol.
    Problems,
    /// 走访台账 with its review state.
    Ledgers,
    /// 事件 and 诉求 with their folded workflow.
    Cases,
    /// 检查清单模板
    Templates,
    /// 规则版本
    RuleSets,
}

/// One value of a row: what a query-table column holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// SQL `NULL`.
    Null,
    /// An integer (counts, versions, flags as 0/1).
    Int(i64),
    /// Text.
    Text(String),
}

impl ToSql for Cell {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Cell::Null => ToSqlOutput::Owned(Value::Null),
            Cell::Int(i) => ToSqlOutput::Owned(Value::Integer(*i)),
            Cell::Text(s) => ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Text(s.as_bytes())),
        })
    }
}

/// A value that goes into a [`Cell`].
pub trait IntoCell {
    /// The cell.
    fn cell(&self) -> Cell;
}

impl IntoCell for str {
    fn cell(&self) -> Cell {
        Cell::Text(self.to_string())
    }
}
impl IntoCell for String {
    fn cell(&self) -> Cell {
        Cell::Text(self.clone())
    }
}
impl IntoCell for i64 {
    fn cell(&self) -> Cell {
        Cell::Int(*self)
    }
}
impl IntoCell for u32 {
    fn cell(&self) -> Cell {
        Cell::Int(i64::from(*self))
    }
}
impl IntoCell for bool {
    fn cell(&self) -> Cell {
        Cell::Int(i64::from(*self))
    }
}
impl<T: IntoCell + ?Sized> IntoCell for &T {
    fn cell(&self) -> Cell {
        (**self).cell()
    }
}
impl<T: IntoCell> IntoCell for Option<T> {
    fn cell(&self) -> Cell {
        self.as_ref().map_or(Cell::Null, IntoCell::cell)
    }
}

/// The tables holding rows of a record of `kind` besides `records` and `field_conflicts`, with
/// the column naming the record.
fn tables_of(kind: Option<RecordKind>) -> &'static [(&'static str, &'static str)] {
    match kind {
        Some(RecordKind::OrgNode) => &[("org_nodes", "id")],
        Some(RecordKind::Household) => &[("households", "id"), ("household_grids", "household_id")],
        Some(RecordKind::Person) => &[("persons", "id"), ("person_labels", "person_id")],
        Some(RecordKind::HouseCall) => &[("house_calls", "id"), ("problems", "doc_id")],
        Some(RecordKind::Patrol) => &[("patrols", "id"), ("problems", "doc_id")],
        Some(RecordKind::Ledger) => &[("ledgers", "id")],
        Some(RecordKind::Incident | RecordKind::Request) => &[("cases", "id")],
        Some(RecordKind::Template) => &[("templates", "doc_id")],
        Some(RecordKind::RuleSet) => &[("rule_sets", "doc_id")],
        None => &[],
    }
}

/// Delete the rows of record `id` (root kind `kind`). A record's kind never changes, so only
/// its own tables can hold its old rows.
pub fn clear(conn: &Connection, id: &str, kind: Option<RecordKind>) -> Result<()> {
    for (table, col) in [("records", "id"), ("field_conflicts", "doc_id")]
        .iter()
        .chain(tables_of(kind))
    {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE {col} = ?1"))?
            .execute(params![id])?;
    }
    Ok(())
}

/// Delete the `cases` row of `id` (before it is made again with other rules).
pub fn clear_case(conn: &Connection, id: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM cases WHERE id = ?1")?
        .execute(params![id])?;
    Ok(())
}

/// The statement writing one row of `table`; its parameters are the row's values in order.
fn insert_sql(table: Table) -> &'static str {
    match table {
        Table::Records => {
            "INSERT INTO records (id, kind, scope, schema, created_at, created_by, deleted, delete_conflict, invalid)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        }
        Table::FieldConflicts => "INSERT INTO field_conflicts (doc_id, path, values_json) VALUES (?1, ?2, ?3)",
        Table::OrgNodes => {
            "INSERT INTO org_nodes (id, name, level, code, parent, effective_from, effective_to) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        }
        Table::Households => {
            "INSERT INTO households (id, grid_id, building, unit, room, address, housing_use, registered_on)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        }
        Table::HouseholdGrids => {
            "INSERT OR IGNORE INTO household_grids (household_id, grid_id, from_date) VALUES (?1, ?2, ?3)"
        }
        Table::Persons => {
            "INSERT INTO persons (id, household_id, grid_id, name_masked, id_number_masked, phone_masked, relation, birth_date)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        }
        Table::PersonLabels => {
            "INSERT INTO person_labels (person_id, idx, label, category, start_date, end_date, attention, responsible, household_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        }
        Table::HouseCalls => {
            "INSERT INTO house_calls (id, grid_id, household_id, visitor, started_at, ended_at, day, template_id, template_version, answer_count, follow_up_due)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        }
        Table::Patrols => {
            "INSERT INTO patrols (id, grid_id, worker, started_at, ended_at, day, track_points, checkins) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        }
        Table::Problems => {
            "INSERT INTO problems (doc_id, idx, grid_id, worker, day, kind, solved_on_spot, reported) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        }
        Table::Ledgers => {
            "INSERT INTO ledgers (id, grid_id, worker, day, review_state, review_comment, flagged) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        }
        Table::Cases => {
            "INSERT INTO cases (id, kind, grid_id, category, subcategory, scale, title, reporter, channel, occurred_at, state, transitions, conflicts, deadline, summary_json, workflow_version, time_limits_version)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
        }
        // Two records of one version (two publishes that raced): every replica keeps the one
        // with the smaller record id, whatever order they arrived in.
        Table::Templates => {
            "INSERT INTO templates (template_id, version, json, doc_id) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (template_id, version) DO UPDATE SET json = excluded.json, doc_id = excluded.doc_id
                     WHERE templates.doc_id IS NULL OR excluded.doc_id <= templates.doc_id"
        }
        // As for templates: of two records of one version, the smaller id wins everywhere.
        Table::RuleSets => {
            "INSERT INTO rule_sets (rule, version, json, doc_id) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (rule, version) DO UPDATE SET json = excluded.json, doc_id = excluded.doc_id
                     WHERE excluded.doc_id <= rule_sets.doc_id"
        }
    }
}

/// Write one row of `table`.
pub fn insert(conn: &Connection, table: Table, values: &[Cell]) -> Result<()> {
    conn.prepare_cached(insert_sql(table))?
        .execute(rusqlite::params_from_iter(values))?;
    Ok(())
}

/// Whether the database holds any published rule version.
pub fn any_rule_set_held(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM rule_sets)")?
        .query_row([], |r| r.get(0))?)
}

/// The cases whose rules a new (or removed) `version` of `rule` changes: those pinning it or a
/// later version of the workflow or time limits (they may have used the fallback), and every
/// case for a calendar (all cases use the newest one).
pub fn cases_using(conn: &Connection, rule: RuleKind, version: u32) -> Result<Vec<String>> {
    let sql = match rule {
        RuleKind::Workflow => "SELECT id FROM cases WHERE workflow_version >= ?1 ORDER BY id",
        RuleKind::TimeLimits => "SELECT id FROM cases WHERE time_limits_version >= ?1 ORDER BY id",
        RuleKind::Calendar => "SELECT id FROM cases WHERE ?1 = ?1 ORDER BY id",
    };
    Ok(conn
        .prepare_cached(sql)?
        .query_map([version], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

/// The saved bytes of document `id`, if held.
pub fn doc_bytes(conn: &Connection, id: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT bytes FROM docs WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}
