//! [`ReviewReads`] on SQLite (rank 2, `storage`): the dashboard's queries over the query
//! tables (the phone's schema, filled by `gridbook_core::query_tables`).

use rusqlite::OptionalExtension;

use super::{SqliteStorage, json_list};
use crate::storage::review::cases::CaseDoc;
use crate::storage::review::erase::PersonMatch;
use crate::storage::review::ledgers::{LedgerFilter, LedgerListRow, MaskedPerson, VisitedMember};
use crate::storage::review::reports::CaseSummary;
use crate::storage::review::visits::{ActiveLabel, GridVisits, HouseholdVisit};
use crate::storage::{Result, ReviewReads};

mod cases;
mod erase;
mod ledgers;
mod reports;
mod visits;

impl ReviewReads for SqliteStorage {
    fn person_grid(&self, person_id: &str) -> Result<Option<String>> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT grid_id FROM persons WHERE id = ?1")?
                .query_row([person_id], |r| r.get(0))
                .optional()?)
        })
    }

    fn erase_search(&self, q: &str, limit: usize) -> Result<Vec<PersonMatch>> {
        self.read(|c| erase::search(c, q, limit))
    }

    fn erase_person_row(&self, id: &str) -> Result<Option<PersonMatch>> {
        self.read(|c| erase::person(c, id))
    }

    fn deleted_person_erased(&self, id: &str) -> Result<Option<bool>> {
        self.read(|c| erase::deleted_person_erased(c, id))
    }

    fn template_json(&self, template_id: &str) -> Result<Option<String>> {
        self.read(|c| visits::template_json(c, template_id))
    }

    fn grid_households(&self, grid: &str) -> Result<Vec<HouseholdVisit>> {
        self.read(|c| visits::households(c, grid))
    }

    fn active_labels(&self, grid: &str, day: &str) -> Result<Vec<ActiveLabel>> {
        self.read(|c| visits::active_labels(c, grid, day))
    }

    fn grid_visits(&self, grid: &str, since: &str, until: &str) -> Result<GridVisits> {
        self.read(|c| visits::grid_visits(c, grid, since, until))
    }

    fn case_summaries(&self, grids: &[String]) -> Result<Vec<CaseSummary>> {
        self.read(|c| reports::case_summaries(c, grids))
    }

    fn worker_visits(&self, worker: &str, from: &str, to: &str) -> Result<i64> {
        self.read(|c| reports::worker_visits(c, worker, from, to))
    }

    fn worker_reviews(&self, worker: &str, from: &str, to: &str) -> Result<(i64, i64)> {
        self.read(|c| reports::worker_reviews(c, worker, from, to))
    }

    fn case_docs(&self, grids: &[String], chunk: usize, each: &mut dyn FnMut(Vec<CaseDoc>) -> bool) -> Result<()> {
        self.read(|c| cases::case_docs(c, grids, chunk, each))
    }

    fn case_doc(&self, id: &str) -> Result<Option<CaseDoc>> {
        self.read(|c| cases::case_doc(c, id))
    }

    fn ledger_rows(
        &self,
        f: &LedgerFilter,
        limit: Option<usize>,
        offset: usize,
        each: &mut dyn FnMut(LedgerListRow) -> bool,
    ) -> Result<()> {
        self.read(|c| ledgers::rows(c, f, limit, offset, each))
    }

    fn ledger_count(&self, f: &LedgerFilter) -> Result<usize> {
        self.read(|c| ledgers::count(c, f))
    }

    fn ledger_grid(&self, id: &str) -> Result<Option<String>> {
        self.read(|c| ledgers::ledger_grid(c, id))
    }

    fn ledger_worker_day(&self, id: &str) -> Result<(String, String)> {
        self.read(|c| ledgers::ledger_worker_day(c, id))
    }

    fn house_calls_of(&self, worker: &str, day: &str) -> Result<Vec<(String, String)>> {
        self.read(|c| ledgers::house_calls_of(c, worker, day))
    }

    fn template_version_json(&self, template_id: &str, version: u32) -> Result<Option<String>> {
        self.read(|c| ledgers::template_version_json(c, template_id, version))
    }

    fn masked_person(&self, id: &str) -> Result<Option<MaskedPerson>> {
        self.read(|c| ledgers::masked_person(c, id))
    }

    fn patrols_of(&self, worker: &str, day: &str) -> Result<Vec<String>> {
        self.read(|c| ledgers::patrols_of(c, worker, day))
    }

    fn visited_members(&self, f: &LedgerFilter, each: &mut dyn FnMut(VisitedMember) -> bool) -> Result<()> {
        self.read(|c| ledgers::visited_members(c, f, each))
    }

    fn case_count(&self, grids: &[String]) -> Result<u64> {
        self.read(|c| {
            let n: i64 = c.query_row(
                "SELECT count(*) FROM cases WHERE grid_id IN (SELECT value FROM json_each(?1)) AND state != 'draft'",
                [json_list(grids)],
                |r| r.get(0),
            )?;
            Ok(n.max(0) as u64)
        })
    }

    fn ledger_count_in(&self, grids: &[String]) -> Result<u64> {
        self.read(|c| {
            let n: i64 = c.query_row(
                "SELECT count(*) FROM ledgers WHERE grid_id IN (SELECT value FROM json_each(?1))",
                [json_list(grids)],
                |r| r.get(0),
            )?;
            Ok(n.max(0) as u64)
        })
    }
}
