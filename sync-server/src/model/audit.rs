//! 审计日志 entries: what an audit entry is, how its hash chains it to the one before, and the
//! walk that checks a chain (rank 0 of the server, `model`: imports nothing of the crate). The
//! log itself is `crate::audit` (appending) over the storage's audit role (the table).

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What was done. The string forms are stable (they are hashed and queried).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Action {
    /// An account was created (its role and org node are its grants).
    AccountCreate,
    /// An account's password was changed.
    PasswordChange,
    /// An account's role or org node (its grants) changed.
    GrantChange,
    /// A device was registered to an account.
    DeviceRegister,
    /// A device was revoked (and will be wiped at its next contact).
    DeviceRevoke,
    /// An account was locked after failed logins.
    LoginLocked,
    /// A full ID number or phone was revealed.
    Reveal,
    /// An export was made (masked or not).
    Export,
    /// A person's data was erased (crypto-shredding).
    Erasure,
    /// An account was disabled or enabled again.
    AccountStatus,
    /// An account's password was reset by an admin.
    PasswordReset,
    /// An org node was created, edited or imported.
    OrgChange,
    /// Residents were imported.
    ResidentsImport,
    /// A rules version (checklist template ...) was published.
    RulesPublish,
    /// An online backup was taken.
    Backup,
    /// A backup was restored.
    Restore,
    /// The data folder was initialised (`admin init`: the district and its first admin).
    Init,
}

impl Action {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::AccountCreate => "account.create",
            Action::PasswordChange => "account.password_change",
            Action::GrantChange => "account.grant_change",
            Action::DeviceRegister => "device.register",
            Action::DeviceRevoke => "device.revoke",
            Action::LoginLocked => "login.locked",
            Action::Reveal => "reveal",
            Action::Export => "export",
            Action::Erasure => "erasure",
            Action::AccountStatus => "account.status",
            Action::PasswordReset => "account.password_reset",
            Action::OrgChange => "org.change",
            Action::ResidentsImport => "residents.import",
            Action::RulesPublish => "rules.publish",
            Action::Backup => "backup",
            Action::Restore => "restore",
            Action::Init => "init",
        }
    }
}

/// An entry to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    /// When, ms since the epoch.
    pub at: i64,
    /// Who: an account id, or `system`.
    pub actor: String,
    /// What.
    pub action: Action,
    /// On what: `account:ID`, `device:ID`, `person:ID`, `export:FILE` ...
    pub target: String,
    /// Details (JSON object): reason, filters, fields. No personal data in clear.
    pub detail: serde_json::Value,
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Position, from 1, without gaps.
    pub seq: i64,
    /// When, ms.
    pub at: i64,
    /// Who.
    pub actor: String,
    /// What (stable name).
    pub action: String,
    /// On what.
    pub target: String,
    /// Details, JSON text.
    pub detail: String,
    /// Hash of the previous entry ([`GENESIS`] for the first).
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

/// The hash of an entry: SHA-256 over the previous hash and the entry's fields, each
/// length-prefixed (so that no two different entries encode alike).
pub fn entry_hash(prev_hash: &str, seq: i64, at: i64, actor: &str, action: &str, target: &str, detail: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"gridbook-audit-v1\0");
    let seq = seq.to_string();
    let at = at.to_string();
    for part in [prev_hash, &seq, &at, actor, action, target, detail] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The outcome of walking the audit chain ([`ChainCheck`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every entry chains to the one before.
    Intact {
        /// Entries checked.
        entries: u64,
        /// Hash of the last entry (note it elsewhere to detect a cut-off tail).
        last_hash: String,
    },
    /// The first entry that does not chain.
    Broken {
        /// Its `seq` (where a row is missing: the seq expected there).
        seq: i64,
        /// Why.
        reason: String,
    },
}

/// Walks a chain of entries in `seq` order: [`ChainCheck::next`] for each, then
/// [`ChainCheck::finish`]. Holds one hash, whatever the length of the log.
#[derive(Debug, Clone)]
pub struct ChainCheck {
    expected_seq: i64,
    prev: String,
    entries: u64,
}

impl Default for ChainCheck {
    fn default() -> Self {
        ChainCheck {
            expected_seq: 1,
            prev: GENESIS.to_string(),
            entries: 0,
        }
    }
}

impl ChainCheck {
    /// A walk from the first entry.
    pub fn new() -> ChainCheck {
        ChainCheck::default()
    }

    /// Check the next entry: `Some(Verdict::Broken)` if it does not chain (stop there).
    pub fn next(&mut self, e: &Entry) -> Option<Verdict> {
        if e.seq != self.expected_seq {
            return Some(Verdict::Broken {
                seq: self.expected_seq,
                reason: format!("entry {} is missing (next entry is {})", self.expected_seq, e.seq),
            });
        }
        if e.prev_hash != self.prev {
            return Some(Verdict::Broken {
                seq: e.seq,
                reason: "its prev_hash is not the hash of the entry before".into(),
            });
        }
        if entry_hash(&e.prev_hash, e.seq, e.at, &e.actor, &e.action, &e.target, &e.detail) != e.hash {
            return Some(Verdict::Broken {
                seq: e.seq,
                reason: "its content does not match its hash (edited)".into(),
            });
        }
        self.prev = e.hash.clone();
        self.expected_seq += 1;
        self.entries += 1;
        None
    }

    /// The verdict after the last entry: every entry chained.
    pub fn finish(self) -> Verdict {
        Verdict::Intact {
            entries: self.entries,
            last_hash: self.prev,
        }
    }
}
