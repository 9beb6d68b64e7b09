//! Accounts, devices and tokens (账号, 设备, 令牌) and the org grids grants are made of: plain
//! data as the storage keeps it (rank 0 of the server, `model`: imports nothing of the crate).

use gridbook_core::domain::Role;
use uuid::Uuid;

/// An account. Its `Debug` output leaves the password hash out (logs, panics).
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// Stable id (recorded in documents as the actor of transitions).
    pub id: String,
    /// Login name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Org node the role is bound to.
    pub org_node: String,
    /// Disabled accounts cannot log in or sync.
    pub disabled: bool,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("display_name", &self.display_name)
            .field("password_hash", &"<redacted>")
            .field("role", &self.role)
            .field("org_node", &self.org_node)
            .field("disabled", &self.disabled)
            .finish()
    }
}

/// A device registered to an account; its id is its Automerge actor id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Device id.
    pub id: Uuid,
    /// Owner.
    pub account_id: String,
    /// Name shown to admins.
    pub name: String,
    /// When registered, ms.
    pub created_at: i64,
    /// When revoked, ms.
    pub revoked_at: Option<i64>,
}

/// A device as the admin pages list it: when it last synced and with which app version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceStatus {
    /// The device.
    pub device: Device,
    /// Last sync, ms (recorded at most once a minute).
    pub last_sync_at: Option<i64>,
    /// App version the device reported (its HTTP `User-Agent`).
    pub app_version: Option<String>,
}

/// A bearer token, stored by the SHA-256 of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// SHA-256 (hex) of the token.
    pub hash: String,
    /// Device it was issued to.
    pub device_id: Uuid,
    /// Issued, ms.
    pub created_at: i64,
    /// Expires, ms.
    pub expires_at: i64,
    /// Revoked, ms.
    pub revoked_at: Option<i64>,
    /// A dashboard session (the `gb_session` cookie): refused on `/v1/*` (issue 24).
    pub web: bool,
}

/// A refresh token (issue 9): exchanged once for a new access token and a new refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// SHA-256 (hex) of the token.
    pub hash: String,
    /// Device it was issued to.
    pub device_id: Uuid,
    /// Issued, ms.
    pub created_at: i64,
    /// Expires, ms.
    pub expires_at: i64,
    /// When it was exchanged (or revoked with its device), ms.
    pub used_at: Option<i64>,
    /// When it was revoked (logout, password change or reset, account disabled), ms: refused
    /// with `token_revoked` (issue 24).
    pub revoked_at: Option<i64>,
}

/// A grid, or a sub-grid (二级网格), with the community and sub-district above it (a
/// sub-grid's are its grid's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgGrid {
    /// Grid (or sub-grid) id.
    pub id: String,
    /// Community id.
    pub community: Option<String>,
    /// Sub-district id.
    pub sub_district: Option<String>,
}
