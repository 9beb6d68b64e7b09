//! The database key from the command line (issue 9, ADR 0009): `admin new-db-key` makes a
//! 0600 key file and never overwrites one; a server started with it encrypts its database;
//! started with another key, or none, it refuses with `wrong_key` (zh-CN and English) and
//! writes nothing; `audit verify`, `admin backup` and `admin restore` take `--db-key-file`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn server() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gridbook-server"));
    c.env("GRIDBOOK_LOG", "warn")
        .env("GRIDBOOK_ARGON2_MEMORY_KIB", "256")
        .env("GRIDBOOK_ARGON2_ITERATIONS", "1")
        .env_remove("GRIDBOOK_DATABASE_KEY_FILE");
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `demo` on `data` with the key file in the environment (or none): Ok once it listens (then
/// it is stopped), or Err with what it printed when it exits first.
fn demo(data: &Path, key: Option<&Path>) -> Result<(), String> {
    let mut cmd = server();
    cmd.args([
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--households",
        "1",
        "--days",
        "1",
        "--data",
    ])
    .arg(data)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    if let Some(k) = key {
        cmd.env("GRIDBOOK_DATABASE_KEY_FILE", k);
    }
    let mut child = cmd.spawn().expect("start gridbook-server");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("gridbook-server listening on") {
                let _ = tx.send(true);
                return;
            }
        }
        let _ = tx.send(false);
    });
    let listening = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("started or exited in time");
    if listening {
        child.kill().unwrap();
        child.wait().unwrap();
        Ok(())
    } else {
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success());
        Err(text(&out))
    }
}

#[test]
fn key_file_cli_encrypted_start_wrong_key_and_admin_commands() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap(); // another "volume"
    let key = keys.path().join("db.key");
    let data = dir.path().join("data");
    let db = data.join("gridbook.sqlite3");

    // new-db-key: 64 hex digits, mode 0600, never overwritten.
    let out = server().args(["admin", "new-db-key"]).arg(&key).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let written = std::fs::read_to_string(&key).unwrap();
    assert_eq!(written.trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let again = server().args(["admin", "new-db-key"]).arg(&key).output().unwrap();
    assert!(!again.status.success());
    assert!(text(&again).contains("db_key_file_exists"), "{}", text(&again));
    assert_eq!(std::fs::read_to_string(&key).unwrap(), written);

    // A server started with the key: the file is encrypted (no plain SQLite header).
    demo(&data, Some(&key)).expect("starts with its key");
    let head = std::fs::read(&db).unwrap();
    assert!(!head.starts_with(b"SQLite format 3\0"));
    // And again with it (the demo district is there already).
    demo(&data, Some(&key)).expect("restarts with its key");

    // Another key, or none: refused with wrong_key, in both languages; still encrypted (and
    // readable with the right key: audit verify below).
    let other = keys.path().join("other.key");
    assert!(
        server()
            .args(["admin", "new-db-key"])
            .arg(&other)
            .status()
            .unwrap()
            .success()
    );
    for (k, zh) in [(Some(other.as_path()), "数据库密钥错误"), (None, "已加密")] {
        let err = demo(&data, k).expect_err("refused");
        assert!(err.contains("[wrong_key]"), "{err}");
        assert!(err.contains(zh), "{err}");
        assert!(err.contains("gridbook.sqlite3"), "{err}");
        assert!(!std::fs::read(&db).unwrap().starts_with(b"SQLite format 3\0"));
        assert!(
            !std::fs::read_dir(&data)
                .unwrap()
                .any(|f| { f.unwrap().file_name().to_string_lossy().contains("encrypting") })
        );
    }
    // A key file that is missing or not a key.
    let err = demo(&data, Some(&keys.path().join("missing.key"))).expect_err("refused");
    assert!(err.contains("[db_key_file_unreadable]"), "{err}");
    let junk = keys.path().join("junk.key");
    std::fs::write(&junk, "not a key").unwrap();
    let err = demo(&data, Some(&junk)).expect_err("refused");
    assert!(err.contains("[db_key_file_invalid]"), "{err}");

    // audit verify with the key (flag or environment); without it, wrong_key and exit 2.
    let out = server()
        .args(["audit", "verify", "--data"])
        .arg(&data)
        .arg("--db-key-file")
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("intact"), "{}", text(&out));
    let out = server()
        .args(["audit", "verify", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("wrong_key"), "{}", text(&out));

    // admin backup writes an encrypted backup; restore refuses another key.
    let backup = dir.path().join("backup.sqlite3");
    let out = server()
        .args(["admin", "backup", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&backup)
        .env("GRIDBOOK_DATABASE_KEY_FILE", &key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(!std::fs::read(&backup).unwrap().starts_with(b"SQLite format 3\0"));
    let out = server()
        .args(["admin", "restore", "--data"])
        .arg(&data)
        .arg(&backup)
        .arg("--db-key-file")
        .arg(&other)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("wrong_key"), "{}", text(&out));
    let out = server()
        .args(["admin", "restore", "--data"])
        .arg(&data)
        .arg(&backup)
        .arg("--db-key-file")
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    demo(&data, Some(&key)).expect("starts on the restored database");
}
