//! Incidents and requests in the store: the glue between case documents and the workflow
//! engine ([`crate::workflow`]).
//!
//! A case's history is the `transitions` list of its document. Taking an action folds the
//! history, checks the new transition with the engine's own rule (so the local fold is sure to
//! apply it) and appends it; concurrent transitions from other phones merge into the list and
//! the fold settles them the same way everywhere.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use uuid::Uuid;

use crate::doc;
use crate::domain::{Case, CaseKind, RecordKind};
use crate::error::{Error, Result};
use crate::rules::{RuleBook, RulePins, RuleVersions};
use crate::store::{Store, read_body};
use crate::workflow::{
    self, CaseFacts, CaseRow, CaseState, ClaimOutcome, DeadlineStatus, Metrics, MetricsQuery, TimeLimits, Transition,
    WorkCalendar, WorkflowDefinition, WorkflowError,
};

/// The rules a case is handled with: workflow definition, time limits, working calendar (the
/// versions a case pins, see [`crate::rules`]).
#[derive(Debug, Clone)]
pub struct Rules {
    /// 流程定义
    pub definition: Arc<WorkflowDefinition>,
    /// 办理时限
    pub limits: Arc<TimeLimits>,
    /// 工作日历
    pub calendar: Arc<WorkCalendar>,
    /// The versions these are.
    pub versions: RuleVersions,
}

/// The default rules shipped with the app (version 1 of each), parsed once.
pub fn default_rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| Rules {
        // The shipped data files are validated by unit tests; a broken build cannot pass them.
        definition: Arc::new(workflow::default_definition().expect("shipped workflow definition is valid")),
        limits: Arc::new(workflow::default_time_limits().expect("shipped time limits are valid")),
        calendar: Arc::new(workflow::calendar_cn().expect("shipped calendar is valid")),
        versions: RuleVersions::SHIPPED,
    })
}

impl From<WorkflowError> for Error {
    fn from(e: WorkflowError) -> Self {
        Error::Workflow {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

/// What the query table keeps of a case's folded workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseSummary {
    /// Current state.
    pub state: String,
    /// Transitions skipped as invalid at their point.
    pub conflicts: usize,
    /// The metrics row of the case (org path left empty: it is joined at query time).
    pub json: Json,
}

/// Parse a document's history; entries that do not parse are dropped here (the server never
/// accepts them, so only a corrupt replica could hold one).
pub fn parse_history(history: &[Json]) -> Vec<Transition> {
    history
        .iter()
        .filter_map(|t| serde_json::from_value(t.clone()).ok())
        .collect()
}

fn facts<'a>(id: &'a str, case: &'a Case) -> CaseFacts<'a> {
    CaseFacts {
        id,
        kind: case.case_kind,
        category: &case.category,
        subcategory: case.subcategory.as_deref(),
        scale: &case.scale,
        org_path: "",
        grid_id: &case.grid_id,
    }
}

/// Fold a case's history into its query-table summary. Deterministic: "now" is the time of the
/// last transition, never the local clock (a pending extension's moving deadline is refreshed
/// when the case is read, see [`Store::case`]). `rules` are the case's (see [`crate::rules`]).
pub fn summarize(id: &str, case: &Case, history: &[Json], rules: &Rules) -> CaseSummary {
    let transitions = parse_history(history);
    let state = workflow::fold(&rules.definition, &transitions);
    let as_of = transitions.iter().map(|t| t.at).max().unwrap_or(case.occurred_at);
    let row = CaseRow::from_state(&facts(id, case), &state, &rules.limits, &rules.calendar, as_of).ok();
    CaseSummary {
        state: state.state.clone(),
        conflicts: state.conflicts.len(),
        json: row.and_then(|r| serde_json::to_value(r).ok()).unwrap_or(Json::Null),
    }
}

/// A case as a phone shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseView {
    /// Record id.
    pub id: String,
    /// The record's fields.
    pub case: Case,
    /// The folded workflow.
    pub state: CaseState,
    /// The whole history, in order.
    pub history: Vec<Transition>,
    /// Deadline of the current stage, as of now.
    pub deadline: Option<DeadlineStatus>,
    /// Actions the signed-in account could take now.
    pub available_actions: Vec<String>,
    /// 抢单: whether the signed-in account's claim won.
    pub claim: ClaimOutcome,
}

/// A case in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseListRow {
    /// Record id.
    pub id: String,
    /// `incident` or `request`.
    pub kind: String,
    /// Grid.
    pub grid_id: String,
    /// Category key.
    pub category: String,
    /// Title.
    pub title: String,
    /// Current state.
    pub state: String,
    /// Workflow conflicts awaiting a supervisor.
    pub conflicts: i64,
    /// Deadline of the handling stage, if it has one.
    pub deadline: Option<DateTime<Utc>>,
    /// When it was found or received.
    pub occurred_at: DateTime<Utc>,
}

