//! [`Accounts`] on SQLite (rank 2, `storage`).

use gridbook_core::domain::Role;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::SqliteStorage;
use crate::model::accounts::{Account, Device, DeviceStatus, RefreshToken, Token};
use crate::model::org::FieldWorker;
use crate::storage::{Accounts, Result};

fn account_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    let role: String = r.get(4)?;
    Ok(Account {
        id: r.get(0)?,
        username: r.get(1)?,
        display_name: r.get(2)?,
        password_hash: r.get(3)?,
        role: role.parse().unwrap_or(Role::GridLeader),
        org_node: r.get(5)?,
        disabled: r.get(6)?,
    })
}

fn device_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Device> {
    let id: String = r.get(0)?;
    Ok(Device {
        id: Uuid::parse_str(&id).unwrap_or_default(),
        account_id: r.get(1)?,
        name: r.get(2)?,
        created_at: r.get(3)?,
        revoked_at: r.get(4)?,
    })
}

fn insert_refresh(c: &Connection, t: &RefreshToken) -> Result<()> {
    c.execute(
        "INSERT INTO refresh_tokens (hash, device_id, created_at, expires_at, used_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![t.hash, t.device_id.to_string(), t.created_at, t.expires_at, t.used_at, t.revoked_at],
    )?;
    Ok(())
}

impl Accounts for SqliteStorage {
    fn create_account(&self, a: &Account) -> Result<()> {
        self.write(|c| {
            c.execute(
                "INSERT INTO accounts (id, username, display_name, password_hash, role, org_node, disabled) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![a.id, a.username, a.display_name, a.password_hash, a.role.as_str(), a.org_node, a.disabled],
            )?;
            Ok(())
        })
    }

