//! Writing a record's query rows (查询表): the rows `materialize` computes from the document,
//! written with the SQL of `db::query_rows` inside the caller's transaction. The phone's store
//! and the server's storage both write through here.
//!
//! Part of `store` (rank 6).

use automerge::AutoCommit;
use rusqlite::Connection;

use crate::db::query_rows::{self as sql, Table};
use crate::doc;
use crate::domain::RecordKind;
use crate::error::Result;
use crate::materialize::{self, Rows};
use crate::rules::{RuleBook, RuleKind, RulePins};

/// Rebuild the query rows of one record inside `tx` (a transaction, or a connection the
/// caller holds exclusively).
///
/// A person's sealed fields open with the key this database holds for it (if any); a case is
/// folded with the rule versions it holds.
pub fn record(tx: &Connection, id: &str, doc: &mut AutoCommit) -> Result<()> {
    let kind = doc::root_str(doc, "kind").and_then(|k| k.parse::<RecordKind>().ok());
    let key = match kind {
        Some(kind) if crate::shred::has_sealed_fields(kind) => crate::db::person_keys::key_of(tx, id)?,
        _ => None,
    };
    let mut rules = |pins: RulePins| Ok(RuleBook::load(tx)?.rules_for(pins));
    let rows = materialize::rows_with(id, doc, key.as_ref(), &mut rules)?;
    rows.write(tx)
}

impl Rows {
    /// Write these rows inside `tx`, replacing the record's old ones. Cases folded with the
    /// shipped rules ([`materialize::rows`]) are redone with the rules `tx` holds when they
    /// pin a later version or any rule-set version is held; a rule-set version written redoes
    /// the cases whose rows it changes.
    pub fn write(&self, tx: &Connection) -> Result<()> {
        sql::clear(tx, &self.id, self.kind)?;
        for (table, values) in &self.rows {
            sql::insert(tx, *table, values)?;
        }
        if !self.redo.is_empty() {
            let any_held = sql::any_rule_set_held(tx)?;
            for c in &self.redo {
                if any_held || c.pins != RulePins::SHIPPED {
                    sql::clear_case(tx, &c.id)?;
                    let rules = RuleBook::load(tx)?.rules_for(c.pins);
                    sql::insert(tx, Table::Cases, &materialize::case_row(c, &rules))?;
                }
            }
        }
        for (rule, version) in &self.rule_sets {
            rematerialize_cases(tx, *rule, *version)?;
        }
        Ok(())
    }
}

/// Re-materialize the cases whose rules a new (or removed) `version` of `rule` changes (see
/// [`sql::cases_using`]).
fn rematerialize_cases(tx: &Connection, rule: RuleKind, version: u32) -> Result<()> {
    for id in sql::cases_using(tx, rule, version)? {
        let Some(bytes) = sql::doc_bytes(tx, &id)? else {
            continue;
        };
        let mut doc = doc::guard(|| AutoCommit::load(&bytes))?;
        record(tx, &id, &mut doc)?;
    }
    Ok(())
}
