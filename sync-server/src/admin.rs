//! 区级管理 (district administration, issue 11): what the district's IT staff use to put a real
//! district into the system and keep it running: the residents import ([`residents`]) and
//! online backups / restore ([`backup`]). Every action here is a library function over a
//! [`crate::storage::Storage`], called by the CLI (`gridbook-server admin ...`) and the admin
//! pages alike.
//!
//! Admin actions are announced as `tracing` events with target `audit` ([`audit`]); the audit
//! log of issue 9 subscribes to that target.

pub mod accounts;
pub mod backup;
pub mod org;
pub mod residents;
pub mod rules;

/// The one hook admin actions report through: a `tracing` event with target `audit`, fields
/// `action`, `actor` and a short machine-readable `detail` (never personal data).
pub fn audit(action: &str, actor: &str, detail: &str) {
    tracing::info!(target: "audit", action, actor, detail, "admin action");
}
