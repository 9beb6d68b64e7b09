//! `gridbook-server`: `demo` (embedded database seeded with a demo district), `serve
//! --config FILE` (production; `GRIDBOOK_*` environment variables override the file; HTTPS
//! when `tls_cert`/`tls_key` are set; refuses a data folder that `admin init` never
//! initialised) and `audit verify --data DIR` or `--backup FILE` (checks the audit log's hash
//! chain; exit status 1 names the first broken entry). `admin ...`: district administration
//! from the shell (first district and admin, accounts, org tree, imports, backups, erasure).
//! The deployment guide is docs/deploy.md.
//!
//! Logs go to stderr at `info` for `serve` and `demo`, at `warn` for the one-shot commands
//! (`admin`, `audit`), unless `GRIDBOOK_LOG` says otherwise.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gridbook_core::demo::DemoOptions;
use gridbook_sync_server::server_db::ServerDb;
use gridbook_sync_server::storage::sqlite::SqliteStorage;
use gridbook_sync_server::{AppState, Config, audit, demo, serve, serve_tls, tls_config};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "gridbook-server", version, about = "gridbook district sync server")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start on an embedded database seeded with a demo district; prints the accounts.
    Demo {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8787")]
        listen: SocketAddr,
        /// Data folder.
        #[arg(long, default_value = "gridbook-demo-data")]
        data: PathBuf,
        /// Households per grid.
        #[arg(long, default_value_t = 12)]
        households: usize,
        /// Days of history per grid, up to today (cases and ledgers worked through the closed
        /// loop by the accounts whose work it is).
        #[arg(long, default_value_t = 92)]
        days: u32,
    },
    /// Start with a configuration file (the data folder must have been set up by `admin init`).
    Serve {
        /// TOML configuration.
        #[arg(long)]
        config: PathBuf,
    },
    /// District administration (区级管理): init, accounts, org tree, residents import, backups, restore.
    Admin {
        /// Key file of an encrypted database (数据库密钥, ADR 0009).
        #[arg(long, global = true, env = "GRIDBOOK_DATABASE_KEY_FILE")]
        db_key_file: Option<PathBuf>,
        #[command(subcommand)]
        cmd: AdminCmd,
    },
    /// The audit log (审计日志).
    Audit {
        /// Key file of an encrypted database (数据库密钥, ADR 0009).
        #[arg(long, global = true, env = "GRIDBOOK_DATABASE_KEY_FILE")]
        db_key_file: Option<PathBuf>,
        #[command(subcommand)]
        cmd: AuditCmd,
    },
}

