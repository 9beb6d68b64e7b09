//! 审计日志: the append-only, hash-chained audit table (`crate::audit` appends through it). A role of
//! [`crate::storage::Storage`] (rank 2, `storage`).

use crate::model::audit::{Entry, NewEntry};
use crate::storage::Result;

/// 审计日志: the append-only, hash-chained audit table (`crate::audit` appends through it).
pub trait AuditLog {
    /// Append an entry to the audit log (hash-chained; appends are serialized).
    fn audit_append(&self, entry: &NewEntry) -> Result<Entry>;
}
