//! 账号与设备: create accounts, assign a role bound to an org node, disable / enable, reset a
//! password; list devices with their last sync and app version; revoke a device.
//!
//! A role is bound to a node of the matching level (a grid worker to a grid, a community
//! supervisor to a community ...), checked against the server's current org tree. Disabling
//! an account or resetting its password revokes its tokens, so its phones must sign in again
//! (a disabled account cannot). Every action is announced on the `audit` target.

use gridbook_core::domain::{OrgLevel, Role};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use uuid::Uuid;

use crate::audit::Action;
use crate::auth;
use crate::error::{ApiError, ApiResult};
use crate::storage::{Account, DeviceStatus, Storage};

/// The levels an org node of `role` may have.
pub fn levels_for(role: Role) -> &'static [OrgLevel] {
    match role {
        Role::GridWorker | Role::GridLeader => &[OrgLevel::Grid, OrgLevel::SubGrid],
        Role::CommunitySupervisor => &[OrgLevel::Community],
        Role::SubDistrictSupervisor => &[OrgLevel::SubDistrict],
        Role::DistrictAdmin => &[OrgLevel::District],
        Role::Department => &[OrgLevel::Department],
    }
}

fn invalid(code: &'static str, field: &str, reason: String) -> ApiError {
    ApiError::Core(gridbook_core::Error::Invalid {
        code,
        field: field.into(),
        reason,
    })
}

/// Check that `org_node` is a current node of a level `role` may be bound to.
pub fn check_binding(storage: &dyn Storage, role: Role, org_node: &str) -> ApiResult<()> {
    let level = storage.current_node_level(org_node)?;
    let Some(level) = level else {
        return Err(ApiError::Core(gridbook_core::Error::NotFound {
            kind: "org_node",
            id: org_node.to_string(),
        }));
    };
    let level: OrgLevel =
        serde_json::from_value(serde_json::Value::String(level)).map_err(|e| ApiError::Internal(e.to_string()))?;
    if !levels_for(role).contains(&level) {
        return Err(invalid(
            "role_level_mismatch",
            "org_node",
            format!(
                "a {} is bound to a {:?}, not a {level:?}",
                role.as_str(),
                levels_for(role)
            ),
        ));
    }
    Ok(())
}

/// A fresh initial password: 14 letters and digits, shown once to the admin.
pub fn new_password() -> String {
    // No 0/O, 1/l/I: read aloud or copied by hand.
    const CHARS: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::StdRng::from_os_rng();
    (0..14)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

/// What to create.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Login name (also the account id).
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Org node the role is bound to.
    pub org_node: String,
}

/// Password hashing cost (the server's configuration).
#[derive(Debug, Clone, Copy)]
pub struct HashCost {
    /// Argon2 memory, KiB.
    pub memory_kib: u32,
    /// Argon2 iterations.
    pub iterations: u32,
}

pub(crate) fn check_username(username: &str) -> ApiResult<()> {
    let ok = (3..=32).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !ok {
        return Err(invalid(
            "invalid_username",
            "username",
            "3 to 32 letters, digits, `_`, `-` or `.`".into(),
        ));
    }
    Ok(())
}

/// Create an account; returns it and its initial password (shown once).
pub fn create(storage: &dyn Storage, new: &NewAccount, cost: HashCost, operator: &str) -> ApiResult<(Account, String)> {
    check_username(&new.username)?;
    if new.display_name.trim().is_empty() || new.display_name.chars().count() > 100 {
        return Err(invalid(
            "invalid_display_name",
            "display_name",
            "1 to 100 characters".into(),
        ));
    }
    check_binding(storage, new.role, &new.org_node)?;
    if storage.account_by_username(&new.username)?.is_some() || storage.account(&new.username)?.is_some() {
        return Err(invalid(
            "username_taken",
            "username",
            format!("`{}` is taken", new.username),
        ));
    }
    let password = new_password();
    let account = Account {
        id: new.username.clone(),
        username: new.username.clone(),
        display_name: new.display_name.trim().to_string(),
        password_hash: auth::hash_password(&password, cost.memory_kib, cost.iterations)?,
        role: new.role,
        org_node: new.org_node.clone(),
        disabled: false,
    };
    storage.create_account(&account)?;
    super::audit(
        storage,
        Action::AccountCreate,
        operator,
        &format!("account:{}", account.id),
        &format!("role={} org_node={}", account.role.as_str(), account.org_node),
    )?;
    Ok((account, password))
}

