//! `admin ...` (rank 5, `cli`): district administration (区级管理) from the shell. Each command
//! opens the data folder and calls the service in [`crate::admin`] (or [`crate::erasure`],
//! [`crate::server_db`]), which holds the rules; here are the arguments and the printing.

mod init;

use std::path::PathBuf;

use clap::Subcommand;

use super::{api_err, open_storage, server_db};
use crate::admin::{accounts, backup, org, residents, rules};
use crate::config::Config;
use crate::storage::Storage;

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
    let backup_err = |e: backup::BackupError| format!("{} [{}]: {e}", e.message_zh(), e.code());
    match cmd {
        AdminCmd::Init {
            data,
            district_name,
            district_code,
            admin_username,
            admin_name,
            password_file,
        } => {
            let req = crate::admin::init::InitRequest {
                district_name,
                district_code,
                admin_username,
                admin_display_name: admin_name,
            };
            // The password first: nothing is made when it cannot be had.
            let password = init::read_password(password_file.as_deref())?;
            let outcome = init::init(&data, &req, &password)?;
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
        AdminCmd::ImportResidents {
            data,
            operator,
            dry_run,
            file,
        } => {
            let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let storage = open_storage(&data)?;
            residents::check_operator(&storage, &operator).map_err(|e| e.to_string())?;
            let today = residents::today();
            let result = if dry_run {
                residents::validate(&storage, &bytes, today).map(|h| {
                    let persons: usize = h.iter().map(|h| h.persons.len()).sum();
                    println!(
                        "校验通过 / the file is clean: {} 户 households, {persons} 人 persons",
                        h.len()
                    );
                })
            } else {
                residents::import(&storage, &bytes, &operator, today).map(|o| {
                    println!(
                        "导入完成 / imported: {} 行 rows, {} 户 households, {} 人 persons",
                        o.rows, o.households, o.persons
                    );
                })
            };
            result.map_err(|e| {
                if let residents::ImportError::Rejected(report) = &e {
                    print!("{}", report.to_text());
                }
                format!("{} [{}]", e.message_zh(), e.code())
            })
        }
        AdminCmd::Backup { data, out } => {
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
        AdminCmd::Accounts { data } => {
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
        AdminCmd::AccountCreate {
            data,
            username,
            name,
            role,
            org_node,
        } => {
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
        AdminCmd::AccountRole {
            data,
            username,
            role,
            org_node,
        } => {
            let storage = open_storage(&data)?;
            let a =
                accounts::assign_role(&storage, &username, parse_role(&role)?, &org_node, "cli").map_err(api_err)?;
            println!(
                "已分配 / assigned: {} → {} @ {}",
                a.username,
                a.role.as_str(),
                a.org_node
            );
            Ok(())
        }
        AdminCmd::AccountDisable { data, username } => {
            accounts::set_disabled(&open_storage(&data)?, &username, true, "cli").map_err(api_err)?;
            println!("已停用 / disabled: {username}");
            Ok(())
        }
        AdminCmd::AccountEnable { data, username } => {
            accounts::set_disabled(&open_storage(&data)?, &username, false, "cli").map_err(api_err)?;
            println!("已启用 / enabled: {username}");
            Ok(())
        }
        AdminCmd::PasswordReset { data, username } => {
            let storage = open_storage(&data)?;
            let password = accounts::reset_password(&storage, &username, hash_cost(), "cli").map_err(api_err)?;
            println!("新密码 / new password for {username}: {password}");
            Ok(())
        }
        AdminCmd::Devices { data } => {
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
        AdminCmd::DeviceRevoke { data, id } => {
            let storage = open_storage(&data)?;
            accounts::revoke_device(&storage, &id, "cli").map_err(api_err)?;
            println!("设备已停用 / device revoked: {id}");
            Ok(())
        }
        AdminCmd::PublishTemplate { data, file } => {
            let json = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let storage = open_storage(&data)?;
            let p = rules::publish_template(&storage, &json, "cli").map_err(api_err)?;
            println!(
                "模板已发布 / template published: {} v{} ({})",
                p.template_id, p.version, p.doc_id
            );
            Ok(())
        }
        AdminCmd::PublishRules {
            data,
            rule,
            version,
            file,
        } => {
            let kind: gridbook_core::rules::RuleKind = rule
                .replace('-', "_")
                .parse()
                .map_err(|e: gridbook_core::Error| format!("{} [{}]: {e}", e.message_zh(), e.code()))?;
            let json = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let storage = open_storage(&data)?;
            let p = rules::publish_rule_set(&storage, kind, &json, version, "cli").map_err(api_err)?;
            println!("规则已发布 / rules published: {} v{} ({})", p.rule, p.version, p.doc_id);
            Ok(())
        }
        AdminCmd::Org { data } => {
            let lines = org::tree(&open_storage(&data)?).map_err(api_err)?;
            if lines.is_empty() {
                println!("组织架构为空：请先运行 admin init / the org tree is empty: run `admin init` first");
            }
            for l in lines {
                let label = format!("{}{}", "  ".repeat(l.depth), l.name);
                println!(
                    "{label}  [{} {}{}{}]  {}",
                    org::level_zh(&l.level),
                    l.level,
                    if l.code.is_empty() { "" } else { " " },
                    l.code,
                    l.id
                );
            }
            Ok(())
        }
        AdminCmd::OrgCreate {
            data,
            name,
            level,
            code,
            parent,
            from,
        } => {
            let level: gridbook_core::domain::OrgLevel =
                serde_json::from_value(serde_json::Value::String(level.clone()))
                    .map_err(|_| format!("未知层级 / unknown level `{level}`"))?;
            let node = gridbook_core::domain::OrgNode {
                name,
                level,
                code,
                parent: Some(parent),
                effective_from: from.unwrap_or_else(residents::today),
                effective_to: None,
            };
            let id = org::create_node(&open_storage(&data)?, &node, "cli").map_err(api_err)?;
            println!("节点已创建 / node created: {id}");
            Ok(())
        }
        AdminCmd::OrgEdit {
            data,
            id,
            name,
            code,
            until,
        } => {
            let edit = org::NodeEdit {
                name,
                code,
                effective_to: until,
            };
            let n = org::edit_node(&open_storage(&data)?, &id, &edit, "cli").map_err(api_err)?;
            println!("节点已修改 / node edited: {id} {} {}", n.name, n.code);
            Ok(())
        }
        AdminCmd::OrgImport { data, from, file } => {
            let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let storage = open_storage(&data)?;
            let o = org::import_org(&storage, &bytes, "cli", from.unwrap_or_else(residents::today)).map_err(|e| {
                if let residents::ImportError::Rejected(report) = &e {
                    print!("{}", report.to_text());
                }
                format!("{} [{}]: {e}", e.message_zh(), e.code())
            })?;
            println!(
                "导入完成 / imported: {} 个节点 nodes, {} 户 households",
                o.nodes, o.households
            );
            Ok(())
        }
        AdminCmd::NewDbKey { file } => {
            crate::server_db::new_key_file(&file).map_err(|e| api_err(e.into()))?;
            println!(
                "数据库密钥已写入 / database key written: {} (请保存在数据库磁盘之外 / keep it off the database's disk)",
                file.display()
            );
            Ok(())
        }
        AdminCmd::ErasePerson { data, person, reason } => {
            let storage = open_storage(&data)?;
            let seq = crate::erasure::erase(&storage, &person, &reason, "cli", None, crate::erasure::Via::Cli)
                .map_err(api_err)?;
            println!(
                "已擦除 / erased: {person} (erasure seq {seq}); 设备在下次同步时删除其密钥 / devices drop the key at their next sync"
            );
            Ok(())
        }
        AdminCmd::Restore { data, file } => {
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
