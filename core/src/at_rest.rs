//! 存储加密: the phone's store file encrypted at rest with SQLCipher (issue 9, ADR 0003).
//!
//! The app keeps a random 32-byte [`StoreKey`] in the platform keystore (Android Keystore,
//! iOS Keychain) and hands it to [`crate::Store::open_encrypted`]. The key is given to SQLCipher
//! as a raw key (`PRAGMA key = "x'…'"`), so no password derivation runs on open. Every page of
//! the database and of its WAL is encrypted (AES-256-CBC) and authenticated (HMAC-SHA256, see [`cipher_settings`]).
//!
//! Opening a plain store (made before encryption) with a key encrypts it: the plain file is
//! checkpointed out of WAL mode, exported with `sqlcipher_export` into `<store>.encrypting`,
//! synced, and renamed over the old file (atomic on one file system). A crash at any point leaves
//! either the old plain store (the export is redone on the next open) or the new encrypted one.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode};
use zeroize::Zeroize;

use crate::error::{Error, Result};

/// The store's encryption key: 32 random bytes from the platform keystore (数据库密钥).
/// Wiped from memory when dropped; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreKey([u8; StoreKey::LEN]);

impl StoreKey {
    /// Length of a key in bytes.
    pub const LEN: usize = 32;

    /// A key from the keystore's bytes; anything but 32 bytes is `invalid_key`.
    pub fn from_bytes(bytes: &[u8]) -> Result<StoreKey> {
        let key: [u8; Self::LEN] = bytes.try_into().map_err(|_| {
            Error::invalid(
                "invalid_key",
                "key",
                format!("a store key has {} bytes, not {}", Self::LEN, bytes.len()),
            )
        })?;
        Ok(StoreKey(key))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; Self::LEN] {
        &self.0
    }

    /// The SQLCipher raw-key literal `x'…'` (64 hex digits: no key derivation).
    fn literal(&self) -> String {
        format!("x'{}'", hex::encode(self.0))
    }
}

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(..)")
    }
}

impl Drop for StoreKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Give a fresh connection its key (before anything else touches the file).
fn apply_key(conn: &Connection, key: &StoreKey) -> Result<()> {
    let mut literal = key.literal();
    let done = conn.pragma_update(None, "key", &literal);
    literal.zeroize();
    done?;
    cipher_settings(conn, None)
}

/// HMAC-SHA256 page authentication instead of SQLCipher 4's default HMAC-SHA512: as strong
/// here, and with SHA-256 in hardware on ARMv8 phones (and SHA-NI on x86) it costs a fraction
/// per page (ADR 0003, docs/benchmarks.md). Set before the first read of a file's pages.
fn cipher_settings(conn: &Connection, schema: Option<&str>) -> Result<()> {
    conn.pragma_update(schema, "cipher_hmac_algorithm", "HMAC_SHA256")?;
    conn.pragma_update(schema, "cipher_kdf_algorithm", "PBKDF2_HMAC_SHA256")?;
    Ok(())
}

/// Open `path` with `key` (or plain, without), checking that the key opens it. A plain store
/// opened with a key is encrypted first. A key that does not open the file, or an encrypted file
/// opened without a key, is [`Error::WrongKey`]. Also the district server's writer connection
/// (its database is encrypted the same way, ADR 0009).
pub fn open(path: &Path, key: Option<&StoreKey>) -> Result<Connection> {
    // A plain file is recognised by its header before any key touches it: trying the key
    // first would fail as expected, but SQLCipher logs that failure to stderr as an error
    // ("error decrypting page 1").
    if let Some(key) = key
        && is_plain_sqlite(path)?
    {
        encrypt_plain(path, key)?;
        return open_checked(path, Some(key));
    }
    open_checked(path, key)
}

/// Open another connection to a store already opened by [`open`] (the checkpoint thread).
pub(crate) fn open_again(path: &Path, key: Option<&StoreKey>) -> Result<Connection> {
    open_checked(path, key)
}

fn open_checked(path: &Path, key: Option<&StoreKey>) -> Result<Connection> {
    let conn = Connection::open(path)?;
    key_and_check(&conn, key)?;
    Ok(conn)
}

