//! `gridbook-server`: the district sync server's binary. The commands (`demo`, `serve`,
//! `admin ...`, `audit verify`) are [`gridbook_sync_server::cli`]; here are only what a
//! process does once: the malloc arenas, the log subscriber, the exit status.
//!
//! Logs go to stderr at `info` for `serve` and `demo`, at `warn` for the one-shot commands
//! (`admin`, `audit`), unless `GRIDBOOK_LOG` says otherwise.

use std::process::ExitCode;

use clap::Parser;
use gridbook_sync_server::cli::{self, Cli};
use tracing_subscriber::EnvFilter;

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
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("GRIDBOOK_LOG").unwrap_or_else(|_| EnvFilter::new(cli.default_log_level())),
        )
        .with_writer(std::io::stderr)
        .init();
    cli::run(cli)
}
