//! `audit verify` (rank 5, `cli`): check the hash chain of the audit log (审计日志) of a data
//! folder or of a backup file.

use std::path::PathBuf;

use clap::Subcommand;

use super::{api_err, server_db};
use crate::audit;

#[derive(Subcommand)]
pub(super) enum AuditCmd {
    /// Check the hash chain of the audit log; names the first broken entry.
    Verify {
        /// Data folder (holds gridbook.sqlite3).
        #[arg(long, env = "GRIDBOOK_DATA_DIR", required_unless_present = "backup")]
        data: Option<PathBuf>,
        /// A backup file (`admin backup`) to check instead, without restoring it: its
        /// integrity and its audit log (an encrypted one needs --db-key-file).
        #[arg(long)]
        backup: Option<PathBuf>,
    },
}

/// `audit verify`: Ok(true) when intact.
pub(super) fn verify(data: Option<&std::path::Path>, backup_file: Option<&std::path::Path>) -> Result<bool, String> {
    use crate::admin::backup;
    let verdict = match (data, backup_file) {
        (_, Some(file)) => {
            // Any path: the key (if any) is the one of --db-key-file.
            let db = server_db(std::path::Path::new("."))?.with_path(file);
            let checked = backup::verify_backup(&db).map_err(|e| format!("{} [{}]: {e}", e.message_zh(), e.code()))?;
            println!("backup sound: integrity ok, change log up to seq {}", checked.last_seq);
            println!("备份文件完好：完整性检查通过，变更日志至第 {} 条", checked.last_seq);
            checked.audit
        }
        (Some(data), None) => {
            if !data.is_dir() {
                return Err(format!(
                    "数据目录 {} 不存在 [no_data_folder]: no such data folder {}",
                    data.display(),
                    data.display()
                ));
            }
            let db = server_db(data)?;
            if !db.path().is_file() {
                return Err(format!(
                    "{} 下没有 gridbook 数据库 [no_database]: no gridbook database in {}",
                    data.display(),
                    data.display()
                ));
            }
            audit::verify_db(&db).map_err(api_err)?
        }
        (None, None) => return Err("--data DIR or --backup FILE".into()),
    };
    match verdict {
        audit::Verdict::Intact { entries, last_hash } => {
            println!("audit log intact: {entries} entries, last hash {last_hash}");
            println!("审计日志完整：{entries} 条，末条哈希 {last_hash}");
            Ok(true)
        }
        audit::Verdict::Broken { seq, reason } => {
            println!("audit log BROKEN at entry {seq}: {reason}");
            println!("审计日志在第 {seq} 条被篡改或缺失");
            Ok(false)
        }
    }
}
