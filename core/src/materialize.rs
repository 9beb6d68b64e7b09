//! Query tables: the rows lists and reports read, rebuilt from a record's document inside the
//! same transaction as every local change and every merge.
//!
//! Everything here is a function of the document alone (never of the local clock or arrival
//! order), so two replicas holding the same documents hold the same rows.

use automerge::{AutoCommit, ChangeHash};
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{OptionalExtension, ToSql, Transaction, params, params_from_iter};
use serde_json::Value as Json;

use crate::doc::{self, MSG_CONFIRM_DELETE, MSG_DELETE, MSG_RESOLVE, MSG_TRANSITION};
use crate::domain::Record;
use crate::domain::{
    Case, ChecklistTemplate, HouseCall, Household, Ledger, OrgNode, Patrol, Person, Problem, RecordKind,
};
use crate::error::{Error, Result};
use crate::review::{self, ReviewEntry};
use crate::rules::{RuleBook, RuleKind, RulePins, RuleSet, Rules};
use crate::sensitive;

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

/// The tables holding rows of a record of `kind`, with the column naming the record.
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

/// China Standard Time: the day a ledger counts in.
pub fn china_day(t: DateTime<Utc>) -> NaiveDate {
    let cst = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
    t.with_timezone(&cst).date_naive()
}

/// Where a record's query rows go: straight into a transaction ([`record`]), or into a
/// [`Rows`] buffer computed off the writer's thread and written later ([`rows`]).
trait RowSink {
    /// Run one statement of the record's rebuild.
    fn exec(&mut self, sql: &str, params: &[&dyn ToSql]) -> Result<()>;
    /// The rules a case with `pins` is folded with (see [`crate::rules`]).
    fn case_rules(&mut self, pins: RulePins) -> Result<Rules>;
    /// A case's `cases` row was made with [`Self::case_rules`]; [`Rows`] checks it again when
    /// written, against the rule versions the database then holds.
    fn case_written(&mut self, _case: CaseRedo) {}
    /// A rule-set version was (re)materialized: the cases whose rows it changes are redone.
    fn rule_set_changed(&mut self, rule: RuleKind, version: u32) -> Result<()>;
}

struct Direct<'a, 'b>(&'a Transaction<'b>);

impl RowSink for Direct<'_, '_> {
    fn exec(&mut self, sql: &str, params: &[&dyn ToSql]) -> Result<()> {
        self.0.prepare_cached(sql)?.execute(params)?;
        Ok(())
    }
    fn case_rules(&mut self, pins: RulePins) -> Result<Rules> {
        Ok(RuleBook::load(self.0)?.rules_for(pins))
    }
    fn rule_set_changed(&mut self, rule: RuleKind, version: u32) -> Result<()> {
        rematerialize_cases(self.0, rule, version)
    }
}

/// What redoing a case's `cases` row needs (kept by [`Rows`], which is computed without the
/// database and so without the rule versions it holds).
#[derive(Debug, Clone)]
struct CaseRedo {
    id: String,
    kind: RecordKind,
    case: Case,
    history: Vec<Json>,
    pins: RulePins,
}

/// Re-materialize the cases whose rules a new (or removed) `version` of `rule` changes: those
/// pinning it or a later version of the workflow or time limits (they may have used the
/// fallback), and every case for a calendar (all cases use the newest one).
fn rematerialize_cases(tx: &Transaction<'_>, rule: RuleKind, version: u32) -> Result<()> {
    let sql = match rule {
        RuleKind::Workflow => "SELECT id FROM cases WHERE workflow_version >= ?1 ORDER BY id",
        RuleKind::TimeLimits => "SELECT id FROM cases WHERE time_limits_version >= ?1 ORDER BY id",
        RuleKind::Calendar => "SELECT id FROM cases WHERE ?1 = ?1 ORDER BY id",
    };
    let ids: Vec<String> = tx
        .prepare_cached(sql)?
        .query_map([version], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in ids {
        let bytes: Option<Vec<u8>> = tx
            .prepare_cached("SELECT bytes FROM docs WHERE id = ?1")?
            .query_row([&id], |r| r.get(0))
            .optional()?;
        let Some(bytes) = bytes else { continue };
        let mut doc = doc::guard(|| AutoCommit::load(&bytes))?;
        record(tx, &id, &mut doc)?;
    }
    Ok(())
}

/// A record's query-row rebuild, computed from its document and replayed by [`Rows::write`].
///
/// The server computes these on the cores that validate a push, so its single writer only
/// runs the statements.
///
/// A case's row is computed with the shipped rules; when the case pins a later version, or the
/// database holds any rule-set version, [`Rows::write`] redoes it with the rules `tx` holds
/// (on the writer's thread: a cost only districts that published rule versions pay).
#[derive(Debug, Default, Clone)]
pub struct Rows {
    stmts: Vec<(String, Vec<Value>)>,
    cases: Vec<CaseRedo>,
    rule_sets: Vec<(RuleKind, u32)>,
}

impl Rows {
    /// Run the rebuild inside `tx`.
    pub fn write(&self, tx: &Transaction<'_>) -> Result<()> {
        for (sql, values) in &self.stmts {
            tx.prepare_cached(sql)?.execute(params_from_iter(values))?;
        }
        if !self.cases.is_empty() {
            let any_held: bool = tx
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM rule_sets)")?
                .query_row([], |r| r.get(0))?;
            for c in &self.cases {
                if any_held || c.pins != RulePins::SHIPPED {
                    let mut direct = Direct(tx);
                    direct.exec("DELETE FROM cases WHERE id = ?1", params![c.id])?;
                    let rules = direct.case_rules(c.pins)?;
                    case_rows(&mut direct, c, &rules)?;
                }
            }
        }
        for (rule, version) in &self.rule_sets {
            rematerialize_cases(tx, *rule, *version)?;
        }
        Ok(())
    }
}