#[derive(Subcommand)]
enum AdminCmd {
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

/// `--db-key-file` of the admin and audit commands (ADR 0009), set once before they run.
static DB_KEY_FILE: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();

/// The database of a data folder, with the key of `--db-key-file` if given.
fn server_db(data: &std::path::Path) -> Result<ServerDb, String> {
    Config {
        data_dir: data.to_path_buf(),
        database_key_file: DB_KEY_FILE.get().cloned().flatten(),
        ..Config::default()
    }
    .server_db()
    .map_err(|e| api_err(e.into()))
}

fn open_storage(data: &std::path::Path) -> Result<SqliteStorage, String> {
    let db = server_db(data)?;
    if !db.path().exists() {
        return Err(format!(
            "{} 下没有 gridbook 数据库：新的数据目录请先运行 gridbook-server admin init [no_database]: {}: no gridbook database here; a new data folder is set up with `gridbook-server admin init`",
            data.display(),
            data.display()
        ));
    }
    SqliteStorage::open_db(&db, 2).map_err(|e| api_err(db.explain(e)))
}

fn parse_role(role: &str) -> Result<gridbook_core::domain::Role, String> {
    role.parse().map_err(|_| format!("未知角色 / unknown role `{role}`"))
}

fn hash_cost() -> gridbook_sync_server::admin::accounts::HashCost {
    let mut c = Config::default();
    // GRIDBOOK_ARGON2_* as for the server (an unparsable value keeps the default).
    let _ = c.apply_env(|k| std::env::var(k).ok());
    gridbook_sync_server::admin::accounts::HashCost {
        memory_kib: c.argon2_memory_kib,
        iterations: c.argon2_iterations,
    }
}

fn api_err(e: gridbook_sync_server::error::ApiError) -> String {
    format!("{} [{}]: {e}", e.message_zh(), e.code())
}

/// The first admin's password: the first line of `file`, or asked twice on the terminal.
fn read_password(file: Option<&std::path::Path>) -> Result<zeroize::Zeroizing<String>, String> {
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
fn init(
    data: &std::path::Path,
    req: &gridbook_sync_server::admin::init::InitRequest,
    password: &str,
) -> Result<gridbook_sync_server::admin::init::InitOutcome, String> {
    use gridbook_sync_server::admin::{backup, init};
    let db = server_db(data)?;
    let _lock = backup::DataLock::acquire(data).map_err(|e| format!("{} [{}]: {e}", e.message_zh(), e.code()))?;
    let storage = SqliteStorage::open_db(&db, 1).map_err(|e| api_err(db.explain(e)))?;
    init::init(&storage, data, req, password, hash_cost(), "cli")
        .map_err(|e| format!("{} [{}]: {e}", e.message_zh(), e.code()))
}

fn admin(cmd: AdminCmd) -> Result<(), String> {
    use gridbook_sync_server::admin::{accounts, backup, org, residents, rules};
    use gridbook_sync_server::storage::Accounts;

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
            let req = gridbook_sync_server::admin::init::InitRequest {
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
        AdminCmd::ImportResidents {
            data,
            operator,
            dry_run,
            file,
        } => {
            let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let storage = open_storage(&data)?;
            let account = storage.account(&operator).map_err(|e| e.to_string())?;
            if account.is_none_or(|a| a.role != gridbook_core::domain::Role::DistrictAdmin || a.disabled) {
                return Err(format!(
                    "{operator} 不是可用的区级管理员账号 / is not an enabled district admin account"
                ));
            }
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
            gridbook_sync_server::server_db::new_key_file(&file).map_err(|e| api_err(e.into()))?;
            println!(
                "数据库密钥已写入 / database key written: {} (请保存在数据库磁盘之外 / keep it off the database's disk)",
                file.display()
            );
            Ok(())
        }
        AdminCmd::ErasePerson { data, person, reason } => {
            let storage = open_storage(&data)?;
            let seq = gridbook_sync_server::erasure::erase(
                &storage,
                &person,
                &reason,
                "cli",
                None,
                gridbook_sync_server::erasure::Via::Cli,
            )
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

#[derive(Subcommand)]
enum AuditCmd {
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
fn audit_verify(data: Option<&std::path::Path>, backup_file: Option<&std::path::Path>) -> Result<bool, String> {
    use gridbook_sync_server::admin::backup;
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

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

async fn run(cli: Cli) -> Result<(), String> {
    let (config, seed) = match cli.cmd {
        Cmd::Admin { db_key_file, cmd } => {
            let _ = DB_KEY_FILE.set(db_key_file);
            return admin(cmd);
        }
        Cmd::Demo {
            listen,
            data,
            households,
            days,
        } => {
            let mut c = Config {
                listen,
                data_dir: data,
                ..Config::default()
            };
            c.apply_env(|k| std::env::var(k).ok()).map_err(|e| e.to_string())?;
            (
                c,
                Some(DemoOptions {
                    households,
                    days,
                    // Relative to the day it starts (its last finished working day): the demo
                    // never ages, and shows nothing in the future.
                    ..demo::lived_in_options(demo::demo_day(chrono::Utc::now()))
                }),
            )
        }
        Cmd::Serve { config } => (Config::load(&config).map_err(|e| e.to_string())?, None),
        Cmd::Audit { .. } => unreachable!("handled in main"),
    };
    let not_initialised = |data: &std::path::Path| {
        let e = gridbook_sync_server::admin::init::InitError::NotInitialised(data.to_path_buf());
        format!("{} [{}]: {e}", e.message_zh(), e.code())
    };
    // `serve` never makes a database: a missing one means a folder `admin init` has not set up
    // (or a wrong `data_dir`), reported before anything is written.
    if seed.is_none() && !config.db_path().is_file() {
        return Err(not_initialised(&config.data_dir));
    }
    // Held while serving: `admin restore` refuses to run under a live server.
    let _lock = gridbook_sync_server::admin::backup::DataLock::acquire(&config.data_dir)
        .map_err(|e| format!("{} [{}]: {e}", e.message_zh(), e.code()))?;
    let state = AppState::open(config.clone()).map_err(api_err)?;
    if seed.is_none() {
        let storage = state.storage.clone();
        let data = config.data_dir.clone();
        tokio::task::spawn_blocking(move || {
            gridbook_sync_server::admin::init::check_initialised(storage.as_ref(), &data)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("{} [{}]: {e}", e.message_zh(), e.code()))?;
    }
    if let Some(opts) = seed {
        let storage = state.storage.clone();
        let (m, t) = (config.argon2_memory_kib, config.argon2_iterations);
        println!("preparing the demo district (the first start seeds three months of work; this takes a while)…");
        let _ = std::io::stdout().flush();
        let plan = tokio::task::spawn_blocking(move || demo::seed_lived_in(storage.as_ref(), opts, m, t))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        print!("{}", demo::account_table(&plan));
    }
    // Read the certificate before binding: a bad file is reported before anything listens.
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls_config(cert, key).await.map_err(|e| e.to_string())?),
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("{}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("gridbook-server listening on {scheme}://{addr}");
    let _ = std::io::stdout().flush();
    tracing::info!(%addr, data = %config.data_dir.display(), tls = tls.is_some(), "serving");
    match tls {
        Some(tls) => {
            let std_listener = listener.into_std().map_err(|e| e.to_string())?;
            serve_tls(std_listener, state, tls, shutdown_signal()).await
        }
        None => serve(listener, state, shutdown_signal()).await,
    }
    .map_err(|e| e.to_string())
}

/// glibc malloc gives each thread that allocates concurrently an arena of its own (up to 8 per
/// core) and keeps freed memory in each. Measured in the sync bench (10,000 records, shared
/// machine; docs/benchmarks.md): with the server saving compressed documents the peak was
/// 143 MiB with glibc's default arenas, 109 MiB with 2, 74 MiB with 1 (mimalloc: 106 MiB);
/// saving uncompressed it is 67-74 MiB with the default, 47-55 MiB with 2 and 32-51 MiB with 1,
/// for the same server CPU. One arena per core keeps the validating threads (one per core) off
/// each other's locks. glibc reads `MALLOC_ARENA_MAX` only at start-up, so the server
/// re-executes itself once with it set, unless the operator set it. Linux/glibc only.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let arenas = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if let Ok(me) = std::env::current_exe() {
        // `exec` returns only on failure; then run on with the default arenas.
        let e = std::process::Command::new(me)
            .args(std::env::args_os().skip(1))
            .env("MALLOC_ARENA_MAX", arenas.to_string())
            .exec();
        eprintln!("gridbook-server: could not re-execute with MALLOC_ARENA_MAX set: {e}");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    // The server logs what it does; a one-shot command prints its result and logs only what
    // went wrong (no migration lines around an account list).
    let default_level = match cli.cmd {
        Cmd::Serve { .. } | Cmd::Demo { .. } => "info",
        Cmd::Admin { .. } | Cmd::Audit { .. } => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("GRIDBOOK_LOG").unwrap_or_else(|_| EnvFilter::new(default_level)))
        .with_writer(std::io::stderr)
        .init();
    if let Cmd::Audit {
        db_key_file,
        cmd: AuditCmd::Verify { data, backup },
    } = &cli.cmd
    {
        let _ = DB_KEY_FILE.set(db_key_file.clone());
        return match audit_verify(data.as_deref(), backup.as_deref()) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(e) => {
                eprintln!("gridbook-server: {e}");
                ExitCode::from(2)
            }
        };
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        // Few blocking threads: fewer malloc arenas holding freed memory (peak RSS).
        .max_blocking_threads(8)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gridbook-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gridbook-server: {e}");
            ExitCode::FAILURE
        }
    }
}
