//! 备份与恢复: an online backup of the embedded database while the server serves, and the
//! restore of such a backup into a data folder whose server is stopped.
//!
//! - **Backup** ([`backup`]): `VACUUM INTO` on a reader connection copies one consistent
//!   snapshot (a WAL read transaction) while phones keep syncing; the copy is written under a
//!   temporary name, checked with `PRAGMA integrity_check`, fsynced and only then renamed to
//!   its final name, so a backup file that exists is whole.
//! - **Restore** ([`restore`]): refuses while a server holds the data folder ([`DataLock`]);
//!   checks the backup (integrity, schema not newer than this binary: the usual migrations run
//!   on it), moves the current database aside (`gridbook.sqlite3.before-restore-<ms>`), and
//!   puts the backup in its place. It also writes a **restore marker** into the change log: a
//!   row in no device's scope whose `seq` lies [`RESTORE_SEQ_GAP`] above the backup's last one,
//!   so sequence numbers handed out after the restore never fall at or below a cursor that a
//!   phone received from the lost tail (after the backup, before the restore) — otherwise a
//!   phone would silently skip the new changes that reuse those numbers.
//! - **Encryption** (ADR 0009): the backup of an encrypted database is encrypted with the same
//!   key and cipher settings (`at_rest::export_encrypted` in one read transaction instead of
//!   `VACUUM INTO`, which would use SQLCipher's default settings); the copy is checked by
//!   opening it with that key, so one that came out plain or otherwise keyed is refused. Restore opens the
//!   backup with the server's key: a backup made with another key is `wrong_key` and nothing
//!   is replaced; a plain backup (made before the key was set) restored into a server with a
//!   key is encrypted on the way in.

use std::fs::File;
use std::path::{Path, PathBuf};

use gridbook_core::StoreKey;

use crate::error::ApiError;
use crate::server_db::ServerDb;
use crate::storage::Storage;
use crate::storage::sqlite::SqliteStorage;
use crate::storage::sqlite::files::{self, FileError};

/// How far above the backup's last `seq` the first one after a restore lies.
pub const RESTORE_SEQ_GAP: i64 = 1 << 32;

/// Scope of the restore marker rows (no device is ever granted it).
pub const RESTORE_SCOPE: &str = "_restore";

/// Why a backup or restore did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The destination exists; backups never overwrite.
    #[error("{0} exists; choose a new file name")]
    Exists(PathBuf),
    /// The backup file is missing.
    #[error("{0} does not exist")]
    Missing(PathBuf),
    /// The file is not a sound gridbook database.
    #[error("{path} is not a sound gridbook database: {reason}")]
    Unsound {
        /// File.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A server holds the data folder.
    #[error("a gridbook-server is running on {0}; stop it before restoring")]
    ServerRunning(PathBuf),
    /// File system.
    #[error("{0}")]
    Io(String),
    /// Storage.
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<crate::storage::StorageError> for BackupError {
    fn from(e: crate::storage::StorageError) -> Self {
        BackupError::Api(e.into())
    }
}

impl From<gridbook_core::Error> for BackupError {
    fn from(e: gridbook_core::Error) -> Self {
        BackupError::Api(ApiError::Core(e))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |e| BackupError::Io(format!("{}: {e}", path.display()))
}

impl BackupError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            BackupError::Exists(_) => "backup_exists",
            BackupError::Missing(_) => "backup_missing",
            BackupError::Unsound { .. } => "backup_unsound",
            BackupError::ServerRunning(_) => "server_running",
            BackupError::Io(_) => "io_error",
            BackupError::Api(e) => e.code(),
        }
    }

    /// Message in zh-CN.
    pub fn message_zh(&self) -> String {
        match self {
            BackupError::Exists(p) => format!("{} 已存在，请换一个文件名", p.display()),
            BackupError::Missing(p) => format!("备份文件 {} 不存在", p.display()),
            BackupError::Unsound { path, .. } => format!("{} 不是完好的 gridbook 数据库", path.display()),
            BackupError::ServerRunning(p) => format!("服务器正在使用 {}，请先停止服务器再恢复", p.display()),
            BackupError::Io(_) => "读写文件出错".into(),
            BackupError::Api(e) => e.message_zh(),
        }
    }
}

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    /// The backup file.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// The last change-log `seq` it holds.
    pub last_seq: i64,
}

