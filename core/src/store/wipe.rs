//! 远程擦除: remote wipe of a revoked device's store (issue 9).
//!
//! When the server answers `device_revoked`, the sync client calls [`Store::wipe`]: the store's
//! connection is closed, its files (database, WAL, shared memory, journal) are deleted, and a
//! small marker is written where the database was, so that opening the path again fails with
//! [`Error::StoreWiped`] instead of silently creating an empty store. The marker holds no data.
//! Deleting files does not erase flash blocks: what makes the old bytes unreadable is the
//! store's encryption at rest (SQLCipher, `docs/security.md`), whose key the app drops
//! from the keystore when it sees `device_wiped`.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::Store;
use crate::error::{Error, Result};

/// The bytes a wiped store's path holds (not an SQLite header).
pub const WIPED_MARKER: &[u8] = b"gridbook: store wiped after device revocation\n";

/// Whether `path` holds the wipe marker.
pub fn is_wiped(path: &Path) -> bool {
    use std::io::Read;
    let mut head = vec![0u8; WIPED_MARKER.len()];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|_| head == WIPED_MARKER)
}

fn sidecars(db: &Path) -> Vec<PathBuf> {
    ["-wal", "-shm", "-journal"]
        .iter()
        .map(|s| {
            let mut p = db.as_os_str().to_owned();
            p.push(s);
            PathBuf::from(p)
        })
        .collect()
}

impl Store {
    /// Close the store, delete its files and leave the wipe marker (see the module docs).
    /// Afterwards every call on this `Store` fails (it holds an empty in-memory database);
    /// drop it. An in-memory store is just emptied.
    pub fn wipe(&mut self) -> Result<()> {
        self.stop_background();
        let path = self.conn.path().filter(|p| !p.is_empty()).map(PathBuf::from);
        let old = std::mem::replace(&mut self.conn, Connection::open_in_memory()?);
        old.close().map_err(|(_, e)| Error::from(e))?;
        let Some(db) = path else { return Ok(()) };
        let io = |e: std::io::Error| Error::Corrupt {
            id: "store".into(),
            reason: format!("wipe: {e}"),
        };
        for p in sidecars(&db) {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            }
        }
        std::fs::remove_file(&db).map_err(io)?;
        std::fs::write(&db, WIPED_MARKER).map_err(io)?;
        tracing::warn!("store wiped after device revocation");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;
    use crate::store::Identity;

    #[test]
    fn a_wiped_store_is_gone_and_cannot_be_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("phone.sqlite3");
        let id = Identity {
            account_id: "a".into(),
            role: Role::GridWorker,
            org_node: "g".into(),
            grids: vec!["g".into()],
        };
        let mut store = Store::open(&path, id.clone()).unwrap();
        store.wipe().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), WIPED_MARKER);
        assert!(sidecars(&path).iter().all(|p| !p.exists()));
        assert!(store.outbox_len().is_err(), "the wiped store answers nothing");
        drop(store);
        let e = Store::open(&path, id).unwrap_err();
        assert_eq!(e.code(), "store_wiped");
    }
}
