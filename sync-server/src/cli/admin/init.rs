//! `admin init` (rank 5, `cli`): the first admin's password (from a file or the terminal) and
//! the call to the service ([`crate::admin::init`]) under the data folder's lock.

use std::path::PathBuf;

use super::hash_cost;
use crate::cli::{api_err, server_db};
use crate::storage::sqlite::SqliteStorage;

/// The first admin's password: the first line of `file`, or asked twice on the terminal.
pub(super) fn read_password(file: Option<&std::path::Path>) -> Result<zeroize::Zeroizing<String>, String> {
    if let Some(file) = file {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(file)
                .map_err(|e| format!("无法读取密码文件 [password_file_unreadable]: {}: {e}", file.display()))?,
        );
        return Ok(zeroize::Zeroizing::new(text.lines().next().unwrap_or("").to_string()));
    }
    let no_terminal = |e: std::io::Error| {
        format!(
            "无法从终端读取密码，请使用 --password-file [no_terminal]: cannot read the password from a terminal ({e}); use --password-file"
        )
    };
    let first = zeroize::Zeroizing::new(
        rpassword::prompt_password("区级管理员密码 / district admin password: ").map_err(no_terminal)?,
    );
    let again = zeroize::Zeroizing::new(rpassword::prompt_password("再次输入 / again: ").map_err(no_terminal)?);
    if *first != *again {
        return Err("两次输入的密码不一致 [password_mismatch]: the two passwords differ".into());
    }
    Ok(first)
}

/// `admin init` on `data`: the folder (0700) and database are made if missing; refused while a
/// server holds the folder.
pub(super) fn init(
    data: &std::path::Path,
    req: &crate::admin::init::InitRequest,
    password: &str,
) -> Result<crate::admin::init::InitOutcome, String> {
    use crate::admin::{backup, init};
    let db = server_db(data)?;
    let _lock = backup::DataLock::acquire(data).map_err(|e| format!("{} [{}]: {e}", e.message_zh(), e.code()))?;
    let storage = SqliteStorage::open_db(&db, 1).map_err(|e| api_err(db.explain(e)))?;
    init::init(&storage, data, req, password, hash_cost(), "cli")
        .map_err(|e| format!("{} [{}]: {e}", e.message_zh(), e.code()))
}

/// `admin init`: the district and its first admin on an empty data folder.
pub(super) fn run(
    data: PathBuf,
    district_name: String,
    district_code: String,
    admin_username: String,
    admin_name: String,
    password_file: Option<PathBuf>,
) -> Result<(), String> {
    let req = crate::admin::init::InitRequest {
        district_name,
        district_code,
        admin_username,
        admin_display_name: admin_name,
    };
    // The password first: nothing is made when it cannot be had.
    let password = read_password(password_file.as_deref())?;
    let outcome = init(&data, &req, &password)?;
    println!(
        "初始化完成 / initialised: {} ({}), 区级管理员 district admin: {}",
        req.district_name.trim(),
        outcome.district_id,
        outcome.admin
    );
    println!(
        "下一步 / next: gridbook-server admin org-import --data {} FILE (docs/deploy.md)",
        data.display()
    );
    Ok(())
}