impl RowSink for Rows {
    fn exec(&mut self, sql: &str, params: &[&dyn ToSql]) -> Result<()> {
        let values = params
            .iter()
            .map(|p| {
                Ok(match p.to_sql()? {
                    ToSqlOutput::Borrowed(v) => {
                        Value::try_from(v).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?
                    }
                    ToSqlOutput::Owned(v) => v,
                    other => {
                        return Err(rusqlite::Error::ToSqlConversionFailure(
                            format!("unsupported parameter {other:?}").into(),
                        ));
                    }
                })
            })
            .collect::<rusqlite::Result<Vec<Value>>>()?;
        self.stmts.push((sql.to_string(), values));
        Ok(())
    }
    fn case_rules(&mut self, pins: RulePins) -> Result<Rules> {
        Ok(RuleBook::shipped().rules_for(pins))
    }
    fn case_written(&mut self, case: CaseRedo) {
        self.cases.push(case);
    }
    fn rule_set_changed(&mut self, rule: RuleKind, version: u32) -> Result<()> {
        self.rule_sets.push((rule, version));
        Ok(())
    }
}

/// Rebuild the query rows of one record.
///
/// A person's sealed fields open with the key this database holds for it (if any).
pub fn record(tx: &Transaction<'_>, id: &str, doc: &mut AutoCommit) -> Result<()> {
    let key = match doc::root_str(doc, "kind").and_then(|k| k.parse::<RecordKind>().ok()) {
        Some(kind) if crate::shred::has_sealed_fields(kind) => crate::db::person_keys::key_of(tx, id)?,
        _ => None,
    };
    record_into(&mut Direct(tx), id, doc, key.as_ref())
}

/// The query rows of one record, to be written later with [`Rows::write`].
///
/// No key is at hand here: a person's sealed fields come out unavailable. The writer rebuilds
/// such a record with [`record`] (which finds the key) when [`needs_key`] says so.
pub fn rows(id: &str, doc: &mut AutoCommit) -> Result<Rows> {
    let mut rows = Rows::default();
    record_into(&mut rows, id, doc, None)?;
    Ok(rows)
}

/// Whether the rows of a record of root kind `kind` depend on a key ([`rows`] cannot open it).
pub fn needs_key(kind: Option<&str>) -> bool {
    kind.and_then(|k| k.parse::<RecordKind>().ok())
        .is_some_and(crate::shred::has_sealed_fields)
}

