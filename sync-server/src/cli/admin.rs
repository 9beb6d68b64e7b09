//! `admin ...` (rank 5, `cli`): district administration (区级管理) from the shell: the
//! commands' arguments ([`AdminCmd`]) and which file runs each, by topic (`init`, `residents`,
//! `accounts`, `org`, `rules`, `backup`, `erase`). Each opens the data folder, calls the
//! service in [`crate::admin`] (or [`crate::erasure`], [`crate::server_db`]), which holds the
//! rules, and prints the answer.

mod accounts;
mod backup;
mod erase;
mod init;
mod org;
mod residents;
mod rules;

use std::path::PathBuf;

use clap::Subcommand;

use crate::config::Config;

#[derive(Subcommand)]
pub(super) enum AdminCmd {
    /// 初始化: make the district (区) and its first district admin on an empty data folder
    /// (once). The password is asked on the terminal (not shown) or read from --password-file.
    Init {
        /// Data folder of the (stopped) server; made with mode 0700 if missing.
        #[arg(long, env = "GRIDBOOK_DATA_DIR")]
        data: PathBuf,
        /// District name (区名称), e.g. 邹城市.
        #[arg(long)]
        district_name: String,
        /// District code: the 6-digit administrative division code (行政区划代码), e.g. 370883.
        #[arg(long)]
        district_code: String,
        /// Login name of the first district admin (3 to 32 letters, digits, `_`, `-`, `.`).
        #[arg(long)]
        admin_username: String,
        /// Display name (姓名) of the first district admin.
        #[arg(long, default_value = "区级管理员")]
        admin_name: String,
        /// A file whose first line is the admin's password (for scripts); without it the
        /// password is asked twice on the terminal. Never give a password as an argument.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// 居民导入: check a residents file (XLSX or UTF-8 CSV) and import it, all or nothing.
    ImportResidents {
        /// Data folder of the server (it may be running).
        #[arg(long, env = "GRIDBOOK_DATA_DIR")]
        data: PathBuf,
        /// District admin account the records are made by.
        #[arg(long, default_value = "admin")]
        operator: String,
        /// Only check the file and print the report.
        #[arg(long)]
        dry_run: bool,
        /// The residents file.
        file: PathBuf,
    },
    /// 在线备份: copy the database to a new file while the server keeps serving.
    Backup {
        /// Data folder of the server (it may be running).
        #[arg(long, env = "GRIDBOOK_DATA_DIR")]
        data: PathBuf,
        /// The backup file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// 账号列表: every account.
    Accounts {
        /// Data folder of the server (it may be running).
        #[arg(long, env = "GRIDBOOK_DATA_DIR")]
        data: PathBuf,
    },
    /// 新建账号: prints the initial password once.
    AccountCreate {
        /// Data folder of the server (it may be running).
        #[arg(long, env = "GRIDBOOK_DATA_DIR")]
        data: PathBuf,
        /// Login name.
        #[arg(long)]
        username: String,
        /// Display name (姓名).
        #[arg(long)]
        name: String,
        /// grid_worker, grid_leader, community_supervisor, sub_district_supervisor, department, district_admin.
        #[arg(long)]
        role: String,
        /// Org node id the role is bound to.
        #[arg(long)]
        org_node: String,
    },
    /// 分配角色: bind an account to a role and org node.
    AccountRole {
        /// Data folder of the server (it may be running).
        #[arg(long, env = "GRIDBOOK_DATA_DIR")]
        data: PathBuf,
        /// Login name.
        #[arg(long)]
        username: String,
        /// Role.
        #[arg(long)]
        role: String,
        /// Org node id.
        #[arg(long)]
        org_node: String,
    },
    /// 停用账号 (its tokens are revoked).
    AccountDisable {
        /// Data folder of the server (it may be running).
        #[arg(long, env = "GRIDBOOK_DATA_DIR")]
        data: PathBuf,
        /// Login name.
        #[arg(long)]
        username: String,
    },
    /// 启用账号.
    AccountEnable {
        /// Data folder of the server (it may be running).
        #[arg(long, env = "GRIDBOOK_DATA_DIR")]
        data: PathBuf,
        /// Login name.
        #[arg(long)]
        username: String,
    },
    /// 重置密码: prints the new password once; the account's tokens are revoked.
    PasswordReset {
        /// Data folder of the server (it may be running).
        #[arg(long, env = "GRIDBOOK_DATA_DIR")]
        data: PathBuf,
        /// Login name.
        #[arg(long)]
        username: String,
    },
    /// 设备列表: devices with last sync time and app version.
    Devices {
        /// Data folder of the server (it may be running).
        #[arg(long, env = "GRIDBOOK_DATA_DIR")]
        data: PathBuf,
    },
    /// 停用设备: revoke a device.
    DeviceRevoke {
        /// Data folder of the server (it may be running).
        #[arg(long, env = "GRIDBOOK_DATA_DIR")]
        data: PathBuf,
        /// Device id.
        id: String,
    },
    /// 发布检查清单模板: validate and publish a new template version (JSON).
    PublishTemplate {
        /// Data folder of the server (it may be running).
        #[arg(long, env = "GRIDBOOK_DATA_DIR")]
        data: PathBuf,
        /// The template file (the layout of core/data/template_3456_v1.json).
        file: PathBuf,
    },
    /// 发布规则版本: validate and publish a new version of the workflow definition (流程定义),
    /// the time limits (办理时限) or the holiday calendar (节假日日历).
    PublishRules {
        /// Data folder of the server (it may be running).
        #[arg(long, env = "GRIDBOOK_DATA_DIR")]
        data: PathBuf,
        /// Which rule: `workflow`, `time_limits` or `calendar`.
        #[arg(long)]
        rule: String,
        /// The version (default: the file's own `version`; for a calendar, one above the newest).
        #[arg(long)]
        version: Option<u32>,
        /// The rule file (the layout of core/data/workflow_default.json, time_limits_default.json
        /// or calendar_cn.json).
        file: PathBuf,
    },
    /// 组织架构: print the current org tree, the district first, indented by level, with ids.
    Org {
        /// Data folder of the server (it may be running).
        #[arg(long, env = "GRIDBOOK_DATA_DIR")]
        data: PathBuf,
    },
    /// 新建组织节点.
    OrgCreate {
        /// Data folder of the server (it may be running).
        #[arg(long, env = "GRIDBOOK_DATA_DIR")]
        data: PathBuf,
        /// Name.
        #[arg(long)]
        name: String,
        /// sub_district, community, grid, sub_grid, building, unit, department.
        #[arg(long)]
        level: String,
        /// Code (grid code for grids).
        #[arg(long, default_value = "")]
        code: String,
        /// Parent node id.
        #[arg(long)]
        parent: String,
        /// In force from (YYYY-MM-DD; today when absent).
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
    },
    /// 修改组织节点: rename, recode or close a node.
    OrgEdit {
        /// Data folder of the server (it may be running).
        #[arg(long, env = "GRIDBOOK_DATA_DIR")]
        data: PathBuf,
        /// Node id.
        id: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New code.
        #[arg(long)]
        code: Option<String>,
        /// Last day in force (YYYY-MM-DD).
        #[arg(long)]
        until: Option<chrono::NaiveDate>,
    },
    /// 导入组织架构: the usual spreadsheet (街道 / 街道编码 / 社区 / 社区编码 / 网格 / 网格编码 / 楼栋 / 单元 / 户).
    OrgImport {
        /// Data folder of the server (it may be running).
        #[arg(long, env = "GRIDBOOK_DATA_DIR")]
        data: PathBuf,
        /// In force from (YYYY-MM-DD; today when absent).
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// The XLSX or CSV file.
        file: PathBuf,
    },
    /// 新建数据库密钥: write a new random database key to FILE (64 hex digits, mode 0600; never
    /// overwrites). Keep it off the database's disk; set `database_key_file` to it.
    NewDbKey {
        /// The key file to create.
        file: PathBuf,
    },
    /// 擦除人员信息: destroy a person's key (crypto-shredding); every device drops its copy at
    /// its next sync. Cannot be undone. Audited like `POST /v1/admin/persons/{id}/erase`.
    ErasePerson {
        /// Data folder of the server (it may be running).
        #[arg(long, env = "GRIDBOOK_DATA_DIR")]
        data: PathBuf,
        /// The person's record id.
        #[arg(long)]
        person: String,
        /// Why (moved away, the resident's request ...): required, for the audit log.
        #[arg(long)]
        reason: String,
    },
    /// 恢复: replace the database of a stopped server with a backup.
    Restore {
        /// Data folder of the (stopped) server.
        #[arg(long, env = "GRIDBOOK_DATA_DIR")]
        data: PathBuf,
        /// The backup file.
        file: PathBuf,
    },
}

/// Run an `admin` command.
pub(super) fn run(cmd: AdminCmd) -> Result<(), String> {
    match cmd {
        AdminCmd::Init {
            data,
            district_name,
            district_code,
            admin_username,
            admin_name,
            password_file,
        } => init::run(
            data,
            district_name,
            district_code,
            admin_username,
            admin_name,
            password_file,
        ),
        AdminCmd::ImportResidents {
            data,
            operator,
            dry_run,
            file,
        } => residents::import(data, operator, dry_run, file),
        AdminCmd::Backup { data, out } => backup::backup(data, out),
        AdminCmd::Accounts { data } => accounts::accounts(data),
        AdminCmd::AccountCreate {
            data,
            username,
            name,
            role,
            org_node,
        } => accounts::account_create(data, username, name, role, org_node),
        AdminCmd::AccountRole {
            data,
            username,
            role,
            org_node,
        } => accounts::account_role(data, username, role, org_node),
        AdminCmd::AccountDisable { data, username } => accounts::account_disable(data, username),
        AdminCmd::AccountEnable { data, username } => accounts::account_enable(data, username),
        AdminCmd::PasswordReset { data, username } => accounts::password_reset(data, username),
        AdminCmd::Devices { data } => accounts::devices(data),
        AdminCmd::DeviceRevoke { data, id } => accounts::device_revoke(data, id),
        AdminCmd::PublishTemplate { data, file } => rules::publish_template(data, file),
        AdminCmd::PublishRules {
            data,
            rule,
            version,
            file,
        } => rules::publish_rules(data, rule, version, file),
        AdminCmd::Org { data } => org::org(data),
        AdminCmd::OrgCreate {
            data,
            name,
            level,
            code,
            parent,
            from,
        } => org::org_create(data, name, level, code, parent, from),
        AdminCmd::OrgEdit {
            data,
            id,
            name,
            code,
            until,
        } => org::org_edit(data, id, name, code, until),
        AdminCmd::OrgImport { data, from, file } => org::org_import(data, from, file),
        AdminCmd::NewDbKey { file } => backup::new_db_key(file),
        AdminCmd::ErasePerson { data, person, reason } => erase::erase_person(data, person, reason),
        AdminCmd::Restore { data, file } => backup::restore(data, file),
    }
}

fn parse_role(role: &str) -> Result<gridbook_core::domain::Role, String> {
    role.parse().map_err(|_| format!("未知角色 / unknown role `{role}`"))
}

fn hash_cost() -> crate::admin::accounts::HashCost {
    let mut c = Config::default();
    // GRIDBOOK_ARGON2_* as for the server (an unparsable value keeps the default).
    let _ = c.apply_env(|k| std::env::var(k).ok());
    crate::admin::accounts::HashCost {
        memory_kib: c.argon2_memory_kib,
        iterations: c.argon2_iterations,
    }
}
