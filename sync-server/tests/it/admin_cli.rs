//! `gridbook-server admin ...` as a separate process beside a running server (issue 11): an
//! online backup from another process, restore refused while the server holds the folder and
//! done once it stopped, a rejected residents file printing its report, account commands.

use std::path::Path;
use std::process::{Command, Output};

use super::kill::spawn;

pub(crate) fn admin(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gridbook-server"))
        .arg("admin")
        .args(args)
        .arg("--data")
        .arg(data)
        .env("GRIDBOOK_LOG", "warn")
        .env("GRIDBOOK_ARGON2_MEMORY_KIB", "256")
        .output()
        .expect("run gridbook-server admin")
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn admin_commands_beside_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = spawn(&data, 0);
    let backup = dir.path().join("backup.sqlite3");

    // Online backup from another process while the server serves.
    let out = admin(&data, &["backup", "--out", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("备份完成"));
    let again = admin(&data, &["backup", "--out", backup.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(text(&again).contains("backup_exists"), "{}", text(&again));

    // Restore refuses a folder a server holds.
    let out = admin(&data, &["restore", backup.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("server_running"), "{}", text(&out));

    // A residents file with an unknown grid and an empty name: the report, nothing written.
    let file = dir.path().join("residents.csv");
    std::fs::write(
        &file,
        "户编号,网格编码,地址,登记日期,姓名,身份证号\n\
         H1,370883999999999,幸福小区1栋101,2025-01-01,王伟,11010519491231002X\n\
         H2,370883999999999,幸福小区1栋102,2025-01-01,,110105194912310021\n",
    )
    .unwrap();
    let out = admin(&data, &["import-residents", "--dry-run", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let report = text(&out);
    assert!(report.contains("第2行 网格编码"), "{report}");
    assert!(report.contains("第3行 姓名"), "{report}");
    assert!(report.contains("第3行 身份证号"), "{report}");
    assert!(report.contains("import_rejected"), "{report}");

    // Accounts and devices.
    let out = admin(&data, &["accounts"]);
    assert!(text(&out).contains("district_admin"), "{}", text(&out));
    // The reset ends grid01's sessions (issue 24): its phone's refresh token is refused.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let base = format!("http://127.0.0.1:{}", server.port);
    let post = |path: &str, body: serde_json::Value| {
        let url = format!("{base}{path}");
        rt.block_on(async move {
            let r = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap_or_default())
        })
    };
    let (status, login) = post(
        "/v1/login",
        serde_json::json!({"username": "grid01", "password": "demo-grid01", "device_id": uuid::Uuid::new_v4()}),
    );
    assert_eq!(status, 200, "{login}");
    let refresh_token = login["refresh_token"].as_str().unwrap().to_string();
    let out = admin(&data, &["password-reset", "--username", "grid01"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("新密码"));
    let (status, v) = post("/v1/refresh", serde_json::json!({"refresh_token": refresh_token}));
    assert_eq!(
        (status, v["code"].as_str().unwrap_or("")),
        (401, "token_revoked"),
        "{v}"
    );
    let out = admin(&data, &["account-disable", "--username", "nobody"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("not_found"), "{}", text(&out));

    // Stopped, the restore goes through; the server starts on the restored data.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let out = admin(&data, &["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("恢复完成"));
    let mut server = spawn(&data, 0);
    let health = std::net::TcpStream::connect(("127.0.0.1", server.port));
    assert!(health.is_ok());
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}