/// The exclusive lock a server holds on its data folder (`gridbook.lock`), released when the
/// process ends, however it ends. Restore takes it too, so it never runs under a live server.
#[derive(Debug)]
pub struct DataLock {
    _file: File,
}

impl DataLock {
    /// Take the lock of `data_dir`, or fail with [`BackupError::ServerRunning`].
    pub fn acquire(data_dir: &Path) -> Result<DataLock, BackupError> {
        crate::server_db::create_private_dir(data_dir).map_err(io(data_dir))?;
        let path = data_dir.join("gridbook.lock");
        let file = crate::server_db::private_file()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(DataLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(BackupError::ServerRunning(data_dir.to_path_buf())),
            Err(std::fs::TryLockError::Error(e)) => Err(io(&path)(e)),
        }
    }
}

fn sync_dir(path: &Path) -> Result<(), BackupError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// A file check's failure as a [`BackupError`] about `path`.
fn file_error(path: &Path) -> impl FnOnce(FileError) -> BackupError + '_ {
    move |e| match e {
        FileError::Unsound(reason) => BackupError::Unsound {
            path: path.to_path_buf(),
            reason,
        },
        FileError::Api(e) => BackupError::Api(e),
    }
}

/// Check that `file` opens with its key (or, with `accept_plain`, is a plain database), is
/// intact and holds a change log; its last `seq`.
fn check_sound(file: &ServerDb, accept_plain: bool) -> Result<i64, BackupError> {
    files::check_sound(file, accept_plain).map_err(file_error(file.path()))
}

/// What [`verify_backup`] found in a sound backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupCheck {
    /// The last change-log `seq` it holds.
    pub last_seq: i64,
    /// Its audit log's hash chain.
    pub audit: crate::audit::Verdict,
}

/// Check a backup file without restoring it (`gridbook-server audit verify --backup FILE`):
/// read only, it must open with the key of `file` (a plain backup also without one), pass
/// `PRAGMA integrity_check` (and, encrypted, `PRAGMA cipher_integrity_check`: every page's
/// HMAC) and hold a change log; then its audit log's chain is walked.
pub fn verify_backup(file: &ServerDb) -> Result<BackupCheck, BackupError> {
    if !file.path().is_file() {
        return Err(BackupError::Missing(file.path().to_path_buf()));
    }
    let (last_seq, audit) = files::verify_file(file).map_err(file_error(file.path()))?;
    Ok(BackupCheck { last_seq, audit })
}