    fn account_by_username(&self, username: &str) -> Result<Option<Account>> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT id, username, display_name, password_hash, role, org_node, disabled FROM accounts WHERE username = ?1")?
                .query_row([username], account_row)
                .optional()?)
        })
    }

    fn account(&self, id: &str) -> Result<Option<Account>> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT id, username, display_name, password_hash, role, org_node, disabled FROM accounts WHERE id = ?1")?
                .query_row([id], account_row)
                .optional()?)
        })
    }

    fn account_count(&self) -> Result<u64> {
        self.read(|c| Ok(c.query_row("SELECT count(*) FROM accounts", [], |r| r.get::<_, i64>(0))? as u64))
    }

    fn accounts(&self) -> Result<Vec<Account>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, username, display_name, password_hash, role, org_node, disabled FROM accounts ORDER BY username",
            )?;
            let rows = stmt.query_map([], account_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn update_account(&self, a: &Account) -> Result<bool> {
        self.write(|c| {
            Ok(c.execute(
                "UPDATE accounts SET username = ?2, display_name = ?3, password_hash = ?4, role = ?5, org_node = ?6, disabled = ?7 WHERE id = ?1",
                params![a.id, a.username, a.display_name, a.password_hash, a.role.as_str(), a.org_node, a.disabled],
            )? > 0)
        })
    }

    fn set_password(&self, account_id: &str, password_hash: &str) -> Result<bool> {
        self.write(|c| {
            Ok(c.execute(
                "UPDATE accounts SET password_hash = ?2 WHERE id = ?1",
                params![account_id, password_hash],
            )? > 0)
        })
    }

    fn register_device(&self, d: &Device) -> Result<Device> {
        self.write(|c| {
            c.execute(
                "INSERT OR IGNORE INTO devices (id, account_id, name, created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![d.id.to_string(), d.account_id, d.name, d.created_at, d.revoked_at],
            )?;
            Ok(c.prepare_cached("SELECT id, account_id, name, created_at, revoked_at FROM devices WHERE id = ?1")?
                .query_row([d.id.to_string()], device_row)?)
        })
    }

    fn device(&self, id: Uuid) -> Result<Option<Device>> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT id, account_id, name, created_at, revoked_at FROM devices WHERE id = ?1")?
                    .query_row([id.to_string()], device_row)
                    .optional()?,
            )
        })
    }

    fn devices(&self) -> Result<Vec<DeviceStatus>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, account_id, name, created_at, revoked_at, last_sync_at, app_version FROM devices
                 ORDER BY coalesce(last_sync_at, created_at) DESC, id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(DeviceStatus {
                    device: device_row(r)?,
                    last_sync_at: r.get(5)?,
                    app_version: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn revoke_device(&self, id: Uuid, at: i64) -> Result<bool> {
        self.write(|c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE devices SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
                params![id.to_string(), at],
            )?;
            tx.execute(
                "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?2) WHERE device_id = ?1",
                params![id.to_string(), at],
            )?;
            tx.execute(
                "UPDATE refresh_tokens SET used_at = coalesce(used_at, ?2) WHERE device_id = ?1",
                params![id.to_string(), at],
            )?;
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn record_sync(&self, device: Uuid, at: i64, app_version: Option<&str>) -> Result<()> {
        // Never wait behind a push's commit for this: when the writer is busy, a later sync
        // records it.
        let c = match self.writer.try_lock() {
            Ok(c) => c,
            Err(std::sync::TryLockError::WouldBlock) => return Ok(()),
            Err(std::sync::TryLockError::Poisoned(_)) => return Err(super::poisoned()),
        };
        c.prepare_cached(
            "UPDATE devices SET last_sync_at = ?2, app_version = coalesce(?3, app_version)
             WHERE id = ?1 AND (last_sync_at IS NULL OR last_sync_at <= ?2 - 60000 OR app_version IS NOT coalesce(?3, app_version))",
        )?
        .execute(params![device.to_string(), at, app_version])?;
        Ok(())
    }

    fn insert_token(&self, t: &Token) -> Result<()> {
        self.write(|c| {
            c.execute(
                "INSERT INTO tokens (hash, device_id, created_at, expires_at, revoked_at, web) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    t.hash,
                    t.device_id.to_string(),
                    t.created_at,
                    t.expires_at,
                    t.revoked_at,
                    t.web
                ],
            )?;
            Ok(())
        })
    }

    fn token(&self, hash: &str) -> Result<Option<Token>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT hash, device_id, created_at, expires_at, revoked_at, web FROM tokens WHERE hash = ?1",
            )?
            .query_row([hash], |r| {
                let d: String = r.get(1)?;
                Ok(Token {
                    hash: r.get(0)?,
                    device_id: Uuid::parse_str(&d).unwrap_or_default(),
                    created_at: r.get(2)?,
                    expires_at: r.get(3)?,
                    revoked_at: r.get(4)?,
                    web: r.get(5)?,
                })
            })
            .optional()?)
        })
    }

    fn revoke_token(&self, hash: &str, at: i64) -> Result<bool> {
        self.write(|c| {
            Ok(c.execute(
                "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?2) WHERE hash = ?1",
                params![hash, at],
            )? > 0)
        })
    }

    fn insert_refresh_token(&self, t: &RefreshToken) -> Result<()> {
        self.write(|c| insert_refresh(c, t))
    }

    fn refresh_token(&self, hash: &str) -> Result<Option<RefreshToken>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT hash, device_id, created_at, expires_at, used_at, revoked_at FROM refresh_tokens WHERE hash = ?1",
            )?
            .query_row([hash], |r| {
                let d: String = r.get(1)?;
                Ok(RefreshToken {
                    hash: r.get(0)?,
                    device_id: Uuid::parse_str(&d).unwrap_or_default(),
                    created_at: r.get(2)?,
                    expires_at: r.get(3)?,
                    used_at: r.get(4)?,
                    revoked_at: r.get(5)?,
                })
            })
            .optional()?)
        })
    }

    fn exchange_refresh_token(&self, hash: &str, at: i64, access: &Token, refresh: &RefreshToken) -> Result<bool> {
        self.write(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "UPDATE refresh_tokens SET used_at = ?2
                 WHERE hash = ?1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?2",
                params![hash, at],
            )?;
            if n == 0 {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO tokens (hash, device_id, created_at, expires_at, revoked_at, web) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    access.hash,
                    access.device_id.to_string(),
                    access.created_at,
                    access.expires_at,
                    access.revoked_at,
                    access.web
                ],
            )?;
            insert_refresh(&tx, refresh)?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn revoke_device_tokens(&self, device: Uuid, at: i64) -> Result<u64> {
        self.write(|c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE tokens SET revoked_at = ?2 WHERE device_id = ?1 AND revoked_at IS NULL",
                params![device.to_string(), at],
            )? + tx.execute(
                "UPDATE refresh_tokens SET revoked_at = ?2 WHERE device_id = ?1 AND revoked_at IS NULL AND used_at IS NULL",
                params![device.to_string(), at],
            )?;
            tx.commit()?;
            Ok(n as u64)
        })
    }

    fn revoke_account_tokens(&self, account_id: &str, at: i64) -> Result<u64> {
        self.write(|c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE tokens SET revoked_at = ?2 WHERE revoked_at IS NULL
                 AND device_id IN (SELECT id FROM devices WHERE account_id = ?1)",
                params![account_id, at],
            )? + tx.execute(
                "UPDATE refresh_tokens SET revoked_at = ?2 WHERE revoked_at IS NULL AND used_at IS NULL
                 AND device_id IN (SELECT id FROM devices WHERE account_id = ?1)",
                params![account_id, at],
            )?;
            tx.commit()?;
            Ok(n as u64)
        })
    }

    fn field_workers(&self) -> Result<Vec<FieldWorker>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, display_name, org_node FROM accounts WHERE role IN ('grid_worker', 'grid_leader') ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(FieldWorker {
                    id: r.get(0)?,
                    display_name: r.get(1)?,
                    org_node: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}