fn record_into(
    sink: &mut impl RowSink,
    id: &str,
    doc: &mut AutoCommit,
    key: Option<&crate::shred::PersonKey>,
) -> Result<()> {
    let kind = doc::root_str(doc, "kind").and_then(|k| k.parse::<RecordKind>().ok());
    // A record's kind never changes, so only its own tables can hold its old rows.
    for (table, col) in [("records", "id"), ("field_conflicts", "doc_id")]
        .iter()
        .chain(tables_of(kind))
    {
        sink.exec(&format!("DELETE FROM {table} WHERE {col} = ?1"), params![id])?;
    }
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
    let invalid = match typed_rows(sink, id, kind, doc, &body, deleted.is_none(), &unavailable) {
        Ok(()) => None,
        Err(e) => Some(e.to_string()),
    };
    sink.exec(
        "INSERT INTO records (id, kind, scope, schema, created_at, created_by, deleted, delete_conflict, invalid)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
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
    )?;
    if !flagged.is_empty() {
        for c in doc::body::conflicts(doc) {
            sink.exec(
                "INSERT INTO field_conflicts (doc_id, path, values_json) VALUES (?1, ?2, ?3)",
                params![id, c.path, Json::Array(c.values).to_string()],
            )?;
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

fn typed_rows(
    sink: &mut impl RowSink,
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
                sink.exec(
                    "INSERT INTO org_nodes (id, name, level, code, parent, effective_from, effective_to) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    n.name,
                    enum_text(&n.level),
                    n.code,
                    n.parent,
                    n.effective_from.to_string(),
                    n.effective_to.map(|d| d.to_string())
                ])?;
            }
        }
        RecordKind::Household => {
            let h: Household = typed(id, body)?;
            if live {
                sink.exec(
                    "INSERT INTO households (id, grid_id, building, unit, room, address, housing_use, registered_on)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        id,
                        h.current_grid(),
                        h.building,
                        h.unit,
                        h.room,
                        h.address,
                        enum_text(&h.housing_use),
                        h.registered_on.to_string()
                    ],
                )?;
                for a in &h.grid_assignments {
                    sink.exec(
                        "INSERT OR IGNORE INTO household_grids (household_id, grid_id, from_date) VALUES (?1, ?2, ?3)",
                        params![id, a.grid_id, a.from.to_string()],
                    )?;
                }
            }
        }
        RecordKind::Person => {
            let p: Person = typed(id, body)?;
            if live {
                sink.exec(
                    "INSERT INTO persons (id, household_id, grid_id, name_masked, id_number_masked, phone_masked, relation, birth_date)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
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
                ])?;
                for (i, l) in p.labels.iter().enumerate() {
                    sink.exec("INSERT INTO person_labels (person_id, idx, label, category, start_date, end_date, attention, responsible, household_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", params![
                        id,
                        i as i64,
                        l.label,
                        enum_text(&l.category),
                        l.start.to_string(),
                        l.end.map(|d| d.to_string()),
                        enum_text(&l.attention),
                        l.responsible,
                        p.household_id
                    ])?;
                }
            }
        }
        RecordKind::HouseCall => {
            let h: HouseCall = typed(id, body)?;
            if live {
                let day = china_day(h.started_at);
                sink.exec(
                    "INSERT INTO house_calls (id, grid_id, household_id, visitor, started_at, ended_at, day, template_id, template_version, answer_count, follow_up_due)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
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
                ])?;
                problem_rows(sink, id, &h.grid_id, &h.visitor, day, &h.problems)?;
            }
        }
        RecordKind::Patrol => {
            let p: Patrol = typed(id, body)?;
            if live {
                let day = china_day(p.started_at);
                sink.exec(
                    "INSERT INTO patrols (id, grid_id, worker, started_at, ended_at, day, track_points, checkins) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    id,
                    p.grid_id,
                    p.worker,
                    p.started_at.to_rfc3339(),
                    p.ended_at.map(|t| t.to_rfc3339()),
                    day.to_string(),
                    p.track.len() as i64,
                    p.checkins.len() as i64
                ])?;
                problem_rows(sink, id, &p.grid_id, &p.worker, day, &p.findings)?;
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
                sink.exec(
                    "INSERT INTO ledgers (id, grid_id, worker, day, review_state, review_comment, flagged) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id, l.grid_id, l.worker, l.day.to_string(), r.state.as_str(), r.comment, flagged])?;
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
                let rules = sink.case_rules(pins)?;
                case_rows(sink, &redo, &rules)?;
                sink.case_written(redo);
            }
        }
        RecordKind::Template => {
            let t: ChecklistTemplate = typed(id, body)?;
            if live {
                let json = serde_json::to_string(&t).unwrap_or_default();
                sink.exec(
                    // Two records of one version (two publishes that raced): every replica keeps
                    // the one with the smaller record id, whatever order they arrived in.
                    "INSERT INTO templates (template_id, version, json, doc_id) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (template_id, version) DO UPDATE SET json = excluded.json, doc_id = excluded.doc_id
                     WHERE templates.doc_id IS NULL OR excluded.doc_id <= templates.doc_id",
                    params![t.template_id, t.version, json, id],
                )?;
            }
        }
        RecordKind::RuleSet => {
            let r: RuleSet = typed(id, body)?;
            if live {
                sink.exec(
                    // As for templates: of two records of one version, the smaller id wins everywhere.
                    "INSERT INTO rule_sets (rule, version, json, doc_id) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (rule, version) DO UPDATE SET json = excluded.json, doc_id = excluded.doc_id
                     WHERE excluded.doc_id <= rule_sets.doc_id",
                    params![r.rule.as_str(), r.version, r.json, id],
                )?;
            }
            sink.rule_set_changed(r.rule, r.version)?;
        }
    }
    Ok(())
}

/// The `cases` row of a live case, folded with `rules`.
fn case_rows(sink: &mut impl RowSink, c: &CaseRedo, rules: &Rules) -> Result<()> {
    let summary = crate::cases::summarize(&c.id, &c.case, &c.history, rules);
    let deadline = summary.json.get("deadline").and_then(Json::as_str).map(str::to_string);
    let case = &c.case;
    sink.exec(
        "INSERT INTO cases (id, kind, grid_id, category, subcategory, scale, title, reporter, channel, occurred_at, state, transitions, conflicts, deadline, summary_json, workflow_version, time_limits_version)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        params![
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
        ],
    )
}

fn problem_rows(
    sink: &mut impl RowSink,
    id: &str,
    grid: &str,
    worker: &str,
    day: NaiveDate,
    problems: &[Problem],
) -> Result<()> {
    for (i, p) in problems.iter().enumerate() {
        sink.exec("INSERT INTO problems (doc_id, idx, grid_id, worker, day, kind, solved_on_spot, reported) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", params![
            id,
            i as i64,
            grid,
            worker,
            day.to_string(),
            p.kind,
            p.solved_on_spot,
            p.reported
        ])?;
    }
    Ok(())
}

/// The snake_case text of a serde enum.
pub(crate) fn enum_text<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Json::String(s)) => s,
        _ => String::new(),
    }
}
