//! Reading the query tables: households, visits due, ledgers with their derived counts.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::Store;
use crate::domain::{ChecklistTemplate, Lookup};
use crate::error::{Error, Result};

/// The template that drives visit frequencies unless the district publishes another id.
pub const DEFAULT_TEMPLATE_ID: &str = "3456";

/// A household as lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseholdRow {
    /// Id.
    pub id: String,
    /// Current grid.
    pub grid_id: String,
    /// Address.
    pub address: String,
    /// Persons living there.
    pub persons: i64,
    /// Last house call day.
    pub last_visit: Option<NaiveDate>,
}

/// 应访: a visit that is due or overdue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitDue {
    /// Household to visit.
    pub household_id: String,
    /// Person the visit is for; empty for the ordinary household visit.
    pub person_id: String,
    /// Template item (`household` for the ordinary visit).
    pub item_id: String,
    /// zh-CN label of the item.
    pub item_label: String,
    /// Day the visit fell due.
    pub due: NaiveDate,
    /// Days past due (0 = due today).
    pub days_overdue: i64,
    /// Last house call to the household, if any.
    pub last_visit: Option<NaiveDate>,
}

/// A ledger with the counts derived from its worker's house calls and patrols that day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRow {
    /// Ledger id.
    pub id: String,
    /// Grid.
    pub grid_id: String,
    /// Worker.
    pub worker: String,
    /// Day.
    pub day: NaiveDate,
    /// 审核状态
    pub review_state: String,
    /// 退回意见
    pub review_comment: Option<String>,
    /// Edited after approval, not yet seen by the supervisor.
    pub flagged: bool,
    /// 走访户数
    pub households_visited: i64,
    /// House calls that day.
    pub house_calls: i64,
    /// Patrols that day.
    pub patrols: i64,
    /// Problems by kind.
    pub problems_by_kind: BTreeMap<String, i64>,
    /// 当天自行解决
    pub solved_on_spot: i64,
    /// 上报
    pub reported: i64,
}

impl Store {
    /// The latest version of the template that drives visit frequencies.
    pub fn active_template(&self) -> Result<ChecklistTemplate> {
        let version: u32 = self.conn.query_row(
            "SELECT max(version) FROM templates WHERE template_id = ?1",
            [DEFAULT_TEMPLATE_ID],
            |r| r.get(0),
        )?;
        self.lookup()
            .template(DEFAULT_TEMPLATE_ID, version)?
            .ok_or_else(|| Error::NotFound {
                kind: "template",
                id: DEFAULT_TEMPLATE_ID.into(),
            })
    }

    /// A template version (any id).
    pub fn template(&self, id: &str, version: u32) -> Result<ChecklistTemplate> {
        self.lookup().template(id, version)?.ok_or_else(|| Error::NotFound {
            kind: "template",
            id: format!("{id}@{version}"),
        })
    }