/// Give a fresh connection (opened with its own flags, e.g. read-only) its key, or none, and
/// check that it opens the file: [`Error::WrongKey`] when not. Nothing is written. Used by the
/// district server for its reader connections (ADR 0009).
pub fn key_and_check(conn: &Connection, key: Option<&StoreKey>) -> Result<()> {
    if let Some(key) = key {
        apply_key(conn, key)?;
    }
    // The first read of page 1 is where SQLCipher finds out whether the key fits.
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)) {
        Ok(_) => Ok(()),
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::NotADatabase) => Err(Error::WrongKey),
        Err(e) => Err(e.into()),
    }
}

/// Whether the file starts with the plain SQLite header (an encrypted file starts with its
/// random salt). A missing or short file is not plain.
pub fn is_plain_sqlite(path: &Path) -> Result<bool> {
    use std::io::Read;
    let mut head = [0u8; 16];
    let Ok(mut f) = std::fs::File::open(path) else {
        return Ok(false);
    };
    Ok(f.read_exact(&mut head).is_ok() && &head == b"SQLite format 3\0")
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn io(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Corrupt {
        id: "store file".into(),
        reason: format!("{what}: {e}"),
    }
}

/// Copy the whole database of `conn` (plain or keyed) into the new file `dest`, encrypted with
/// `key` and this module's cipher settings, `user_version` included, in one transaction: a
/// consistent copy while other connections keep writing (WAL). `conn` must be able to create
/// `dest` (not opened read-only). Used by the migration of a plain store and by the district
/// server's backups (ADR 0009).
pub fn export_encrypted(conn: &Connection, dest: &Path, key: &StoreKey) -> Result<()> {
    let mut literal = key.literal();
    let attached = conn.execute(
        "ATTACH DATABASE ?1 AS encrypted KEY ?2",
        rusqlite::params![dest.to_string_lossy(), literal],
    );
    literal.zeroize();
    attached?;
    let copied = (|| -> Result<()> {
        cipher_settings(conn, Some("encrypted"))?;
        conn.execute_batch("BEGIN")?;
        let exported = (|| -> Result<()> {
            let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
            conn.query_row("SELECT sqlcipher_export('encrypted')", [], |_| Ok(()))?;
            conn.pragma_update(Some("encrypted"), "user_version", version)?;
            Ok(())
        })();
        match exported {
            Ok(()) => Ok(conn.execute_batch("COMMIT")?),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    })();
    let detached = conn.execute("DETACH DATABASE encrypted", []);
    copied?;
    detached?;
    Ok(())
}

/// Encrypt a plain store in place: export into `<store>.encrypting`, then rename over it.
#[tracing::instrument(skip_all)]
fn encrypt_plain(path: &Path, key: &StoreKey) -> Result<()> {
    let tmp = sibling(path, ".encrypting");
    for leftover in [tmp.clone(), sibling(path, ".encrypting-journal")] {
        match std::fs::remove_file(&leftover) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io("remove leftover export")(e)),
            _ => {}
        }
    }
    {
        let plain = Connection::open(path)?;
        plain.busy_timeout(std::time::Duration::from_secs(5))?;
        // Leaving WAL mode checkpoints every committed page into the file and deletes the WAL,
        // so the export sees everything and no plain WAL is left beside the encrypted file.
        let mode: String = plain.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("delete") {
            return Err(Error::Corrupt {
                id: "store file".into(),
                reason: format!("could not leave WAL mode (still {mode}); is the store open elsewhere?"),
            });
        }
        export_encrypted(&plain, &tmp, key)?;
    }
    // The encrypted file keeps the plain one's permissions (SQLite created the export with the
    // process's default mode).
    let permissions = std::fs::metadata(path)
        .map_err(io("read store permissions"))?
        .permissions();
    std::fs::set_permissions(&tmp, permissions).map_err(io("set permissions of encrypted copy"))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io("sync encrypted copy"))?;
    std::fs::rename(&tmp, path).map_err(io("replace plain store"))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Make the rename durable (POSIX); not possible (nor needed) on every platform.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    for stale in [sibling(path, "-wal"), sibling(path, "-shm")] {
        let _ = std::fs::remove_file(stale);
    }
    tracing::info!("plain store encrypted");
    Ok(())
}
