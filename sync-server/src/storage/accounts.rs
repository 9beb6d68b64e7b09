//! 账号, 设备, 令牌: accounts, their devices, access and refresh tokens. A role of
//! [`crate::storage::Storage`] (rank 2, `storage`).

use uuid::Uuid;

use crate::model::accounts::{Account, Device, DeviceStatus, RefreshToken, Token};
use crate::model::org::FieldWorker;
use crate::storage::Result;

/// 账号, 设备, 令牌: accounts, their devices, access and refresh tokens.
pub trait Accounts {
    /// Add an account.
    fn create_account(&self, account: &Account) -> Result<()>;

    /// Find an account by login name.
    fn account_by_username(&self, username: &str) -> Result<Option<Account>>;

    /// Find an account by id.
    fn account(&self, id: &str) -> Result<Option<Account>>;

    /// Number of accounts.
    fn account_count(&self) -> Result<u64>;

    /// Every account, by username.
    fn accounts(&self) -> Result<Vec<Account>>;

    /// Replace an account's row (by id); false if unknown.
    fn update_account(&self, account: &Account) -> Result<bool>;

    /// Replace an account's password hash; false if unknown.
    fn set_password(&self, account_id: &str, password_hash: &str) -> Result<bool>;

    /// Register a device (no-op if it exists); returns the stored row.
    fn register_device(&self, device: &Device) -> Result<Device>;

    /// A device.
    fn device(&self, id: Uuid) -> Result<Option<Device>>;

    /// Every device with its last sync, newest first.
    fn devices(&self) -> Result<Vec<DeviceStatus>>;

    /// Revoke a device and all its tokens; false if unknown.
    fn revoke_device(&self, id: Uuid, at: i64) -> Result<bool>;

    /// Note that a device synced (cheap when nothing changed within a minute; skipped, not
    /// waited for, while the writer is busy).
    fn record_sync(&self, device: Uuid, at: i64, app_version: Option<&str>) -> Result<()>;

    /// Store a new token.
    fn insert_token(&self, token: &Token) -> Result<()>;

    /// A token by the hash of its value.
    fn token(&self, hash: &str) -> Result<Option<Token>>;

    /// Revoke a token; false if unknown.
    fn revoke_token(&self, hash: &str, at: i64) -> Result<bool>;

    /// Store a new refresh token.
    fn insert_refresh_token(&self, token: &RefreshToken) -> Result<()>;

    /// A refresh token by the hash of its value.
    fn refresh_token(&self, hash: &str) -> Result<Option<RefreshToken>>;

    /// Exchange a refresh token, in one transaction: mark `hash` used and store `access` and
    /// `refresh`, only if `hash` is still unused, unrevoked and unexpired at `at`. False (and
    /// nothing written) otherwise: a revocation that ran first wins, and one that runs later
    /// finds the new tokens (issue 24).
    fn exchange_refresh_token(&self, hash: &str, at: i64, access: &Token, refresh: &RefreshToken) -> Result<bool>;

    /// Log a device out: revoke its access and refresh tokens (the device itself stays
    /// registered and may sign in again); how many were live.
    fn revoke_device_tokens(&self, device: Uuid, at: i64) -> Result<u64>;

    /// Revoke every access and refresh token of every device of an account (phones and
    /// dashboard sessions alike); how many were live.
    fn revoke_account_tokens(&self, account_id: &str, at: i64) -> Result<u64>;

    /// The field workers' accounts (网格员 and 网格长), by id.
    fn field_workers(&self) -> Result<Vec<FieldWorker>>;
}
