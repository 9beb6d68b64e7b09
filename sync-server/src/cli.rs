//! 命令行 (rank 5, `cli`): the commands of `gridbook-server` (clap types and what each does).
//! `demo` (embedded database seeded with a demo district), `serve --config FILE` (production;
//! `GRIDBOOK_*` environment variables override the file; HTTPS when `tls_cert`/`tls_key` are
//! set; refuses a data folder that `admin init` never initialised) and `audit verify --data
//! DIR` or `--backup FILE` (checks the audit log's hash chain; exit status 1 names the first
//! broken entry). `admin ...`: district administration from the shell (first district and
//! admin, accounts, org tree, imports, backups, erasure). The deployment guide is
//! docs/deploy.md.
//!
//! The commands parse arguments, open the data folder, call the services ([`crate::admin`],
//! [`crate::audit`], [`crate::erasure`], [`crate::demo`]) and print; the rules (who may do
//! what) are the services'. Exit status: 0 done; `audit verify` 1 for a broken log, 2 when it
//! could not check; any other error 1, printed on stderr as `gridbook-server: 中文 [code]:
//! English`. The binary (`main.rs`) parses [`Cli`], installs the log subscriber at
//! [`Cli::default_log_level`] and calls [`run`].

mod admin;
mod audit;
mod serve;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gridbook_core::demo::DemoOptions;

use crate::config::Config;
use crate::demo;
use crate::error::ApiError;
use crate::server_db::ServerDb;
use crate::storage::sqlite::SqliteStorage;

#[derive(Parser)]
#[command(name = "gridbook-server", version, about = "gridbook district sync server")]
pub struct Cli {
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
        cmd: admin::AdminCmd,
    },
    /// The audit log (审计日志).
    Audit {
        /// Key file of an encrypted database (数据库密钥, ADR 0009).
        #[arg(long, global = true, env = "GRIDBOOK_DATABASE_KEY_FILE")]
        db_key_file: Option<PathBuf>,
        #[command(subcommand)]
        cmd: audit::AuditCmd,
    },
}

impl Cli {
    /// The log level unless `GRIDBOOK_LOG` says otherwise: the server logs what it does; a
    /// one-shot command prints its result and logs only what went wrong (no migration lines
    /// around an account list).
    pub fn default_log_level(&self) -> &'static str {
        match self.cmd {
            Cmd::Serve { .. } | Cmd::Demo { .. } => "info",
            Cmd::Admin { .. } | Cmd::Audit { .. } => "warn",
        }
    }
}

/// Run the command; its exit status.
pub fn run(cli: Cli) -> ExitCode {
    if let Cmd::Audit {
        db_key_file,
        cmd: audit::AuditCmd::Verify { data, backup },
    } = &cli.cmd
    {
        let _ = DB_KEY_FILE.set(db_key_file.clone());
        return match audit::verify(data.as_deref(), backup.as_deref()) {
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
    match rt.block_on(run_async(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gridbook-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_async(cli: Cli) -> Result<(), String> {
    let (config, seed) = match cli.cmd {
        Cmd::Admin { db_key_file, cmd } => {
            let _ = DB_KEY_FILE.set(db_key_file);
            return admin::run(cmd);
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
        Cmd::Audit { .. } => unreachable!("handled in run"),
    };
    serve::start(config, seed).await
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

fn api_err(e: ApiError) -> String {
    format!("{} [{}]: {e}", e.message_zh(), e.code())
}
