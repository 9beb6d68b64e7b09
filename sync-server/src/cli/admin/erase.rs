//! `admin erase-person` (擦除人员信息; rank 5, `cli`): arguments in, the service's
//! ([`crate::erasure`]) answer printed.

use std::path::PathBuf;

use crate::cli::{api_err, open_storage};

/// `admin erase-person`: destroy a person's key (crypto-shredding).
pub(super) fn erase_person(data: PathBuf, person: String, reason: String) -> Result<(), String> {
    let storage = open_storage(&data)?;
    let seq =
        crate::erasure::erase(&storage, &person, &reason, "cli", None, crate::erasure::Via::Cli).map_err(api_err)?;
    println!(
        "已擦除 / erased: {person} (erasure seq {seq}); 设备在下次同步时删除其密钥 / devices drop the key at their next sync"
    );
    Ok(())
}