/// An instant the cases table keeps as RFC 3339 text; bad text means a corrupt row.
fn stored_instant(id: &str, text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| Error::Corrupt {
            id: id.to_string(),
            reason: format!("bad time in the cases table: {e}"),
        })
}

impl Store {
    /// The rule versions this store holds.
    pub fn rule_book(&self) -> Result<RuleBook> {
        RuleBook::load(&self.conn)
    }

    /// The rules a case document pins (the fallback of [`RuleBook::rules_for`] while a pinned
    /// version has not arrived).
    fn case_rules(&self, doc: &automerge::AutoCommit, id: &str) -> Result<Rules> {
        let pins = RulePins::of_doc(doc).map_err(|reason| Error::Corrupt {
            id: id.to_string(),
            reason,
        })?;
        Ok(self.rule_book()?.rules_for(pins))
    }

    /// Server-anchored "now": the device clock corrected by the offset seen at the last sync.
    pub fn anchored_now(&self) -> Result<DateTime<Utc>> {
        let offset = self.server_time_offset()?.unwrap_or(0);
        Ok(self.now() + chrono::Duration::milliseconds(offset))
    }

    /// A case with its folded workflow, deadline and the actions open to the signed-in account.
    pub fn case(&self, id: &str) -> Result<CaseView> {
        let doc = self.load(id)?;
        let kind = doc::root_str(&doc, "kind").unwrap_or_default();
        if kind != RecordKind::Incident.as_str() && kind != RecordKind::Request.as_str() {
            return Err(Error::NotFound {
                kind: "case",
                id: id.to_string(),
            });
        }
        let case: Case = read_body(&doc, id)?;
        let rules = self.case_rules(&doc, id)?;
        let history = parse_history(
            doc::root_obj(&doc, "transitions")
                .map(|o| doc::read_json(&doc, &o))
                .and_then(|v| v.as_array().cloned())
                .as_deref()
                .unwrap_or(&[]),
        );
        let state = workflow::fold(&rules.definition, &history);
        let class = workflow::CaseClass {
            category: &case.category,
            subcategory: case.subcategory.as_deref(),
            scale: &case.scale,
        };
        let now = self.anchored_now()?;
        let deadline = workflow::deadline_status(&rules.limits, &rules.calendar, &state, &class, now)?;
        let me = self.identity();
        let available_actions = workflow::available_actions(&rules.definition, &state, me.role, me.role.level())
            .into_iter()
            .map(|a| a.name.clone())
            .collect();
        let claim = workflow::claim_outcome(&state, &me.account_id);
        Ok(CaseView {
            id: id.to_string(),
            case,
            state,
            history,
            deadline,
            available_actions,
            claim,
        })
    }

