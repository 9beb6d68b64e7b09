//! Running the database: health, consistency, online backups, the file and its key. A role of
//! [`crate::storage::Storage`] (rank 2, `storage`).

use crate::server_db::ServerDb;
use crate::storage::Result;

/// Running the database: health, consistency, online backups, the file and its key.
pub trait Operations {
    /// A cheap round trip to the database (health checks).
    fn ping(&self) -> Result<()>;

    /// The database's own consistency check (`ok` when sound).
    fn integrity_check(&self) -> Result<String>;

    /// Write a consistent copy of the whole database to `dest` (a new file) while serving,
    /// encrypted with the database's key if it has one.
    fn backup_to(&self, dest: &std::path::Path) -> Result<()>;

    /// The database file and its key, for connections made outside the storage (dashboard,
    /// backups; ADR 0009). None for a storage that is not a local SQLite file.
    fn server_db(&self) -> Option<&ServerDb> {
        None
    }
}
