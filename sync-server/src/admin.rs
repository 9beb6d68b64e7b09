//! 区级管理 (district administration, issue 11): what the district's IT staff use to put a real
//! district into the system and keep it running: the first district and admin of an empty data
//! folder ([`init`]), the residents import ([`residents`]) and online backups / restore
//! ([`backup`]). Every action here is a library function over a
//! [`crate::storage::Storage`], called by the CLI (`gridbook-server admin ...`) and the admin
//! pages alike.
//!
//! Every admin action appends an entry to the tamper-evident audit log ([`crate::audit`]) in
//! the same call, after the change it records ([`audit`]).

pub mod accounts;
pub mod backup;
pub mod init;
pub mod org;
pub mod residents;
pub mod rules;

use crate::audit::Action;
use crate::error::ApiResult;
use crate::storage::Storage;

/// The one hook admin actions report through: an audit-log entry (`action`, `actor`, the
/// `target` it acted on and a short machine-readable `detail`, never personal data).
pub fn audit(storage: &dyn Storage, action: Action, actor: &str, target: &str, detail: &str) -> ApiResult<()> {
    crate::audit::append(storage, actor, action, target, serde_json::json!({ "detail": detail }))?;
    Ok(())
}