    /// Take a workflow action on a case (上报, 受理, 分派, 办结, 督办, 抢单 ...). Refused with a
    /// typed error, writing nothing, when the state, role or parameters do not allow it.
    pub fn case_action(
        &mut self,
        id: &str,
        action: &str,
        reason: Option<&str>,
        params: BTreeMap<String, String>,
    ) -> Result<CaseView> {
        let view = self.case(id)?;
        let me = self.identity().clone();
        if !me.may_write(&view.case.grid_id) && !matches!(me.role, crate::domain::Role::Department) {
            return Err(Error::OutOfScope {
                scope: view.case.grid_id.clone(),
            });
        }
        let rules = self.case_rules(&self.load(id)?, id)?;
        let to = workflow::check(
            &rules.definition,
            &view.state,
            action,
            me.role,
            me.role.level(),
            &params,
        )?;
        let t = Transition {
            id: Uuid::now_v7().to_string(),
            action: action.to_string(),
            from: view.state.state.clone(),
            to,
            actor: me.account_id.clone(),
            role: me.role,
            org_node: me.org_node.clone(),
            at: self.anchored_now()?,
            device_time: self.now(),
            reason: reason.map(str::to_string),
            params,
            attachments: vec![],
        };
        workflow::check_transition(&rules.definition, &view.state, &t)?;
        let json =
            serde_json::to_value(&t).map_err(|e| Error::invalid("invalid_record", "transition", e.to_string()))?;
        self.append_transition(id, &[RecordKind::Incident, RecordKind::Request], &json)?;
        self.case(id)
    }

    /// Cases of a grid (all when `None`), optionally in one state, newest first.
    pub fn cases(&self, grid: Option<&str>, state: Option<&str>) -> Result<Vec<CaseListRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, kind, grid_id, category, title, state, conflicts, deadline, occurred_at FROM cases
             WHERE (?1 IS NULL OR grid_id = ?1) AND (?2 IS NULL OR state = ?2) ORDER BY occurred_at DESC, id",
        )?;
        let rows = stmt.query_map(params![grid, state], |r| {
            let row = CaseListRow {
                id: r.get(0)?,
                kind: r.get(1)?,
                grid_id: r.get(2)?,
                category: r.get(3)?,
                title: r.get(4)?,
                state: r.get(5)?,
                conflicts: r.get(6)?,
                deadline: None,
                occurred_at: DateTime::UNIX_EPOCH,
            };
            Ok((row, r.get::<_, Option<String>>(7)?, r.get::<_, String>(8)?))
        })?;
        rows.map(|r| {
            let (mut row, deadline, occurred_at) = r?;
            row.deadline = deadline.map(|t| stored_instant(&row.id, &t)).transpose()?;
            row.occurred_at = stored_instant(&row.id, &occurred_at)?;
            Ok(row)
        })
        .collect()
    }

    /// The org path of a grid (`district/sub_district/community/grid` ids), from the org tree.
    pub fn org_path(&self, node: &str) -> Result<String> {
        let mut path = vec![node.to_string()];
        let mut current = node.to_string();
        for _ in 0..16 {
            let parent: Option<String> = self
                .conn
                .query_row("SELECT parent FROM org_nodes WHERE id = ?1", [&current], |r| r.get(0))
                .optional()?
                .flatten();
            match parent {
                Some(p) => {
                    path.push(p.clone());
                    current = p;
                }
                None => break,
            }
        }
        path.reverse();
        Ok(path.join("/"))
    }

    /// 响应率, 按期处置率, 办结率, 满意率 and counts over the cases this store holds.
    pub fn case_metrics(&self, query: &MetricsQuery) -> Result<Metrics> {
        let mut paths: BTreeMap<String, String> = BTreeMap::new();
        let mut rows = Vec::new();
        let mut stmt = self.conn.prepare_cached("SELECT grid_id, summary_json FROM cases")?;
        let mut q = stmt.query([])?;
        while let Some(r) = q.next()? {
            let grid: String = r.get(0)?;
            let json: String = r.get(1)?;
            let Ok(mut row) = serde_json::from_str::<CaseRow>(&json) else {
                continue;
            };
            if !paths.contains_key(&grid) {
                paths.insert(grid.clone(), self.org_path(&grid)?);
            }
            row.org_path = paths[&grid].clone();
            rows.push(row);
        }
        Ok(workflow::compute_metrics(&rows, query))
    }
}

/// Whether a record kind is a case, and which.
pub fn case_kind(kind: RecordKind) -> Option<CaseKind> {
    match kind {
        RecordKind::Incident => Some(CaseKind::Incident),
        RecordKind::Request => Some(CaseKind::Request),
        _ => None,
    }
}
