//! [`StorageError`]: what a storage method answers when it fails (rank 2, `storage`), and its
//! conversions into `gridbook_core::Error` (services that speak core) and [`ApiError`] (the
//! HTTP layer). The codes the client sees are unchanged: a database error is core's
//! `Error::Db`, a core error passes through.

use crate::error::ApiError;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database refused or failed a statement.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// A document, rule or key could not be stored or read (`gridbook-core`'s own error, with
    /// its code: `not_found`, `schema_too_new`, `wrong_key` ...).
    #[error(transparent)]
    Core(#[from] gridbook_core::Error),
    /// A connection lock was poisoned (a thread panicked while holding it).
    #[error("a connection lock was poisoned")]
    Poisoned,
}

/// The result of a storage method.
pub type Result<T> = std::result::Result<T, StorageError>;

impl From<StorageError> for gridbook_core::Error {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Sqlite(e) => gridbook_core::Error::Db(Box::new(e)),
            StorageError::Core(e) => e,
            StorageError::Poisoned => gridbook_core::Error::Corrupt {
                id: "storage".into(),
                reason: "a connection lock was poisoned".into(),
            },
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        ApiError::Core(e.into())
    }
}

impl From<automerge::AutomergeError> for StorageError {
    fn from(e: automerge::AutomergeError) -> Self {
        StorageError::Core(e.into())
    }
}