fn existing(storage: &dyn Storage, username: &str) -> ApiResult<Account> {
    storage
        .account_by_username(username)?
        .ok_or_else(|| ApiError::NotFound("account".into()))
}

/// Bind an account to another role / org node. Its phones get the new grants at their next
/// sync (grants are computed per request).
pub fn assign_role(
    storage: &dyn Storage,
    username: &str,
    role: Role,
    org_node: &str,
    operator: &str,
) -> ApiResult<Account> {
    let mut a = existing(storage, username)?;
    check_binding(storage, role, org_node)?;
    a.role = role;
    a.org_node = org_node.to_string();
    storage.update_account(&a)?;
    super::audit(
        storage,
        Action::GrantChange,
        operator,
        &format!("account:{}", a.id),
        &format!("role={} org_node={org_node}", role.as_str()),
    )?;
    Ok(a)
}

/// Disable (or enable) an account; disabling also revokes its tokens.
pub fn set_disabled(storage: &dyn Storage, username: &str, disabled: bool, operator: &str) -> ApiResult<Account> {
    let mut a = existing(storage, username)?;
    if disabled && a.id == operator {
        return Err(ApiError::Forbidden("an admin cannot disable their own account".into()));
    }
    a.disabled = disabled;
    storage.update_account(&a)?;
    if disabled {
        storage.revoke_account_tokens(&a.id, crate::model::clock::now_ms())?;
    }
    super::audit(
        storage,
        Action::AccountStatus,
        operator,
        &format!("account:{}", a.id),
        if disabled { "disabled" } else { "enabled" },
    )?;
    Ok(a)
}

/// Reset a password: a new one (shown once), every token of the account revoked.
pub fn reset_password(storage: &dyn Storage, username: &str, cost: HashCost, operator: &str) -> ApiResult<String> {
    let mut a = existing(storage, username)?;
    let password = new_password();
    a.password_hash = auth::hash_password(&password, cost.memory_kib, cost.iterations)?;
    storage.update_account(&a)?;
    storage.revoke_account_tokens(&a.id, crate::model::clock::now_ms())?;
    super::audit(
        storage,
        Action::PasswordReset,
        operator,
        &format!("account:{}", a.id),
        "",
    )?;
    Ok(password)
}

/// A device row for lists and JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceRow {
    /// Device id.
    pub id: String,
    /// Owner account.
    pub account_id: String,
    /// Name the phone gave.
    pub name: String,
    /// Registered, RFC 3339.
    pub created_at: String,
    /// Last sync, RFC 3339.
    pub last_sync_at: Option<String>,
    /// App version.
    pub app_version: Option<String>,
    /// Revoked, RFC 3339.
    pub revoked_at: Option<String>,
}

fn rfc3339(ms: i64) -> String {
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    match chrono::FixedOffset::east_opt(8 * 3600) {
        Some(china) => t
            .with_timezone(&china)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        None => t.to_rfc3339(),
    }
}

impl From<DeviceStatus> for DeviceRow {
    fn from(d: DeviceStatus) -> Self {
        DeviceRow {
            id: d.device.id.to_string(),
            account_id: d.device.account_id,
            name: d.device.name,
            created_at: rfc3339(d.device.created_at),
            last_sync_at: d.last_sync_at.map(rfc3339),
            app_version: d.app_version,
            revoked_at: d.device.revoked_at.map(rfc3339),
        }
    }
}

/// Every device, newest sync first.
pub fn devices(storage: &dyn Storage) -> ApiResult<Vec<DeviceRow>> {
    Ok(storage.devices()?.into_iter().map(DeviceRow::from).collect())
}

/// Revoke a device: its tokens stop working and it cannot sign in again.
pub fn revoke_device(storage: &dyn Storage, id: &str, operator: &str) -> ApiResult<()> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("device".into()))?;
    if !storage.revoke_device(id, crate::model::clock::now_ms())? {
        return Err(ApiError::NotFound("device".into()));
    }
    super::audit(storage, Action::DeviceRevoke, operator, &format!("device:{id}"), "")?;
    Ok(())
}
