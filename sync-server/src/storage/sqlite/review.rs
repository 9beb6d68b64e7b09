//! [`ReviewReads`] on SQLite (rank 2, `storage`): the dashboard's queries over the query
//! tables (the phone's schema, filled by `gridbook_core::materialize`).

use rusqlite::OptionalExtension;

use super::SqliteStorage;
use crate::storage::review::cases::CaseDoc;
use crate::storage::review::erase::PersonMatch;
use crate::storage::review::reports::CaseSummary;
use crate::storage::review::visits::{ActiveLabel, GridVisits, HouseholdVisit};
use crate::storage::{Result, ReviewReads};

mod cases;
mod erase;
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
}
