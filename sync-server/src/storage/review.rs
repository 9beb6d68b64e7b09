//! 督导看板 reads: what the supervisor dashboard (`crate::review`) asks of the query tables the
//! server materializes from documents (households, persons, ledgers, cases ...). A role of
//! [`crate::storage::Storage`] (rank 2, `storage`); the row types of each page are in
//! `storage/review/…`.

pub mod erase;

use crate::storage::Result;
use erase::PersonMatch;

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
}
