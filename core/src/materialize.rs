//! Query tables: the rows lists and reports read, computed from a record's document. The
//! store writes them (`store::query_rows`) inside the same transaction as every local change
//! and every merge; their SQL is `db::query_rows`.
//!
//! Everything here is a function of the document alone (never of the local clock or arrival
//! order), so two replicas holding the same documents hold the same rows.
//!
//! Rank 5 of the crate's layers (core/README.md): pure, it runs no SQL; it uses `cases`,
//! `rules`, `review`, `sensitive`, `shred`, `doc`, `domain` and the row types of
//! `db::query_rows`. Never `store` or `sync`.

use automerge::{AutoCommit, ChangeHash};
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde_json::Value as Json;

use crate::db::query_rows::{Cell, IntoCell, Table};
use crate::doc::{self, MSG_CONFIRM_DELETE, MSG_DELETE, MSG_RESOLVE, MSG_TRANSITION};
use crate::domain::Record;
use crate::domain::{
    Case, ChecklistTemplate, HouseCall, Household, Ledger, OrgNode, Patrol, Person, Problem, RecordKind,
};
use crate::error::{Error, Result};
use crate::review::{self, ReviewEntry};
use crate::rules::{RuleBook, RuleKind, RulePins, RuleSet, Rules};
use crate::sensitive;

/// The values of a row, in the order of its table's columns (`db::query_rows`).
macro_rules! cells {
    ($($v:expr),* $(,)?) => {
        vec![$(IntoCell::cell(&$v)),*]
    };
}

/// China Standard Time: the day a ledger counts in.
pub fn china_day(t: DateTime<Utc>) -> NaiveDate {
    let cst = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
    t.with_timezone(&cst).date_naive()
}

/// The query rows of one record, computed from its document; written by the store
/// (`store::query_rows`), which first deletes the record's old rows.
///
/// The server computes these on the cores that validate a push, so its single writer only
/// runs the statements. Rows made by [`rows`] hold cases folded with the shipped rules; when
/// such a case pins a later version, or the database holds any rule-set version, the writer
/// redoes it with the rules the database holds (on the writer's thread: a cost only districts
/// that published rule versions pay).
#[derive(Debug, Default, Clone)]
pub struct Rows {
    /// The record.
    pub(crate) id: String,
    /// Its kind (`None` until its creating change arrives): the tables its old rows are in.
    pub(crate) kind: Option<RecordKind>,
    /// The rows, in the order they are written.
    pub(crate) rows: Vec<(Table, Vec<Cell>)>,
    /// Cases folded with the shipped rules, to be checked again when written.
    pub(crate) redo: Vec<CaseRedo>,
    /// Rule-set versions written: the cases whose rows they change are redone.
    pub(crate) rule_sets: Vec<(RuleKind, u32)>,
}

impl Rows {
    fn push(&mut self, table: Table, values: Vec<Cell>) {
        self.rows.push((table, values));
    }
}

/// What redoing a case's `cases` row needs (kept by [`Rows`] made without the database, and
/// so without the rule versions it holds).
#[derive(Debug, Clone)]
pub(crate) struct CaseRedo {
    pub(crate) id: String,
    kind: RecordKind,
    case: Case,
    history: Vec<Json>,
    pub(crate) pins: RulePins,
}

/// The rules a case with given pins is folded with (see [`crate::rules`]).
pub type CaseRules<'a> = &'a mut dyn FnMut(RulePins) -> Result<Rules>;

/// The query rows of one record, to be written by the store. No key is at hand here: a
/// person's sealed fields come out unavailable (the writer rebuilds such a record with the
/// key it holds when [`needs_key`] says so); cases are folded with the shipped rules.
pub fn rows(id: &str, doc: &mut AutoCommit) -> Result<Rows> {
    let mut out = Rows::default();
    let mut shipped = |pins: RulePins| Ok(RuleBook::shipped().rules_for(pins));
    record_into(&mut out, id, doc, None, &mut shipped, true)?;
    Ok(out)
}

/// The query rows of one record with the person key `key` (if the database holds one) and
/// cases folded with `rules` (those the database holds): nothing is left to redo.
pub fn rows_with(
    id: &str,
    doc: &mut AutoCommit,
    key: Option<&crate::shred::PersonKey>,
    rules: CaseRules<'_>,
) -> Result<Rows> {
    let mut out = Rows::default();
    record_into(&mut out, id, doc, key, rules, false)?;
    Ok(out)
}

/// Whether the rows of a record of root kind `kind` depend on a key ([`rows`] cannot open it).
pub fn needs_key(kind: Option<&str>) -> bool {
    kind.and_then(|k| k.parse::<RecordKind>().ok())
        .is_some_and(crate::shred::has_sealed_fields)
}

