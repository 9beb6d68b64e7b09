//! The real `gridbook-server` binary as a child process: started on a data folder, SIGKILLed,
//! restarted on the same port and data.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The server binary: `GRIDBOOK_SERVER_BIN`, else the workspace's debug build (built on
/// demand, once, so `cargo test -p gridbook-tests` works alone).
pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("GRIDBOOK_SERVER_BIN") {
        return PathBuf::from(p);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf();
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace.join("target"));
    let bin = target.join("debug").join("gridbook-server");
    static BUILD: std::sync::Once = std::sync::Once::new();
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "gridbook-sync-server", "--bin", "gridbook-server"])
            .current_dir(&workspace)
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building gridbook-server failed");
    });
    bin
}

/// A running server process.
pub struct ServerProcess {
    child: Child,
    /// Port it listens on (127.0.0.1).
    pub port: u16,
    data: PathBuf,
}

impl ServerProcess {
    /// Start on `data`, on `port` (0: any free port), with a tiny demo district.
    pub fn start(data: &Path, port: u16) -> ServerProcess {
        let mut child = Command::new(binary())
            .args(["demo", "--listen", &format!("127.0.0.1:{port}"), "--data"])
            .arg(data)
            .args(["--households", "1", "--days", "1"])
            .env("GRIDBOOK_ARGON2_MEMORY_KIB", "256")
            .env("GRIDBOOK_ARGON2_ITERATIONS", "1")
            .env("GRIDBOOK_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start gridbook-server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let mut sent = false;
            // Keep reading to the end so the child never blocks on a full pipe.
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                if !sent && let Some(addr) = line.trim().strip_prefix("gridbook-server listening on http://") {
                    let port: u16 = addr.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0);
                    let _ = tx.send(port);
                    sent = true;
                }
                line.clear();
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("server printed its address in time");
        ServerProcess {
            child,
            port,
            data: data.to_path_buf(),
        }
    }

    /// SIGKILL, no goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGKILL, then start again on the same port and data.
    pub fn restart(&mut self) {
        self.kill();
        *self = ServerProcess::start(&self.data.clone(), self.port);
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.data.join("gridbook.sqlite3")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
