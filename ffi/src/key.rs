//! The store key, until encryption lands.
//!
//! The key is **not applied yet**: the database file is plain SQLite. So that the API (and the
//! apps' key handling in Keystore / Keychain) is stable now, the key is already required and
//! checked: an empty key is refused (`invalid_key`), and a key that differs from the one the
//! store was first opened with is refused (`wrong_key`). The check is a stopgap sidecar file
//! `<store>.keycheck` holding SHA-256 of a domain tag and the key; when the store is encrypted
//! (SQLCipher's own check), this module and the sidecar go away.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};

const TAG: &[u8] = b"gridbook-keycheck-v1\0";

/// Refuse an empty key, or a key other than the one this store was created with.
pub(crate) fn check(path: &Path, key: &[u8]) -> ApiResult<()> {
    if key.is_empty() {
        return Err(ApiError::invalid(
            "invalid_key",
            "the store key is empty",
            "数据库密钥为空",
        ));
    }
    let verifier = hex::encode(Sha256::new().chain_update(TAG).chain_update(key).finalize());
    let sidecar = path.with_file_name(format!(
        "{}.keycheck",
        path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
    ));
    let storage = |e: std::io::Error| ApiError::Storage {
        code: "storage_error".into(),
        message_en: format!("key check file: {e}"),
        message_zh: "本地存储出错".into(),
    };
    match std::fs::read_to_string(&sidecar) {
        Ok(found) if found.trim() == verifier => Ok(()),
        Ok(_) => Err(ApiError::Storage {
            code: "wrong_key".into(),
            message_en: "the key does not open this store".into(),
            message_zh: "数据库密钥错误".into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::write(&sidecar, verifier).map_err(storage),
        Err(e) => Err(storage(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_wrong_keys_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("phone.sqlite3");
        assert_eq!(check(&path, b"").unwrap_err().code(), "invalid_key");
        check(&path, b"first key").expect("first open records the key");
        check(&path, b"first key").expect("same key again");
        assert_eq!(check(&path, b"other key").unwrap_err().code(), "wrong_key");
    }
}
