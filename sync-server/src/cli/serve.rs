//! `serve` and `demo` (rank 5, `cli`): open the data folder, seed the demo district, serve
//! until a signal.

use std::io::Write;

use gridbook_core::demo::DemoOptions;

use super::api_err;
use crate::config::Config;
use crate::demo;
use crate::http::AppState;
use crate::http::server::{serve, serve_tls, tls_config};

/// `serve` and `demo` once their configuration is read: check the data folder (`serve` never
/// makes a database), hold its lock, open it, seed the demo district (`demo`), then serve
/// (HTTPS when the config names a certificate) until SIGINT or SIGTERM.
pub(super) async fn start(config: Config, seed: Option<DemoOptions>) -> Result<(), String> {
    let not_initialised = |data: &std::path::Path| {
        let e = crate::admin::init::InitError::NotInitialised(data.to_path_buf());
        format!("{} [{}]: {e}", e.message_zh(), e.code())
    };
    // `serve` never makes a database: a missing one means a folder `admin init` has not set up
    // (or a wrong `data_dir`), reported before anything is written.
    if seed.is_none() && !config.db_path().is_file() {
        return Err(not_initialised(&config.data_dir));
    }
    // Held while serving: `admin restore` refuses to run under a live server.
    let _lock = crate::admin::backup::DataLock::acquire(&config.data_dir)
        .map_err(|e| format!("{} [{}]: {e}", e.message_zh(), e.code()))?;
    let state = AppState::open(config.clone()).map_err(api_err)?;
    if seed.is_none() {
        let storage = state.storage.clone();
        let data = config.data_dir.clone();
        tokio::task::spawn_blocking(move || crate::admin::init::check_initialised(storage.as_ref(), &data))
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
