//! 督导看板 reads: what the supervisor dashboard (`crate::review`) asks of the query tables the
//! server materializes from documents (households, persons, ledgers, cases ...). A role of
//! [`crate::storage::Storage`] (rank 2, `storage`); the row types of each page are in
//! `storage/review/…`.

pub mod cases;
pub mod erase;
pub mod ledgers;
pub mod reports;
pub mod visits;

use crate::storage::Result;
use cases::CaseDoc;
use erase::PersonMatch;
use ledgers::{LedgerFilter, LedgerListRow, MaskedPerson, VisitedMember};
use reports::CaseSummary;
use visits::{ActiveLabel, GridVisits, HouseholdVisit};

/// 督导看板 reads: the dashboard's queries over the materialized query tables.
pub trait ReviewReads {
    /// The grid of a person record (`None`: no such person).
    fn person_grid(&self, person_id: &str) -> Result<Option<String>>;

    /// Erase form: persons whose record id is `q` or whose household address contains it, by
    /// address, at most `limit`.
    fn erase_search(&self, q: &str, limit: usize) -> Result<Vec<PersonMatch>>;

    /// Erase form: one person with a query row.
    fn erase_person_row(&self, id: &str) -> Result<Option<PersonMatch>>;

    /// Erase form: whether a person record without a query row (deleted) was erased; `None`
    /// if `id` is no person record.
    fn deleted_person_erased(&self, id: &str) -> Result<Option<bool>>;

    /// The JSON of the newest version of a checklist template (`templates` table), if held.
    fn template_json(&self, template_id: &str) -> Result<Option<String>>;

    /// Visits due: the households of a grid with their last house call.
    fn grid_households(&self, grid: &str) -> Result<Vec<HouseholdVisit>>;

    /// Visits due: the person labels active on `day` (`YYYY-MM-DD`) in a grid's households.
    fn active_labels(&self, grid: &str, day: &str) -> Result<Vec<ActiveLabel>>;

    /// A grid's households and its house calls from `since` to `until` (days, inclusive).
    fn grid_visits(&self, grid: &str, since: &str, until: &str) -> Result<GridVisits>;

    /// Reports: the case rows of these grids (any order).
    fn case_summaries(&self, grids: &[String]) -> Result<Vec<CaseSummary>>;

    /// 月考评: a worker's house calls from `from` to `to` (days, inclusive).
    fn worker_visits(&self, worker: &str, from: &str, to: &str) -> Result<i64>;

    /// 月考评: a worker's ledgers of the days `from` to `to` (inclusive) that were returned and
    /// approved: `(returned, approved)`.
    fn worker_reviews(&self, worker: &str, from: &str, to: &str) -> Result<(i64, i64)>;

    /// Case board: every case of `grids` that has left 采集 (drafts stay on the phone), newest
    /// first, handed to `each` in batches of `chunk` while one read runs (memory stays bounded
    /// whatever the number of cases); `each` answers false to stop.
    fn case_docs(&self, grids: &[String], chunk: usize, each: &mut dyn FnMut(Vec<CaseDoc>) -> bool) -> Result<()>;

    /// Case page: one case with its document (`None`: no such case).
    fn case_doc(&self, id: &str) -> Result<Option<CaseDoc>>;

    /// 走访台账: the ledgers matching `f` in its order (`limit` rows from `offset`; `None`: all),
    /// handed to `each` one by one while one read runs; `each` answers false to stop.
    fn ledger_rows(
        &self,
        f: &LedgerFilter,
        limit: Option<usize>,
        offset: usize,
        each: &mut dyn FnMut(LedgerListRow) -> bool,
    ) -> Result<()>;

    /// 走访台账: how many ledgers match `f`.
    fn ledger_count(&self, f: &LedgerFilter) -> Result<usize>;

    /// 走访台账: the grid of a ledger (`None`: no such ledger).
    fn ledger_grid(&self, id: &str) -> Result<Option<String>>;

    /// 走访台账: the worker and day of a ledger (an error if there is none).
    fn ledger_worker_day(&self, id: &str) -> Result<(String, String)>;

    /// Ledger page: the house calls of a worker's day, `(id, address)` in the order made.
    fn house_calls_of(&self, worker: &str, day: &str) -> Result<Vec<(String, String)>>;

    /// Ledger page: the JSON of one version of a checklist template, if held.
    fn template_version_json(&self, template_id: &str, version: u32) -> Result<Option<String>>;

    /// Ledger page: a person, masked.
    fn masked_person(&self, id: &str) -> Result<Option<MaskedPerson>>;

    /// Ledger page: the patrols of a worker's day, in the order made.
    fn patrols_of(&self, worker: &str, day: &str) -> Result<Vec<String>>;

    /// Ledger export: the members of the households visited on the days of the ledgers matching
    /// `f`, handed to `each` one by one; `each` answers false to stop.
    fn visited_members(&self, f: &LedgerFilter, each: &mut dyn FnMut(VisitedMember) -> bool) -> Result<()>;

    /// Exports: how many cases of `grids` have left 采集.
    fn case_count(&self, grids: &[String]) -> Result<u64>;

    /// Exports: how many ledgers `grids` have.
    fn ledger_count_in(&self, grids: &[String]) -> Result<u64>;
}
