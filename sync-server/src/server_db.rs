//! 服务器数据库加密 (issue 9, ADR 0009): the one way the server opens its database file.
//!
//! A [`ServerDb`] is the database file plus, when the config names a `database_key_file`, the
//! 32-byte key (数据库密钥) that encrypts it with SQLCipher, exactly as the phone's store is
//! encrypted (`gridbook_core::at_rest`: raw key, AES-256 pages, HMAC-SHA256; ADR 0003). Every
//! connection the server makes to its database — the storage writer and readers, the
//! dashboard's read-only connections, the audit verifier, backup and restore — comes from
//! [`ServerDb::open_writer`] or [`ServerDb::open`], so none of them can forget the key.
//!
//! The key file holds the key as 64 hex digits (`gridbook-server admin new-db-key FILE` makes
//! one, mode 0600). It belongs off the database's disk (a separate volume, a secrets mount, a
//! USB key): a key file stored beside the database protects nothing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gridbook_core::at_rest;
use gridbook_core::{Error, Result, StoreKey};
use rand::{Rng, SeedableRng};
use rusqlite::{Connection, OpenFlags};
use zeroize::Zeroize;

/// The server's database file and its key (none: a plain file, as before issue 9).
#[derive(Clone)]
pub struct ServerDb {
    path: PathBuf,
    key: Option<Arc<StoreKey>>,
}

impl std::fmt::Debug for ServerDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerDb")
            .field("path", &self.path)
            .field("encrypted", &self.key.is_some())
            .finish()
    }
}

/// How a connection opens the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read only: the storage readers, the dashboard, audit verify, backup checks.
    ReadOnly,
    /// Read and write an existing file, without creating it or encrypting it.
    ReadWrite,
    /// Like `ReadWrite`, and files attached to the connection may be created: the encrypted
    /// backup's export (the database itself is never created: [`ServerDb::open`] checks it
    /// exists).
    Export,
}

impl ServerDb {
    /// The file `path`, encrypted with `key` when given.
    pub fn new(path: impl Into<PathBuf>, key: Option<StoreKey>) -> ServerDb {
        ServerDb {
            path: path.into(),
            key: key.map(Arc::new),
        }
    }

    /// A plain (unencrypted) file.
    pub fn plain(path: impl Into<PathBuf>) -> ServerDb {
        ServerDb::new(path, None)
    }

    /// Another file (a backup, a staged restore) with the same key.
    pub fn with_path(&self, path: impl Into<PathBuf>) -> ServerDb {
        ServerDb {
            path: path.into(),
            key: self.key.clone(),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key, if the file is encrypted.
    pub fn key(&self) -> Option<&StoreKey> {
        self.key.as_deref()
    }

    /// Whether a key is applied.
    pub fn is_encrypted(&self) -> bool {
        self.key.is_some()
    }

    /// The writer connection: creates the file if missing, and encrypts a plain file in place
    /// when a key is set (`at_rest::open`: exported to `<file>.encrypting`, synced, renamed over
    /// it, so a crash leaves the old plain file or the encrypted one). A key that does not open
    /// the file, or an encrypted file without a key, is [`Error::WrongKey`].
    ///
    /// A missing file is made 0600 (and a missing folder 0700) before SQLite opens it; SQLite
    /// gives the `-wal` and `-shm` files it makes the database file's mode. Group and other
    /// permissions found on the file, its `-wal` or `-shm` (a database made by an older
    /// version) are taken off.
    pub fn open_writer(&self) -> Result<Connection> {
        let io = |e: std::io::Error| Error::Corrupt {
            id: self.path.display().to_string(),
            reason: e.to_string(),
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                create_private_dir(dir).map_err(io)?;
            }
            warn_if_open_to_others(dir);
        }
        match private_file().write(true).create_new(true).open(&self.path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e)),
        }
        let conn = at_rest::open(&self.path, self.key())?;
        for file in [self.path.clone(), self.sibling("-wal"), self.sibling("-shm")] {
            if let Err(e) = make_private(&file) {
                tracing::warn!(file = %file.display(), error = %e, "could not take group and other permissions off");
            }
        }
        Ok(conn)
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    }

    /// Another connection to an existing file (never created, never encrypted here), with the
    /// key applied and checked ([`Error::WrongKey`] when it does not open the file) and a 5 s
    /// busy timeout.
    pub fn open(&self, access: Access) -> Result<Connection> {
        let flags = match access {
            Access::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY,
            Access::ReadWrite => OpenFlags::SQLITE_OPEN_READ_WRITE,
            Access::Export => {
                if !self.path.is_file() {
                    return Err(Error::Corrupt {
                        id: self.path.display().to_string(),
                        reason: "no such database file".into(),
                    });
                }
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
            }
        } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        at_rest::key_and_check(&conn, self.key())?;
        Ok(conn)
    }

    /// A read-only connection ([`Self::open`] with [`Access::ReadOnly`]).
    pub fn open_read_only(&self) -> Result<Connection> {
        self.open(Access::ReadOnly)
    }

    /// Whether the file on disk is a plain SQLite database (a missing file is not).
    pub fn file_is_plain(&self) -> Result<bool> {
        at_rest::is_plain_sqlite(&self.path)
    }

    /// The typed startup error for a core error met while opening this file:
    /// [`Error::WrongKey`] becomes [`DbKeyError::WrongKey`] naming the file and whether a key
    /// was given.
    pub fn explain(&self, e: Error) -> crate::error::ApiError {
        match e {
            Error::WrongKey => DbKeyError::WrongKey {
                db: self.path.clone(),
                key_given: self.is_encrypted(),
            }
            .into(),
            other => crate::error::ApiError::Core(other),
        }
    }
}

