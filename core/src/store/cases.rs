//! Incidents and requests in the store (事件, 诉求): reading a case with its folded workflow,
//! taking a workflow action, listing cases and their metrics. The pure part (summaries, views)
//! is [`crate::cases`].
//!
//! A case's history is the `transitions` list of its document. Taking an action folds the
//! history, checks the new transition with the engine's own rule (so the local fold is sure to
//! apply it) and appends it; concurrent transitions from other phones merge into the list and
//! the fold settles them the same way everywhere.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use crate::cases::{CaseListRow, CaseView, parse_history};
use crate::doc;
use crate::domain::{Case, RecordKind};
use crate::error::{Error, Result};
use crate::rules::{RuleBook, RulePins, Rules};
use crate::store::Store;
use crate::workflow::{self, CaseRow, Metrics, MetricsQuery, Transition};

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
        let case: Case = doc::body::read_as(&doc, id)?;
        let rules = self.case_rules(&doc, id)?;
        let history = parse_history(&doc::history::read(&doc));
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

/// An instant the cases table keeps as RFC 3339 text; bad text means a corrupt row.
fn stored_instant(id: &str, text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| Error::Corrupt {
            id: id.to_string(),
            reason: format!("bad time in the cases table: {e}"),
        })
}
