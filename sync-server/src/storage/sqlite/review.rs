//! [`ReviewReads`] on SQLite (rank 2, `storage`): the dashboard's queries over the query
//! tables (the phone's schema, filled by `gridbook_core::materialize`).

use rusqlite::OptionalExtension;

use super::SqliteStorage;
use crate::storage::review::erase::PersonMatch;
use crate::storage::{Result, ReviewReads};

mod erase;

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
}
