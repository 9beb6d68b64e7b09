//! Database files that are not the open storage (rank 2, `storage`): a backup being checked or
//! restored, the staged copy a restore writes its marker into, the schema versions of a file.
//! `crate::admin::backup` decides what to do; the SQL is here.

use rusqlite::{Connection, OptionalExtension};

use crate::error::ApiError;
use crate::model::audit::Verdict;
use crate::server_db::{Access, ServerDb};

/// Why a database file could not be checked or written.
#[derive(Debug)]
pub enum FileError {
    /// Not a sound gridbook database: why.
    Unsound(String),
    /// Anything else (a wrong key, a failed statement), as the API reports it.
    Api(ApiError),
}

impl From<gridbook_core::Error> for FileError {
    fn from(e: gridbook_core::Error) -> Self {
        FileError::Api(ApiError::Core(e))
    }
}

impl From<rusqlite::Error> for FileError {
    fn from(e: rusqlite::Error) -> Self {
        FileError::from(gridbook_core::Error::from(e))
    }
}

/// Open `file` read-only with its key (or, with `accept_plain`, as a plain database when it
/// is one), check that it is intact and holds a change log; the connection and its last `seq`.
fn open_sound(file: &ServerDb, accept_plain: bool) -> Result<(Connection, i64), FileError> {
    let unsound = FileError::Unsound;
    let conn = match file.open_read_only() {
        Ok(conn) => conn,
        Err(gridbook_core::Error::WrongKey) if file.is_encrypted() => {
            if accept_plain && file.file_is_plain()? {
                ServerDb::plain(file.path())
                    .open_read_only()
                    .map_err(|e| unsound(e.to_string()))?
            } else {
                return Err(FileError::Api(file.explain(gridbook_core::Error::WrongKey)));
            }
        }
        Err(gridbook_core::Error::WrongKey) => {
            return Err(unsound(
                "not a database, or an encrypted one: give the database key (--db-key-file)".into(),
            ));
        }
        Err(e) => return Err(unsound(e.to_string())),
    };
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| unsound(e.to_string()))?;
    if integrity != "ok" {
        return Err(unsound(format!("integrity_check: {integrity}")));
    }
    let last_seq = conn
        .query_row("SELECT coalesce(max(seq), 0) FROM change_log", [], |r| r.get(0))
        .map_err(|e| unsound(format!("no change log: {e}")))?;
    Ok((conn, last_seq))
}

/// Check that `file` opens with its key (or, with `accept_plain`, is a plain database), is
/// intact and holds a change log; its last `seq`.
pub fn check_sound(file: &ServerDb, accept_plain: bool) -> Result<i64, FileError> {
    open_sound(file, accept_plain).map(|(_, last_seq)| last_seq)
}

/// [`check_sound`] (a plain file accepted), then, encrypted, `PRAGMA cipher_integrity_check`
/// (every page's HMAC), then the audit log's chain: the last `seq` and the chain's verdict.
pub fn verify_file(file: &ServerDb) -> Result<(i64, Verdict), FileError> {
    let (conn, last_seq) = open_sound(file, true)?;
    if file.is_encrypted() && !file.file_is_plain()? {
        let mut stmt = conn.prepare("PRAGMA cipher_integrity_check")?;
        let problems: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<_>>()?;
        if !problems.is_empty() {
            return Err(FileError::Unsound(format!(
                "cipher_integrity_check: {}",
                problems.join("; ")
            )));
        }
    }
    let audit = super::audit::verify(&conn).map_err(|e| FileError::Unsound(format!("audit log: {e}")))?;
    Ok((last_seq, audit))
}

/// Write a restore marker into the change log of `db` (a staged copy, no server on it): a row
/// at `seq` in `scope`, received `now`. Returns `PRAGMA integrity_check` afterwards (`ok`).
pub fn write_restore_marker(db: &ServerDb, seq: i64, scope: &str, now: i64) -> Result<String, FileError> {
    let conn = db.open(Access::ReadWrite)?;
    conn.execute(
        "INSERT INTO change_log (seq, scope, doc_id, hash, bytes, origin_device, received_at)
         VALUES (?1, ?2, '', ?3, x'', 'restore', ?4)",
        rusqlite::params![seq, scope, format!("restore:{now}"), now],
    )?;
    Ok(conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
}

/// The schema versions of a database file opened with its key, if any: (core `user_version`,
/// server `schema_version`).
pub fn schema_versions(db: &ServerDb) -> Result<(i64, i64), FileError> {
    let conn = db.open_read_only().map_err(|e| FileError::Api(db.explain(e)))?;
    let core: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let server: i64 = conn
        .query_row("SELECT value FROM server_meta WHERE key = 'schema_version'", [], |r| {
            r.get::<_, String>(0)
        })
        .optional()?
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((core, server))
}