/// Compute the rows of one record into `sink`; `keep_redo`: the cases are folded with rules
/// the writer checks again ([`rows`]).
fn record_into(
    sink: &mut Rows,
    id: &str,
    doc: &mut AutoCommit,
    key: Option<&crate::shred::PersonKey>,
    rules: CaseRules<'_>,
    keep_redo: bool,
) -> Result<()> {
    let kind = doc::root_str(doc, "kind").and_then(|k| k.parse::<RecordKind>().ok());
    sink.id = id.to_string();
    sink.kind = kind;
    let (Some(kind), Some(scope)) = (kind, doc::root_str(doc, "scope")) else {
        return Ok(()); // its creating change has not arrived yet
    };
    let deleted = doc::root_obj(doc, "deleted");
    let delete_conflict = match &deleted {
        Some(d) => edited_since(doc, &doc::read_json(doc, d)["base"], &[MSG_DELETE, MSG_CONFIRM_DELETE]),
        None => false,
    };
    let mut flagged = Vec::new();
    let mut body = doc::body::read_flagging(doc, &mut flagged);
    let mut unavailable = Vec::new();
    if crate::shred::has_sealed_fields(kind) {
        // Sealed fields open with the person's key (a function of the document and the key: a
        // replica without the key lists the fields as unavailable, and has no rows of the
        // labels it cannot open).
        unavailable = crate::shred::open_body(kind, id, key, &mut body);
        if unavailable.contains(&"name") {
            body["name"] = Json::String(crate::shred::UNAVAILABLE_TEXT.into());
        }
    }
    let mut case_rules = CaseRulesOf { rules, keep_redo };
    let invalid = match typed_rows(
        sink,
        &mut case_rules,
        id,
        kind,
        doc,
        &body,
        deleted.is_none(),
        &unavailable,
    ) {
        Ok(()) => None,
        Err(e) => Some(e.to_string()),
    };
    sink.push(
        Table::Records,
        cells![
            id,
            kind.as_str(),
            scope,
            doc::root_int(doc, "schema").unwrap_or(0),
            doc::root_str(doc, "created_at").unwrap_or_default(),
            doc::root_str(doc, "created_by").unwrap_or_default(),
            deleted.is_some(),
            delete_conflict,
            invalid,
        ],
    );
    if !flagged.is_empty() {
        for c in doc::body::conflicts(doc) {
            sink.push(
                Table::FieldConflicts,
                cells![id, c.path, Json::Array(c.values).to_string()],
            );
        }
    }
    Ok(())
}

/// Whether the document holds changes not below `base` other than those with `ignore`d
/// messages: edits made concurrently with (or after) the step that recorded `base`.
fn edited_since(doc: &mut AutoCommit, base: &Json, ignore: &[&str]) -> bool {
    let base: Vec<ChangeHash> = base
        .as_array()
        .map(|a| a.iter().filter_map(|h| h.as_str()?.parse().ok()).collect())
        .unwrap_or_default();
    doc.get_changes_meta(&base)
        .iter()
        .any(|c| !c.message.as_deref().is_some_and(|m| ignore.contains(&m)))
}

fn typed<R: Record>(id: &str, body: &Json) -> Result<R> {
    R::deserialize(body).map_err(|e| Error::Corrupt {
        id: id.to_string(),
        reason: e.to_string(),
    })
}

/// How a case's row is folded: with which rules, and whether it is redone when written.
struct CaseRulesOf<'a> {
    rules: CaseRules<'a>,
    keep_redo: bool,
}

