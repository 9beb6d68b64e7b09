//! `admin` commands of online backups, restore and the database key (在线备份, 恢复, 数据库密钥;
//! rank 5, `cli`): arguments in, the service's ([`crate::admin::backup`],
//! [`crate::server_db`]) answer printed.

use std::path::PathBuf;

use crate::admin::backup;
use crate::cli::{api_err, open_storage, server_db};

/// `admin backup`: an online backup while the server keeps serving.
pub(super) fn backup(data: PathBuf, out: PathBuf) -> Result<(), String> {
    let storage = open_storage(&data)?;
    let info = backup::backup(&storage, &out, "cli").map_err(backup_err)?;
    println!(
        "备份完成 / backup written: {} ({} bytes, change log up to seq {})",
        info.path.display(),
        info.bytes,
        info.last_seq
    );
    Ok(())
}

/// `admin restore`: replace a stopped server's database with a backup.
pub(super) fn restore(data: PathBuf, file: PathBuf) -> Result<(), String> {
    let db = server_db(&data)?;
    let info = backup::restore_with_key(&file, &data, db.key(), "cli").map_err(backup_err)?;
    if let Some(p) = &info.previous {
        println!("原数据库已移至 / the previous database was moved to {}", p.display());
    }
    println!(
        "恢复完成 / restored: change log up to seq {}, next seq above {}",
        info.last_seq, info.marker_seq
    );
    Ok(())
}

/// `admin new-db-key`: a new random database key file.
pub(super) fn new_db_key(file: PathBuf) -> Result<(), String> {
    crate::server_db::new_key_file(&file).map_err(|e| api_err(e.into()))?;
    println!(
        "数据库密钥已写入 / database key written: {} (请保存在数据库磁盘之外 / keep it off the database's disk)",
        file.display()
    );
    Ok(())
}

fn backup_err(e: backup::BackupError) -> String {
    format!("{} [{}]: {e}", e.message_zh(), e.code())
}
