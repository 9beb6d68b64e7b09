//! `gridbook-server`: `demo` (embedded database seeded with a demo district), `serve
//! --config FILE` (production; `GRIDBOOK_*` environment variables override the file; HTTPS
//! when `tls_cert`/`tls_key` are set) and `audit verify --data DIR` (checks the audit log's
//! hash chain; exit status 1 names the first broken entry).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gridbook_core::demo::DemoOptions;
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
        /// Days of history per grid.
        #[arg(long, default_value_t = 14)]
        days: u32,
    },
    /// Start with a configuration file.
    Serve {
        /// TOML configuration.
        #[arg(long)]
        config: PathBuf,
    },
    /// The audit log (审计日志).
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Check the hash chain of the audit log; names the first broken entry.
    Verify {
        /// Data folder (holds gridbook.sqlite3).
        #[arg(long)]
        data: PathBuf,
    },
}

/// `audit verify`: Ok(true) when intact.
fn audit_verify(data: &std::path::Path) -> Result<bool, String> {
    let db = Config {
        data_dir: data.to_path_buf(),
        ..Config::default()
    }
    .db_path();
    match audit::verify_file(&db).map_err(|e| e.to_string())? {
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
                    ..DemoOptions::default()
                }),
            )
        }
        Cmd::Serve { config } => (Config::load(&config).map_err(|e| e.to_string())?, None),
        Cmd::Audit { .. } => unreachable!("handled in main"),
    };
    let state = AppState::open(config.clone()).map_err(|e| e.to_string())?;
    if let Some(opts) = seed {
        let storage = state.storage.clone();
        let (m, t) = (config.argon2_memory_kib, config.argon2_iterations);
        let plan = tokio::task::spawn_blocking(move || demo::seed(storage.as_ref(), opts, m, t))
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
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("GRIDBOOK_LOG").unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Cmd::Audit {
        cmd: AuditCmd::Verify { data },
    } = &cli.cmd
    {
        return match audit_verify(data) {
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
