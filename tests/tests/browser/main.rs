//! Tests of the supervisor dashboard (issue 7) against a real server on 127.0.0.1 with the demo
//! district: [`scope`] (community A's supervisor gets 403/404 for everything of community B,
//! plain HTTP) and [`dashboard`] (real headless Chromium driven by `playwright-core`, run by
//! `scripts/test-browser.sh`; skipped unless `GRIDBOOK_BROWSER_TESTS=1`).

mod dashboard;
mod scope;
mod workflow;

use std::path::PathBuf;

use gridbook_core::demo::DemoOptions;
use gridbook_sync_server::demo::{self, DemoDistrict};
use gridbook_sync_server::{AppState, Config};
use tempfile::TempDir;
use tokio::sync::oneshot;

/// A server in this process with a demo district of `opts`.
pub struct Server {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// State.
    pub state: AppState,
    /// The demo plan.
    pub plan: DemoDistrict,
    stop: Option<oneshot::Sender<()>>,
    _dir: TempDir,
}

impl Server {
    /// Start on `127.0.0.1:0`.
    pub async fn start(opts: DemoOptions) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            argon2_memory_kib: 256,
            argon2_iterations: 1,
            ..Config::default()
        };
        let state = AppState::open(config.clone()).expect("open");
        let storage = state.storage.clone();
        let plan = tokio::task::spawn_blocking(move || demo::seed(storage.as_ref(), opts, 256, 1))
            .await
            .expect("seed task")
            .expect("seed");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel();
        tokio::spawn(gridbook_sync_server::serve(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        Server {
            url: format!("http://{addr}"),
            state,
            plan,
            stop: Some(tx),
            _dir: dir,
        }
    }

    /// Read-only connection to the server's database.
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(self.state.config.db_path(), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("db")
    }

    /// Data folder.
    pub fn data_dir(&self) -> PathBuf {
        self.state.config.data_dir.clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

pub use gridbook_tests::web::http;

/// Log in to the dashboard; returns the session cookie (`gb_session=...`) or the status.
pub async fn web_login(url: &str, username: &str, password: &str) -> Result<String, u16> {
    let resp = http()
        .post(format!("{url}/review/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username={username}&password={password}"))
        .send()
        .await
        .expect("login request");
    let status = resp.status().as_u16();
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("gb_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_string);
    match (status, cookie) {
        (303, Some(c)) => Ok(c),
        _ => Err(status),
    }
}
