//! A district from nothing (issue 24), with the real `gridbook-server` binary and no demo step:
//! `admin init` on an empty folder makes the district and its first admin (password from a
//! file); `serve` refuses a folder that was never initialised, naming `admin init`; the org
//! sheet and a worker account are made with the CLI; a phone logs in as that worker, syncs,
//! and a second phone of the same worker receives what the first made. The folder is 0700
//! and its files 0600; the one-shot commands print no INFO lines; a plain database encrypted
//! at its first keyed start logs no SQLCipher error.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use gridbook_sync_server::admin::{init, org, residents};
use gridbook_sync_server::storage::sqlite::SqliteStorage;
use gridbook_sync_server::storage::{Accounts, ChangeLog, Operations};
use gridbook_tests::{Phone, fast_client, household};

/// The server binary: `GRIDBOOK_SERVER_BIN`, else the workspace's debug build (built once if
/// needed, so that this test also runs alone).
fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("GRIDBOOK_SERVER_BIN") {
        return PathBuf::from(p);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace.join("target"));
    static BUILD: std::sync::Once = std::sync::Once::new();
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "gridbook-sync-server", "--bin", "gridbook-server"])
            .current_dir(workspace)
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building gridbook-server failed");
    });
    target.join("debug").join("gridbook-server")
}