#[allow(clippy::too_many_arguments)]
fn typed_rows(
    sink: &mut Rows,
    case_rules: &mut CaseRulesOf<'_>,
    id: &str,
    kind: RecordKind,
    doc: &mut AutoCommit,
    body: &Json,
    live: bool,
    unavailable: &[&str],
) -> Result<()> {
    match kind {
        RecordKind::OrgNode => {
            let n: OrgNode = typed(id, body)?;
            if live {
                sink.push(
                    Table::OrgNodes,
                    cells![
                        id,
                        n.name,
                        enum_text(&n.level),
                        n.code,
                        n.parent,
                        n.effective_from.to_string(),
                        n.effective_to.map(|d| d.to_string())
                    ],
                );
            }
        }
        RecordKind::Household => {
            let h: Household = typed(id, body)?;
            if live {
                sink.push(
                    Table::Households,
                    cells![
                        id,
                        h.current_grid(),
                        h.building,
                        h.unit,
                        h.room,
                        h.address,
                        enum_text(&h.housing_use),
                        h.registered_on.to_string()
                    ],
                );
                for a in &h.grid_assignments {
                    sink.push(Table::HouseholdGrids, cells![id, a.grid_id, a.from.to_string()]);
                }
            }
        }
        RecordKind::Person => {
            let p: Person = typed(id, body)?;
            if live {
                sink.push(
                    Table::Persons,
                    cells![
                        id,
                        p.household_id,
                        p.grid_id,
                        if p.name == crate::shred::UNAVAILABLE_TEXT {
                            p.name.clone()
                        } else {
                            sensitive::mask_name(&p.name)
                        },
                        p.id_number.as_deref().map(sensitive::mask_id_number),
                        p.phone.as_deref().map(sensitive::mask_phone),
                        p.relation,
                        if unavailable.contains(&"birth_date") {
                            Some(crate::shred::UNAVAILABLE_TEXT.to_string())
                        } else {
                            p.birth_date.map(|d| d.to_string())
                        }
                    ],
                );
                for (i, l) in p.labels.iter().enumerate() {
                    sink.push(
                        Table::PersonLabels,
                        cells![
                            id,
                            i as i64,
                            l.label,
                            enum_text(&l.category),
                            l.start.to_string(),
                            l.end.map(|d| d.to_string()),
                            enum_text(&l.attention),
                            l.responsible,
                            p.household_id
                        ],
                    );
                }
            }
        }
        RecordKind::HouseCall => {
            let h: HouseCall = typed(id, body)?;
            if live {
                let day = china_day(h.started_at);
                sink.push(
                    Table::HouseCalls,
                    cells![
                        id,
                        h.grid_id,
                        h.household_id,
                        h.visitor,
                        h.started_at.to_rfc3339(),
                        h.ended_at.to_rfc3339(),
                        day.to_string(),
                        h.template_id,
                        h.template_version,
                        h.answers.len() as i64,
                        h.follow_up_due.map(|d| d.to_string())
                    ],
                );
                problem_rows(sink, id, &h.grid_id, &h.visitor, day, &h.problems);
            }
        }
        RecordKind::Patrol => {
            let p: Patrol = typed(id, body)?;
            if live {
                let day = china_day(p.started_at);
                sink.push(
                    Table::Patrols,
                    cells![
                        id,
                        p.grid_id,
                        p.worker,
                        p.started_at.to_rfc3339(),
                        p.ended_at.map(|t| t.to_rfc3339()),
                        day.to_string(),
                        p.track.len() as i64,
                        p.checkins.len() as i64
                    ],
                );
                problem_rows(sink, id, &p.grid_id, &p.worker, day, &p.findings);
            }
        }
        RecordKind::Ledger => {
            let l: Ledger = typed(id, body)?;
            let entries: Vec<ReviewEntry> = doc::history::parse(&doc::history::read(doc));
            let r = review::fold(&entries);
            // 审核后修改: an edit not known to the approval is flagged for the supervisor.
            let flagged = match (&r.state, &r.last) {
                (review::ReviewState::Approved, Some(last)) => {
                    let base = Json::Array(last.base.iter().cloned().map(Json::String).collect());
                    edited_since(doc, &base, &[MSG_TRANSITION, MSG_RESOLVE])
                }
                _ => false,
            };
            if live {
                sink.push(
                    Table::Ledgers,
                    cells![
                        id,
                        l.grid_id,
                        l.worker,
                        l.day.to_string(),
                        r.state.as_str(),
                        r.comment,
                        flagged
                    ],
                );
            }
        }
        RecordKind::Incident | RecordKind::Request => {
            let case: Case = typed(id, body)?;
            let pins = RulePins::of_doc(doc).map_err(|reason| Error::Corrupt {
                id: id.to_string(),
                reason,
            })?;
            if live {
                let redo = CaseRedo {
                    id: id.to_string(),
                    kind,
                    case,
                    history: doc::history::read(doc),
                    pins,
                };
                let rules = (case_rules.rules)(pins)?;
                sink.push(Table::Cases, case_row(&redo, &rules));
                if case_rules.keep_redo {
                    sink.redo.push(redo);
                }
            }
        }
        RecordKind::Template => {
            let t: ChecklistTemplate = typed(id, body)?;
            if live {
                let json = serde_json::to_string(&t).unwrap_or_default();
                sink.push(Table::Templates, cells![t.template_id, t.version, json, id]);
            }
        }
        RecordKind::RuleSet => {
            let r: RuleSet = typed(id, body)?;
            if live {
                sink.push(Table::RuleSets, cells![r.rule.as_str(), r.version, r.json, id]);
            }
            sink.rule_sets.push((r.rule, r.version));
        }
    }
    Ok(())
}

/// The `cases` row of a live case, folded with `rules`.
pub(crate) fn case_row(c: &CaseRedo, rules: &Rules) -> Vec<Cell> {
    let summary = crate::cases::summarize(&c.id, &c.case, &c.history, rules);
    let deadline = summary.json.get("deadline").and_then(Json::as_str).map(str::to_string);
    let case = &c.case;
    cells![
        c.id,
        c.kind.as_str(),
        case.grid_id,
        case.category,
        case.subcategory,
        case.scale,
        case.title,
        case.reporter,
        case.channel,
        case.occurred_at.to_rfc3339(),
        summary.state,
        c.history.len() as i64,
        summary.conflicts as i64,
        deadline,
        summary.json.to_string(),
        c.pins.workflow,
        c.pins.time_limits
    ]
}

fn problem_rows(sink: &mut Rows, id: &str, grid: &str, worker: &str, day: NaiveDate, problems: &[Problem]) {
    for (i, p) in problems.iter().enumerate() {
        sink.push(
            Table::Problems,
            cells![
                id,
                i as i64,
                grid,
                worker,
                day.to_string(),
                p.kind,
                p.solved_on_spot,
                p.reported
            ],
        );
    }
}

/// The snake_case text of a serde enum.
pub(crate) fn enum_text<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Json::String(s)) => s,
        _ => String::new(),
    }
}
