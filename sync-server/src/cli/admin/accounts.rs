//! `admin` commands of accounts and devices (账号, 设备; rank 5, `cli`): arguments in, the
//! service's ([`crate::admin::accounts`]) answer printed.

use std::path::PathBuf;

use super::{hash_cost, parse_role};
use crate::admin::accounts;
use crate::cli::{api_err, open_storage};
use crate::storage::Accounts;

/// `admin accounts`: every account, one a line.
pub(super) fn accounts(data: PathBuf) -> Result<(), String> {
    let storage = open_storage(&data)?;
    for a in storage.accounts().map_err(|e| e.to_string())? {
        println!(
            "{:<16} {:<24} {:<24} {}{}",
            a.username,
            a.display_name,
            a.role.as_str(),
            a.org_node,
            if a.disabled { "  [已停用 disabled]" } else { "" }
        );
    }
    Ok(())
}

/// `admin account-create`: prints the initial password once.
pub(super) fn account_create(
    data: PathBuf,
    username: String,
    name: String,
    role: String,
    org_node: String,
) -> Result<(), String> {
    let storage = open_storage(&data)?;
    let new = accounts::NewAccount {
        username,
        display_name: name,
        role: parse_role(&role)?,
        org_node,
    };
    let (a, password) = accounts::create(&storage, &new, hash_cost(), "cli").map_err(api_err)?;
    println!(
        "账号已创建 / account created: {}  初始密码 / initial password: {password}",
        a.username
    );
    Ok(())
}

/// `admin account-role`: bind an account to a role and org node.
pub(super) fn account_role(data: PathBuf, username: String, role: String, org_node: String) -> Result<(), String> {
    let storage = open_storage(&data)?;
    let a = accounts::assign_role(&storage, &username, parse_role(&role)?, &org_node, "cli").map_err(api_err)?;
    println!(
        "已分配 / assigned: {} → {} @ {}",
        a.username,
        a.role.as_str(),
        a.org_node
    );
    Ok(())
}

/// `admin account-disable`.
pub(super) fn account_disable(data: PathBuf, username: String) -> Result<(), String> {
    accounts::set_disabled(&open_storage(&data)?, &username, true, "cli").map_err(api_err)?;
    println!("已停用 / disabled: {username}");
    Ok(())
}

/// `admin account-enable`.
pub(super) fn account_enable(data: PathBuf, username: String) -> Result<(), String> {
    accounts::set_disabled(&open_storage(&data)?, &username, false, "cli").map_err(api_err)?;
    println!("已启用 / enabled: {username}");
    Ok(())
}

/// `admin password-reset`: prints the new password once.
pub(super) fn password_reset(data: PathBuf, username: String) -> Result<(), String> {
    let storage = open_storage(&data)?;
    let password = accounts::reset_password(&storage, &username, hash_cost(), "cli").map_err(api_err)?;
    println!("新密码 / new password for {username}: {password}");
    Ok(())
}

/// `admin devices`: every device with its last sync and app version.
pub(super) fn devices(data: PathBuf) -> Result<(), String> {
    let storage = open_storage(&data)?;
    for d in accounts::devices(&storage).map_err(api_err)? {
        println!(
            "{}  {:<16} {:<20} 最近同步 last sync: {:<25} 版本 app: {:<20}{}",
            d.id,
            d.account_id,
            d.name,
            d.last_sync_at.as_deref().unwrap_or("-"),
            d.app_version.as_deref().unwrap_or("-"),
            if d.revoked_at.is_some() {
                "  [已停用 revoked]"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// `admin device-revoke`.
pub(super) fn device_revoke(data: PathBuf, id: String) -> Result<(), String> {
    let storage = open_storage(&data)?;
    accounts::revoke_device(&storage, &id, "cli").map_err(api_err)?;
    println!("设备已停用 / device revoked: {id}");
    Ok(())
}