fn server() -> Command {
    let mut c = Command::new(binary());
    c.env_remove("GRIDBOOK_LOG")
        .env_remove("GRIDBOOK_DATABASE_KEY_FILE")
        .env_remove("GRIDBOOK_DATA_DIR")
        .env("GRIDBOOK_ARGON2_MEMORY_KIB", "256")
        .env("GRIDBOOK_ARGON2_ITERATIONS", "1");
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `gridbook-server admin ARGS --data DATA`, which must succeed; its output.
fn admin(data: &Path, args: &[&str]) -> String {
    let out = server()
        .arg("admin")
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .expect("run admin");
    assert!(out.status.success(), "admin {args:?}: {}", text(&out));
    let t = text(&out);
    assert!(
        !t.contains("INFO") && !t.contains("migrated"),
        "a one-shot command logged INFO lines: {t}"
    );
    t
}

fn write_config(dir: &Path, data: &Path) -> PathBuf {
    let config = dir.join("server.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    config
}

/// `serve --config` as a child: its port once it listens.
fn serve(config: &Path) -> (Child, u16) {
    let mut child = server()
        .args(["serve", "--config"])
        .arg(config)
        .env("GRIDBOOK_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.strip_prefix("gridbook-server listening on http://") {
                let _ = tx.send(addr.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0u16));
            }
        }
    });
    let port = rx.recv_timeout(Duration::from_secs(120)).expect("serve listens");
    (child, port)
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_district_starts_from_nothing_and_a_worker_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    // `serve` on a folder nobody initialised: refused, naming `admin init`, nothing made.
    let config = write_config(dir.path(), &data);
    let refused = server().args(["serve", "--config"]).arg(&config).output().unwrap();
    assert!(!refused.status.success());
    let t = text(&refused);
    assert!(t.contains("admin init") && t.contains("not_initialised"), "{t}");
    assert!(t.contains("尚未初始化"), "zh-CN message: {t}");
    assert!(
        !data.join("gridbook.sqlite3").exists(),
        "a refused serve made a database"
    );

    // `admin init`, the password from a file.
    let pw = dir.path().join("admin.pw");
    std::fs::write(&pw, "Qz7-district-admin-2026\n").unwrap();
    let init_args = [
        "init",
        "--district-name",
        "邹城市",
        "--district-code",
        "370883",
        "--admin-username",
        "itadmin",
        "--password-file",
        pw.to_str().unwrap(),
    ];
    let out = admin(&data, &init_args);
    assert!(out.contains("initialised"), "{out}");
    // Once only.
    let again = server()
        .arg("admin")
        .args(init_args)
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(text(&again).contains("already_initialised"), "{}", text(&again));

    // The org sheet, the tree, a worker.
    let sheet = dir.path().join("org.csv");
    std::fs::write(
        &sheet,
        "街道,街道编码,社区,社区编码,网格,网格编码\n\
         钢山街道,370883001,幸福社区,370883001001,幸福社区第一网格,370883001001001\n\
         钢山街道,370883001,幸福社区,370883001001,幸福社区第二网格,370883001001002\n",
    )
    .unwrap();
    let out = admin(&data, &["org-import", "--from", "2024-01-01", sheet.to_str().unwrap()]);
    assert!(out.contains("4 个节点"), "{out}");
    let tree = admin(&data, &["org"]);
    let lines: Vec<&str> = tree.lines().collect();
    assert!(lines[0].starts_with("邹城市  [区 district 370883]"), "{tree}");
    assert!(lines[1].starts_with("  钢山街道"), "{tree}");
    assert!(lines[2].starts_with("    幸福社区"), "{tree}");
    assert!(lines[3].starts_with("      幸福社区第一网格"), "{tree}");
    let grid = lines[3].rsplit(' ').next().unwrap().to_string();
    let out = admin(
        &data,
        &[
            "account-create",
            "--username",
            "wangwei",
            "--name",
            "王伟",
            "--role",
            "grid_worker",
            "--org-node",
            &grid,
        ],
    );
    let password = out
        .split("initial password: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("initial password")
        .to_string();

    // The server starts; a phone logs in as the worker and syncs.
    let (mut child, port) = serve(&config);
    #[cfg(unix)]
    {
        assert_eq!(mode(&data), 0o700, "data folder");
        for f in [
            "gridbook.sqlite3",
            "gridbook.sqlite3-wal",
            "gridbook.sqlite3-shm",
            "gridbook.lock",
        ] {
            assert_eq!(mode(&data.join(f)), 0o600, "{f}");
        }
    }
    let url = format!("http://127.0.0.1:{port}");
    let mut phone = Phone::login(&url, "wangwei", &password, fast_client()).await;
    assert_eq!(phone.info.grids, vec![grid.clone()]);
    phone.sync().await;
    let grids_known: i64 = phone
        .store
        .connection()
        .query_row("SELECT count(*) FROM org_nodes WHERE level = 'grid'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(grids_known, 2, "the org tree reached the phone");
    phone.store.create(&household(&grid, "101")).unwrap();
    assert_eq!(phone.sync().await.sent, 1);
    // Another phone of the same worker receives the household from the server.
    let mut second = Phone::login(&url, "wangwei", &password, fast_client()).await;
    second.sync().await;
    let rooms: i64 = second
        .store
        .connection()
        .query_row("SELECT count(*) FROM households WHERE room = '101'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rooms, 1);
    child.kill().unwrap();
    child.wait().unwrap();

    // A key set on the plain database: encrypted in place without SQLCipher logging the
    // expected failure of trying the key on a plain file.
    let key = dir.path().join("db.key");
    let made = server().args(["admin", "new-db-key"]).arg(&key).output().unwrap();
    assert!(made.status.success(), "{}", text(&made));
    let out = server()
        .args(["admin", "accounts", "--data"])
        .arg(&data)
        .arg("--db-key-file")
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("decrypting"), "{}", text(&out));
    assert!(text(&out).contains("wangwei"));
    let head = std::fs::read(data.join("gridbook.sqlite3")).unwrap();
    assert!(!head.starts_with(b"SQLite format 3\0"), "encrypted");
    #[cfg(unix)]
    assert_eq!(
        mode(&data.join("gridbook.sqlite3")),
        0o600,
        "the encrypted file stays 0600"
    );

    // A backup is checked without restoring it: with the key sound and intact, without it
    // refused with a code.
    let backup = dir.path().join("backup.sqlite3");
    let out = server()
        .args(["admin", "backup", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&backup)
        .arg("--db-key-file")
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    #[cfg(unix)]
    assert_eq!(mode(&backup), 0o600, "backup file");
    let verify = |key: Option<&Path>| {
        let mut c = server();
        c.args(["audit", "verify", "--backup"]).arg(&backup);
        if let Some(k) = key {
            c.arg("--db-key-file").arg(k);
        }
        c.output().unwrap()
    };
    let out = verify(Some(&key));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("backup sound") && text(&out).contains("audit log intact"));
    let out = verify(None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("backup_unsound"), "{}", text(&out));

    // `audit verify` on a missing folder: a typed message, not an internal error.
    let out = server()
        .args(["audit", "verify", "--data"])
        .arg(dir.path().join("nowhere"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("no_data_folder"), "{}", text(&out));
}

/// The library under the CLI: a refused password writes nothing; an org sheet without a
/// district says what is missing; `check_initialised` tells the two folders apart.
#[test]
fn init_checks_before_writing_and_import_names_the_missing_district() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(&dir.path().join("gridbook.sqlite3"), 1).unwrap();
    let cost = gridbook_sync_server::admin::accounts::HashCost {
        memory_kib: 256,
        iterations: 1,
    };
    let req = init::InitRequest {
        district_name: "邹城市".into(),
        district_code: "370883".into(),
        admin_username: "itadmin".into(),
        admin_display_name: "管理员".into(),
    };
    let e = init::check_initialised(&storage, dir.path()).unwrap_err();
    assert_eq!(e.code(), "not_initialised");

    let sheet = "街道,街道编码,社区,社区编码,网格,网格编码\n钢山街道,370883001,幸福社区,370883001001,第一网格,370883001001001\n";
    let e = org::import_org(&storage, sheet.as_bytes(), "itadmin", residents::today()).unwrap_err();
    assert_eq!(e.code(), "no_district");
    assert!(e.to_string().contains("admin init") && e.message_zh().contains("admin init"));

    for (bad, code) in [("short", "password_too_short"), ("itadmin123", "password_is_username")] {
        let e = init::init(&storage, dir.path(), &req, bad, cost, "cli").unwrap_err();
        assert_eq!(e.code(), code);
    }
    let bad_code = init::InitRequest {
        district_code: "3708".into(),
        ..req.clone()
    };
    let e = init::init(&storage, dir.path(), &bad_code, "Qz7-district-admin", cost, "cli").unwrap_err();
    assert_eq!(e.code(), "invalid_grid_code");
    assert_eq!(storage.account_count().unwrap(), 0);
    assert!(storage.docs_of_kind("org_node").unwrap().is_empty(), "nothing written");

    let done = init::init(&storage, dir.path(), &req, "Qz7-district-admin", cost, "cli").unwrap();
    assert_eq!(done.admin, "itadmin");
    init::check_initialised(&storage, dir.path()).unwrap();
    let status = init::status(&storage).unwrap();
    assert_eq!(status.district, Some((done.district_id.clone(), "370883".into())));
    let e = init::init(&storage, dir.path(), &req, "Qz7-district-admin", cost, "cli").unwrap_err();
    assert_eq!(e.code(), "already_initialised");
    // The import now finds its district.
    let o = org::import_org(&storage, sheet.as_bytes(), "itadmin", residents::today()).unwrap();
    assert_eq!(o.nodes, 3);
    // Audited: the district node, the account, the init.
    let conn = storage.server_db().map(|db| db.open_read_only().unwrap());
    let conn = conn.unwrap_or_else(|| rusqlite::Connection::open(dir.path().join("gridbook.sqlite3")).unwrap());
    let actions: Vec<String> = conn
        .prepare("SELECT action FROM audit_log ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(actions[..3], ["org.change", "account.create", "init"]);
}
