//! 初始化 (issue 24): a district starts from nothing. `gridbook-server admin init` makes, on an
//! empty data folder, the root of the org tree (the district, 区) and the first district admin
//! account (区级管理员); everything else (sub-districts, communities, grids, accounts) is then
//! made by that admin from the CLI or the dashboard. No demo data is involved.
//!
//! A folder is initialised when it holds a district admin account (bound to the district
//! node: roles are bound to a node of their level); `serve` refuses one that is not
//! ([`check_initialised`], [`InitError::NotInitialised`]), so a server nobody can sign in to is
//! never started by mistake.
//!
//! The password is checked against the password policy before anything is written, so a
//! refused password leaves the folder as it was. A run that stopped between the district node
//! and the account (power cut) can be repeated with the same district code: the node is reused.

use std::path::{Path, PathBuf};

use gridbook_core::domain::{OrgLevel, OrgNode, Role};

use super::accounts::HashCost;
use super::residents::{admin_store, commit_outbox};
use crate::audit::Action;
use crate::error::ApiError;
use crate::storage::{Account, Storage};

/// What `admin init` makes.
#[derive(Debug, Clone)]
pub struct InitRequest {
    /// District name (区名称), e.g. 邹城市.
    pub district_name: String,
    /// District code: the 6-digit administrative division code (行政区划代码), checked by the
    /// grid code scheme like every node's code.
    pub district_code: String,
    /// Login name of the first district admin.
    pub admin_username: String,
    /// Display name (姓名) of the first district admin.
    pub admin_display_name: String,
}

/// What `admin init` made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitOutcome {
    /// The district's org node id.
    pub district_id: String,
    /// The first district admin's login name.
    pub admin: String,
}

/// What a data folder holds of an initialisation (`admin init` refuses any account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitStatus {
    /// The current district node: (id, code).
    pub district: Option<(String, String)>,
    /// Accounts in the database.
    pub accounts: u64,
}

/// Why `admin init` did not run, or why `serve` refused to start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// `admin init` runs once, on an empty data folder.
    #[error(
        "{} is already initialised ({accounts} accounts, district {}); `admin init` runs once, on an empty data folder",
        .data.display(), .district.as_deref().unwrap_or("-")
    )]
    AlreadyInitialised {
        /// The data folder.
        data: PathBuf,
        /// Accounts found.
        accounts: u64,
        /// The district code found.
        district: Option<String>,
    },
    /// The data folder holds no district or no account: `serve` refuses it.
    #[error(
        "{} has not been initialised (no district, no district admin): run `gridbook-server admin init --data {}` first (docs/deploy.md)",
        .0.display(), .0.display()
    )]
    NotInitialised(PathBuf),
    /// A check or the storage failed.
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<crate::storage::StorageError> for InitError {
    fn from(e: crate::storage::StorageError) -> Self {
        InitError::Api(e.into())
    }
}

impl From<gridbook_core::Error> for InitError {
    fn from(e: gridbook_core::Error) -> Self {
        InitError::Api(ApiError::Core(e))
    }
}

impl InitError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            InitError::AlreadyInitialised { .. } => "already_initialised",
            InitError::NotInitialised(_) => "not_initialised",
            InitError::Api(e) => e.code(),
        }
    }

    /// Message in zh-CN.
    pub fn message_zh(&self) -> String {
        match self {
            InitError::AlreadyInitialised { data, accounts, .. } => format!(
                "{} 已初始化（已有 {accounts} 个账号）；admin init 只能在空的数据目录上运行一次",
                data.display()
            ),
            InitError::NotInitialised(data) => format!(
                "数据目录 {} 尚未初始化（没有区级节点和区级管理员）：请先运行 gridbook-server admin init --data {}（见 docs/deploy.md）",
                data.display(),
                data.display()
            ),
            InitError::Api(e) => e.message_zh(),
        }
    }
}

/// The current district node (id, code) of the server's org tree, if any.
pub fn district(storage: &dyn Storage) -> Result<Option<(String, String)>, ApiError> {
    Ok(storage.district()?)
}

/// The district node and account count of the database of `storage`.
pub fn status(storage: &dyn Storage) -> Result<InitStatus, ApiError> {
    Ok(InitStatus {
        district: district(storage)?,
        accounts: storage.account_count()?,
    })
}

/// `serve`'s check: [`InitError::NotInitialised`] naming `data` unless a district admin
/// account exists (enabled or not). Reads the accounts only (no document is loaded).
pub fn check_initialised(storage: &dyn Storage, data: &Path) -> Result<(), InitError> {
    if storage.accounts()?.iter().any(|a| a.role == Role::DistrictAdmin) {
        Ok(())
    } else {
        Err(InitError::NotInitialised(data.to_path_buf()))
    }
}

/// Make the district node and the first district admin with `password` (checked against the
/// password policy first; nothing is written when it is refused). `data` names the folder in
/// errors; `operator` is the audit log's actor (`cli`).
pub fn init(
    storage: &dyn Storage,
    data: &Path,
    req: &InitRequest,
    password: &str,
    cost: HashCost,
    operator: &str,
) -> Result<InitOutcome, InitError> {
    // Every check before the first write.
    let username = req.admin_username.trim();
    super::accounts::check_username(username)?;
    let display_name = req.admin_display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > 100 {
        return Err(ApiError::Core(gridbook_core::Error::Invalid {
            code: "invalid_display_name",
            field: "admin_name".into(),
            reason: "1 to 100 characters".into(),
        })
        .into());
    }
    crate::auth::check_password(username, password).map_err(ApiError::WeakPassword)?;
    let node = OrgNode {
        name: req.district_name.trim().to_string(),
        level: OrgLevel::District,
        code: req.district_code.trim().to_string(),
        parent: None,
        effective_from: super::residents::today(),
        effective_to: None,
    };
    let now = status(storage)?;
    let refuse = || InitError::AlreadyInitialised {
        data: data.to_path_buf(),
        accounts: now.accounts,
        district: now.district.as_ref().map(|(_, code)| code.clone()),
    };
    if now.accounts > 0 {
        return Err(refuse());
    }
    let mut store = admin_store(storage, operator)?;
    let district_id = match &now.district {
        // An earlier run stopped after the node: reuse it if it is the same district.
        Some((id, code)) if *code == node.code => id.clone(),
        Some(_) => return Err(refuse()),
        None => {
            // Validates the name and the code (grid code scheme) before anything is stored.
            let id = store.create(&node)?;
            commit_outbox(storage, &store)?;
            super::audit(
                storage,
                Action::OrgChange,
                operator,
                &format!("org_node:{id}"),
                "create level=District (init)",
            )?;
            id
        }
    };
    crate::auth::create_account(
        storage,
        operator,
        Account {
            id: username.to_string(),
            username: username.to_string(),
            display_name: display_name.to_string(),
            password_hash: String::new(),
            role: Role::DistrictAdmin,
            org_node: district_id.clone(),
            disabled: false,
        },
        password,
        cost.memory_kib,
        cost.iterations,
    )?;
    super::audit(
        storage,
        Action::Init,
        operator,
        &format!("org_node:{district_id}"),
        &format!("district_code={} admin={username}", node.code),
    )?;
    Ok(InitOutcome {
        district_id,
        admin: username.to_string(),
    })
}