/// Back up the database of `storage` to `dest` (a new file) while the server serves.
pub fn backup(storage: &dyn Storage, dest: &Path, operator: &str) -> Result<BackupInfo, BackupError> {
    if dest.exists() {
        return Err(BackupError::Exists(dest.to_path_buf()));
    }
    let mut tmp = dest.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    if tmp.exists() {
        std::fs::remove_file(&tmp).map_err(io(&tmp))?;
    }
    // Made empty with mode 0600 first: SQLite writes into an empty file as into a new one, and
    // would make a missing one with the process's default mode (0644).
    crate::server_db::private_file()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io(&tmp))?;
    // The copy is checked with the database's own key: an encrypted database's backup must
    // open with that key and must not have come out plain.
    let file = match storage.server_db() {
        Some(db) => db.with_path(&tmp),
        None => ServerDb::plain(&tmp),
    };
    let result = (|| {
        storage.backup_to(&tmp)?;
        let last_seq = check_sound(&file, false)?;
        File::open(&tmp).and_then(|f| f.sync_all()).map_err(io(&tmp))?;
        Ok::<_, BackupError>(last_seq)
    })();
    let last_seq = match result {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, dest).map_err(io(dest))?;
    sync_dir(dest)?;
    let bytes = std::fs::metadata(dest).map_err(io(dest))?.len();
    crate::admin::audit(
        storage,
        crate::audit::Action::Backup,
        operator,
        &dest.display().to_string(),
        &format!("last_seq={last_seq} bytes={bytes}"),
    )
    .map_err(BackupError::from)?;
    Ok(BackupInfo {
        path: dest.to_path_buf(),
        bytes,
        last_seq,
    })
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreInfo {
    /// Where the database that was replaced now is (none if there was none).
    pub previous: Option<PathBuf>,
    /// The backup's last change-log `seq`.
    pub last_seq: i64,
    /// The `seq` of the restore marker: the next change gets a higher one.
    pub marker_seq: i64,
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Restore `backup_file` as the (plain) database of the data folder `data_dir` (server
/// stopped).
pub fn restore(backup_file: &Path, data_dir: &Path, operator: &str) -> Result<RestoreInfo, BackupError> {
    restore_with_key(backup_file, data_dir, None, operator)
}

/// Restore `backup_file` as the database of the data folder `data_dir` (server stopped),
/// encrypted with `key` when given (the server's `database_key_file`). An encrypted backup
/// must open with `key` (else `wrong_key`, nothing replaced); a plain backup is encrypted with
/// `key` on the way in.
pub fn restore_with_key(
    backup_file: &Path,
    data_dir: &Path,
    key: Option<&StoreKey>,
    operator: &str,
) -> Result<RestoreInfo, BackupError> {
    if !backup_file.is_file() {
        return Err(BackupError::Missing(backup_file.to_path_buf()));
    }
    let _lock = DataLock::acquire(data_dir)?;
    let target = ServerDb::new(data_dir.join("gridbook.sqlite3"), key.cloned());
    let last_seq = check_sound(&target.with_path(backup_file), true)?;
    let db = target.path().to_path_buf();
    let staged = with_suffix(&db, ".restoring");
    for p in [
        staged.clone(),
        with_suffix(&staged, "-wal"),
        with_suffix(&staged, "-shm"),
    ] {
        if p.exists() {
            std::fs::remove_file(&p).map_err(io(&p))?;
        }
    }
    {
        // 0600 whatever the backup file's mode (`fs::copy` would copy it).
        let mut from = File::open(backup_file).map_err(io(backup_file))?;
        let mut to = crate::server_db::private_file()
            .write(true)
            .create_new(true)
            .open(&staged)
            .map_err(io(&staged))?;
        std::io::copy(&mut from, &mut to).map_err(io(&staged))?;
    }
    let staged_db = target.with_path(&staged);
    // Migrations run (or refuse a database newer than this binary) exactly as on start; a
    // plain copy is encrypted here when the server has a key.
    let marker_seq = {
        let storage = SqliteStorage::open_db(&staged_db, 1)?;
        // The restored database's own audit log records the restore.
        crate::admin::audit(
            &storage,
            crate::audit::Action::Restore,
            operator,
            &backup_file.display().to_string(),
            &format!("last_seq={last_seq} marker_seq={}", last_seq + RESTORE_SEQ_GAP),
        )?;
        drop(storage);
        let now = crate::model::clock::now_ms();
        let marker = last_seq + RESTORE_SEQ_GAP;
        let ok = files::write_restore_marker(&staged_db, marker, RESTORE_SCOPE, now).map_err(file_error(&staged))?;
        if ok != "ok" {
            return Err(BackupError::Unsound {
                path: backup_file.to_path_buf(),
                reason: ok,
            });
        }
        marker
    };
    File::open(&staged).and_then(|f| f.sync_all()).map_err(io(&staged))?;
    let previous = if db.exists() {
        let aside = with_suffix(&db, &format!(".before-restore-{}", crate::model::clock::now_ms()));
        for (from, to) in [
            (db.clone(), aside.clone()),
            (with_suffix(&db, "-wal"), with_suffix(&aside, "-wal")),
            (with_suffix(&db, "-shm"), with_suffix(&aside, "-shm")),
        ] {
            if from.exists() {
                std::fs::rename(&from, &to).map_err(io(&from))?;
                crate::server_db::make_private(&to).map_err(io(&to))?;
            }
        }
        Some(aside)
    } else {
        None
    };
    for (from, to) in [
        (with_suffix(&staged, "-wal"), with_suffix(&db, "-wal")),
        (with_suffix(&staged, "-shm"), with_suffix(&db, "-shm")),
        (staged.clone(), db.clone()),
    ] {
        if from.exists() {
            std::fs::rename(&from, &to).map_err(io(&from))?;
        }
    }
    sync_dir(&db)?;
    Ok(RestoreInfo {
        previous,
        last_seq,
        marker_seq,
    })
}

/// The schema versions a plain database file holds: (core `user_version`, server
/// `schema_version`).
pub fn schema_versions(db: &Path) -> Result<(i64, i64), BackupError> {
    schema_versions_of(&ServerDb::plain(db))
}

/// [`schema_versions`] of a database file opened with its key, if any.
pub fn schema_versions_of(db: &ServerDb) -> Result<(i64, i64), BackupError> {
    files::schema_versions(db).map_err(file_error(db.path()))
}