    /// Households of a grid (all grids when `None`), by address.
    pub fn households(&self, grid: Option<&str>) -> Result<Vec<HouseholdRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT h.id, h.grid_id, h.address,
                    (SELECT count(*) FROM persons p WHERE p.household_id = h.id),
                    (SELECT max(day) FROM house_calls c WHERE c.household_id = h.id)
             FROM households h WHERE ?1 IS NULL OR h.grid_id = ?1 ORDER BY h.address, h.id",
        )?;
        let rows = stmt.query_map([grid], |r| {
            Ok(HouseholdRow {
                id: r.get(0)?,
                grid_id: r.get(1)?,
                address: r.get(2)?,
                persons: r.get(3)?,
                last_visit: r.get::<_, Option<String>>(4)?.and_then(|d| d.parse().ok()),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// 应访清单: visits due or overdue on `today`, most overdue first.
    ///
    /// Every household is due an ordinary visit every `household_frequency_days` of the active
    /// template; each person label that a 六访 item covers makes a visit due every
    /// `frequency_days`. A visit counts from the last house call to the household, unless the
    /// label began after it (then the visit is due on the label's first day); a household never
    /// visited is due on the day it was registered.
    pub fn visits_due(&self, today: NaiveDate, grid: Option<&str>) -> Result<Vec<VisitDue>> {
        let template = self.active_template()?;
        let mut by_label: HashMap<&str, Vec<(&str, &str, u32)>> = HashMap::new();
        for item in template.items() {
            if let Some(freq) = item.frequency_days {
                for l in &item.labels {
                    by_label
                        .entry(l.as_str())
                        .or_default()
                        .push((item.id.as_str(), item.label.as_str(), freq));
                }
            }
        }
        let mut last_visit: HashMap<String, NaiveDate> = HashMap::new();
        let mut households: Vec<(String, NaiveDate)> = Vec::new();
        {
            let mut stmt = self.conn.prepare_cached(
                "SELECT h.id, h.registered_on, (SELECT max(day) FROM house_calls c WHERE c.household_id = h.id)
                 FROM households h WHERE ?1 IS NULL OR h.grid_id = ?1",
            )?;
            let mut rows = stmt.query([grid])?;
            while let Some(r) = rows.next()? {
                let id: String = r.get(0)?;
                if let Some(d) = r.get::<_, Option<String>>(2)?.and_then(|d| d.parse().ok()) {
                    last_visit.insert(id.clone(), d);
                }
                households.push((id, parse_day(&r.get::<_, String>(1)?)?));
            }
        }
        let mut best: BTreeMap<(String, String, String), VisitDue> = BTreeMap::new();
        let mut push = |v: VisitDue| {
            let key = (v.household_id.clone(), v.person_id.clone(), v.item_id.clone());
            match best.get(&key) {
                Some(old) if old.due <= v.due => {}
                _ => {
                    best.insert(key, v);
                }
            }
        };
        let due_from = |last: Option<NaiveDate>, anchor: NaiveDate, freq: u32| match last {
            Some(l) if l >= anchor => l + chrono::Days::new(u64::from(freq)),
            _ => anchor,
        };
        for (hh, registered) in &households {
            let last = last_visit.get(hh).copied();
            push(VisitDue {
                household_id: hh.clone(),
                person_id: String::new(),
                item_id: "household".into(),
                item_label: "常规走访".into(),
                due: due_from(last, *registered, template.household_frequency_days),
                days_overdue: 0,
                last_visit: last,
            });
        }
        // Labels in force, kept when their household is one of those above: a phone holds its
        // own grids only, so reading the labels whole and filtering here reads fewer pages than
        // joining households by key (the first screen after opening; issue 9).
        let listed: HashSet<&str> = households.iter().map(|(id, _)| id.as_str()).collect();
        let mut stmt = self.conn.prepare_cached(
            "SELECT household_id, person_id, label, start_date FROM person_labels
             WHERE start_date <= ?1 AND (end_date IS NULL OR end_date >= ?1)",
        )?;
        let mut rows = stmt.query([today.to_string()])?;
        while let Some(r) = rows.next()? {
            let (hh, person, label): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            if !listed.contains(hh.as_str()) {
                continue;
            }
            let start = parse_day(&r.get::<_, String>(3)?)?;
            let last = last_visit.get(&hh).copied();
            for (item, item_label, freq) in by_label.get(label.as_str()).into_iter().flatten() {
                push(VisitDue {
                    household_id: hh.clone(),
                    person_id: person.clone(),
                    item_id: (*item).to_string(),
                    item_label: (*item_label).to_string(),
                    due: due_from(last, start, *freq),
                    days_overdue: 0,
                    last_visit: last,
                });
            }
        }
        let mut out: Vec<VisitDue> = best
            .into_values()
            .filter(|v| v.due <= today)
            .map(|mut v| {
                v.days_overdue = (today - v.due).num_days();
                v
            })
            .collect();
        out.sort_by(|a, b| {
            b.days_overdue
                .cmp(&a.days_overdue)
                .then_with(|| a.household_id.cmp(&b.household_id))
                .then_with(|| a.person_id.cmp(&b.person_id))
                .then_with(|| a.item_id.cmp(&b.item_id))
        });
        Ok(out)
    }

    /// Ledgers of a worker (all when `None`) between two days, with derived counts.
    pub fn ledgers(&self, worker: Option<&str>, from: NaiveDate, to: NaiveDate) -> Result<Vec<LedgerRow>> {
        let ids: Vec<String> = self
            .conn
            .prepare_cached("SELECT id FROM ledgers WHERE (?1 IS NULL OR worker = ?1) AND day BETWEEN ?2 AND ?3 ORDER BY day, worker, id")?
            .query_map(params![worker, from.to_string(), to.to_string()], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        ids.iter().map(|id| self.ledger(id)).collect()
    }

    /// One ledger with its derived counts.
    pub fn ledger(&self, id: &str) -> Result<LedgerRow> {
        let row = self
            .conn
            .query_row(
                "SELECT grid_id, worker, day, review_state, review_comment, flagged FROM ledgers WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, bool>(5)?,
                    ))
                },
            )
            .optional()?
            .ok_or_else(|| Error::NotFound {
                kind: "ledger",
                id: id.to_string(),
            })?;
        let (grid_id, worker, day, review_state, review_comment, flagged) = row;
        let (households_visited, house_calls): (i64, i64) = self.conn.query_row(
            "SELECT count(DISTINCT household_id), count(*) FROM house_calls WHERE visitor = ?1 AND day = ?2",
            params![worker, day],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let patrols: i64 = self.conn.query_row(
            "SELECT count(*) FROM patrols WHERE worker = ?1 AND day = ?2",
            params![worker, day],
            |r| r.get(0),
        )?;
        let mut problems_by_kind = BTreeMap::new();
        let (mut solved_on_spot, mut reported) = (0, 0);
        let mut stmt = self.conn.prepare_cached(
            "SELECT kind, count(*), sum(solved_on_spot), sum(reported) FROM problems WHERE worker = ?1 AND day = ?2 GROUP BY kind",
        )?;
        let mut rows = stmt.query(params![worker, day])?;
        while let Some(r) = rows.next()? {
            problems_by_kind.insert(r.get::<_, String>(0)?, r.get::<_, i64>(1)?);
            solved_on_spot += r.get::<_, i64>(2)?;
            reported += r.get::<_, i64>(3)?;
        }
        Ok(LedgerRow {
            id: id.to_string(),
            grid_id,
            worker,
            day: parse_day(&day)?,
            review_state,
            review_comment,
            flagged,
            households_visited,
            house_calls,
            patrols,
            problems_by_kind,
            solved_on_spot,
            reported,
        })
    }
}

fn parse_day(s: &str) -> Result<NaiveDate> {
    s.parse().map_err(|_| Error::Corrupt {
        id: s.to_string(),
        reason: "bad date in query table".into(),
    })
}