pub use crate::error::DbKeyError;

/// 文件权限 (issue 24): make `dir` (and any missing parent) with mode 0700 on Unix: the data
/// folder holds the database, its backups and the lock, for the server's user alone.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// Open options whose `create` / `create_new` make the file with mode 0600 on Unix (whatever
/// the umask allows beyond it): database, lock and backup files.
pub fn private_file() -> std::fs::OpenOptions {
    #[allow(unused_mut)]
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Take group and other permissions off `path` if it exists (a file made by SQLite with the
/// process's default mode, or by an older version).
pub fn make_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(path) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(m.permissions().mode() & 0o700))
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

#[cfg(unix)]
fn warn_if_open_to_others(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(dir)
        && m.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            folder = %dir.display(),
            mode = format!("{:o}", m.permissions().mode() & 0o777),
            "the data folder is open to other users; chmod 700 it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_open_to_others(_dir: &Path) {}

/// Read a key file: 64 hex digits (surrounding white space allowed).
pub fn read_key_file(path: &Path) -> std::result::Result<StoreKey, DbKeyError> {
    let mut text = std::fs::read_to_string(path).map_err(|e| DbKeyError::KeyFileUnreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let invalid = |reason: String| DbKeyError::KeyFileInvalid {
        path: path.to_path_buf(),
        reason,
    };
    let trimmed = text.trim();
    let parsed = if trimmed.len() != 2 * StoreKey::LEN {
        Err(invalid(format!(
            "{} characters, not {}",
            trimmed.chars().count(),
            2 * StoreKey::LEN
        )))
    } else {
        match hex::decode(trimmed) {
            Ok(mut bytes) => {
                let key = StoreKey::from_bytes(&bytes).map_err(|e| invalid(e.to_string()));
                bytes.zeroize();
                key
            }
            Err(_) => Err(invalid("not hexadecimal".into())),
        }
    };
    text.zeroize();
    let key = parsed?;
    warn_if_readable_by_others(path);
    Ok(key)
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path)
        && m.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            file = %path.display(),
            mode = format!("{:o}", m.permissions().mode() & 0o777),
            "the database key file is readable by other users; chmod 600 it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// Make a new key file at `path` holding 32 random bytes (OS random generator) as 64 hex
/// digits: created exclusively (an existing file is [`DbKeyError::KeyFileExists`], never
/// overwritten), mode 0600 on Unix, synced.
pub fn new_key_file(path: &Path) -> std::result::Result<(), DbKeyError> {
    let unreadable = |e: std::io::Error| DbKeyError::KeyFileUnreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut file = private_file()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => DbKeyError::KeyFileExists(path.to_path_buf()),
            _ => unreadable(e),
        })?;
    let mut bytes = [0u8; StoreKey::LEN];
    rand::rngs::StdRng::from_os_rng().fill(&mut bytes);
    let mut text = hex::encode(bytes);
    bytes.zeroize();
    text.push('\n');
    let written = file.write_all(text.as_bytes()).and_then(|()| file.sync_all());
    text.zeroize();
    if let Err(e) = written {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(unreadable(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> StoreKey {
        StoreKey::from_bytes(&[b; 32]).unwrap()
    }

    #[test]
    fn key_file_round_trip_mode_and_no_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.key");
        new_key_file(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim().len(), 64);
        assert!(text.trim().chars().all(|c| c.is_ascii_hexdigit()));
        let k = read_key_file(&path).unwrap();
        assert_eq!(hex::encode(k.as_bytes()), text.trim());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let e = new_key_file(&path).unwrap_err();
        assert_eq!(e.code(), "db_key_file_exists");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "not overwritten");
        // Two new keys differ.
        let other = dir.path().join("other.key");
        new_key_file(&other).unwrap();
        assert_ne!(read_key_file(&other).unwrap(), k);
    }

    #[test]
    fn bad_key_files_are_typed() {
        let dir = tempfile::tempdir().unwrap();
        let missing = read_key_file(&dir.path().join("nope")).unwrap_err();
        assert_eq!(missing.code(), "db_key_file_unreadable");
        for bad in ["", "abc", &"zz".repeat(32), &"ab".repeat(33)] {
            let p = dir.path().join("bad");
            std::fs::write(&p, bad).unwrap();
            let e = read_key_file(&p).unwrap_err();
            assert_eq!(e.code(), "db_key_file_invalid", "{bad:?}");
            assert!(!e.message_zh().is_empty() && !e.to_string().is_empty());
        }
        let p = dir.path().join("ok");
        std::fs::write(&p, format!("  {}\r\n", "0f".repeat(32))).unwrap();
        assert_eq!(read_key_file(&p).unwrap(), key(0x0f));
    }

    /// `VACUUM INTO` on a keyed reader writes the backup with the same key and cipher settings
    /// (HMAC-SHA256), page by page encrypted: it opens with the key only and shows no plaintext.
    #[test]
    fn an_encrypted_storage_backs_up_encrypted() {
        use crate::storage::Operations;
        let dir = tempfile::tempdir().unwrap();
        let db = ServerDb::new(dir.path().join("s.sqlite3"), Some(key(7)));
        let storage = crate::storage::sqlite::SqliteStorage::open_db(&db, 2).unwrap();
        storage
            .write_for_test(|c| {
                c.execute_batch(
                    "CREATE TABLE secrets (v TEXT); INSERT INTO secrets VALUES ('370883195803154421 欧阳淑珍');",
                )?;
                Ok(())
            })
            .unwrap();
        let dest = dir.path().join("backup.sqlite3");
        storage.backup_to(&dest).unwrap();
        let raw = std::fs::read(&dest).unwrap();
        assert!(!raw.starts_with(b"SQLite format 3\0"));
        assert!(!raw.windows(18).any(|w| w == b"370883195803154421"));
        let copy = db.with_path(&dest).open_read_only().unwrap();
        let v: String = copy.query_row("SELECT v FROM secrets", [], |r| r.get(0)).unwrap();
        assert!(v.contains("欧阳淑珍"));
        assert!(matches!(
            ServerDb::new(&dest, Some(key(8))).open_read_only().map(|_| ()),
            Err(Error::WrongKey)
        ));
    }

    #[test]
    fn readers_need_the_right_key() {
        let dir = tempfile::tempdir().unwrap();
        let db = ServerDb::new(dir.path().join("s.sqlite3"), Some(key(1)));
        let w = db.open_writer().unwrap();
        w.execute_batch("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('张三');")
            .unwrap();
        assert!(!db.file_is_plain().unwrap());
        let r = db.open_read_only().unwrap();
        let x: String = r.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(x, "张三");
        for wrong in [ServerDb::new(db.path(), Some(key(2))), ServerDb::plain(db.path())] {
            let e = wrong.open_read_only().map(|_| ()).unwrap_err();
            assert!(matches!(e, Error::WrongKey), "{e:?}");
            let api = wrong.explain(e);
            assert_eq!(api.code(), "wrong_key");
            assert!(api.message_zh().contains("密钥") || api.message_zh().contains("已加密"));
        }
    }
}
