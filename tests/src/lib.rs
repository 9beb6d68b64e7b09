//! Helpers of the cross-crate tests: a real sync server on `127.0.0.1:0` in this process,
//! seeded with a (small) demo district, real phone stores in temporary files, and raw HTTP
//! for the bad-input tests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::NaiveDate;
use gridbook_core::demo::DemoOptions;
use gridbook_core::domain::{GridAssignment, Household, HousingUse, Role};
use gridbook_core::sync::client::{ClientConfig, gzip};
use gridbook_core::sync::wire::{self, CONTENT_TYPE};
use gridbook_core::sync::{LoginInfo, PROTOCOL_VERSION, PushChange, SyncClient, SyncRequest, SyncResponse};
use gridbook_core::{Identity, Store, StoreKey};
use gridbook_sync_server::demo::{self, DemoDistrict};
use gridbook_sync_server::{AppState, Config};
use rusqlite::Connection;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server running in this process.
pub struct TestServer {
    /// Base URL, `http://127.0.0.1:PORT` (`https://` when the config has a certificate).
    pub url: String,
    /// Bound address.
    pub addr: SocketAddr,
    /// Its state (storage, config).
    pub state: AppState,
    /// The demo district.
    pub plan: DemoDistrict,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    _dir: TempDir,
}

/// A config for tests: cheap password hashing, small limits where a test wants them.
pub fn test_config(dir: PathBuf) -> Config {
    Config {
        data_dir: dir,
        argon2_memory_kib: 256,
        argon2_iterations: 1,
        ..Config::default()
    }
}

/// A small demo: 2 households and 3 days per grid.
pub fn small_demo() -> DemoOptions {
    DemoOptions {
        households: 2,
        days: 3,
        ..DemoOptions::default()
    }
}

impl TestServer {
    /// Start with the small demo and the default test config.
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// Start with a config tweak (`tls_cert` + `tls_key`: serve HTTPS).
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::start_in(tempfile::tempdir().expect("tempdir"), tweak).await
    }

    /// Start on a data folder, seeding the small demo unless it holds accounts already.
    pub async fn start_in(dir: TempDir, tweak: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::start_at(dir, "127.0.0.1:0", tweak).await
    }

    /// Stop (gracefully) and hand back the data folder, every connection to it closed.
    pub async fn into_data_dir(mut self) -> TempDir {
        self.shutdown().await;
        let TestServer { state, _dir, .. } = self;
        drop(state);
        _dir
    }

    /// Start on a data folder and address (`127.0.0.1:0` for any port).
    pub async fn start_at(dir: TempDir, addr: &str, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = test_config(dir.path().to_path_buf());
        tweak(&mut config);
        let state = AppState::open(config.clone()).expect("open storage");
        let storage = state.storage.clone();
        let (m, t) = (config.argon2_memory_kib, config.argon2_iterations);
        let plan = tokio::task::spawn_blocking(move || demo::seed(storage.as_ref(), small_demo(), m, t))
            .await
            .expect("seed task")
            .expect("seed");
        let (tx, rx) = oneshot::channel();
        let shutdown = async move {
            let _ = rx.await;
        };
        let (task, addr, scheme) = match (&config.tls_cert, &config.tls_key) {
            // Issue 9: HTTPS only, rustls.
            (Some(cert), Some(key)) => {
                let tls = gridbook_sync_server::tls_config(cert, key).await.expect("tls config");
                let listener = std::net::TcpListener::bind(addr).expect("bind");
                let addr = listener.local_addr().expect("addr");
                let task = tokio::spawn(gridbook_sync_server::serve_tls(listener, state.clone(), tls, shutdown));
                (task, addr, "https")
            }
            _ => {
                let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
                let addr = listener.local_addr().expect("addr");
                let task = tokio::spawn(gridbook_sync_server::serve(listener, state.clone(), shutdown));
                (task, addr, "http")
            }
        };
        TestServer {
            url: format!("{scheme}://{addr}"),
            addr,
            state,
            plan,
            stop: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    /// Ask for a graceful shutdown and wait for it.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    /// Graceful shutdown, keeping the data folder for inspection.
    pub async fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("server task").expect("server");
        }
    }

    /// A read-only connection to the server's database file (with its key, if encrypted).
    pub fn db(&self) -> Connection {
        self.state.db.open_read_only().expect("open server db")
    }

    /// Heads of the server's documents in `scopes`.
    pub fn heads(&self, scopes: &[&str]) -> BTreeMap<String, Vec<String>> {
        let db = self.db();
        let mut stmt = db.prepare("SELECT id, scope, heads FROM docs").expect("prepare");
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .expect("query");
        let mut out = BTreeMap::new();
        for row in rows {
            let (id, scope, heads) = row.expect("row");
            if scope.as_deref().is_some_and(|s| scopes.contains(&s)) {
                out.insert(
                    id,
                    heads.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
                );
            }
        }
        out
    }

    /// The server's `records` query rows of `scopes`, as text.
    pub fn records(&self, scopes: &[&str]) -> Vec<String> {
        records_of(&self.db(), scopes)
    }

    /// Rows of the change log holding `hash`.
    pub fn log_count(&self, hash: &str) -> i64 {
        self.db()
            .query_row("SELECT count(*) FROM change_log WHERE hash = ?1", [hash], |r| r.get(0))
            .expect("count")
    }

    /// Row count of every table of the server's database (read from `sqlite_master`, so a
    /// table added by a later migration is counted without naming it), by table name.
    pub fn table_counts(&self) -> BTreeMap<String, i64> {
        table_counts_of(&self.db())
    }

    /// `PRAGMA integrity_check` of the server's database.
    pub fn integrity(&self) -> String {
        self.state.storage.integrity_check().expect("integrity_check")
    }

    /// Password of a demo account.
    pub fn password(&self, username: &str) -> String {
        self.plan.account(username).expect("demo account").password.clone()
    }
}

/// Row count of every table of a database (`sqlite_master`, virtual and internal tables
/// included), by table name.
pub fn table_counts_of(db: &Connection) -> BTreeMap<String, i64> {
    let names: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("table names");
    names
        .into_iter()
        .map(|name| {
            let quoted = format!("\"{}\"", name.replace('"', "\"\""));
            let n: i64 = db
                .query_row(&format!("SELECT count(*) FROM {quoted}"), [], |r| r.get(0))
                .unwrap_or_else(|e| panic!("count rows of {name}: {e}"));
            (name, n)
        })
        .collect()
}

/// How two [`table_counts_of`] differ: (table, after − before) for each table whose count
/// changed (a table present on one side only counts as 0 on the other).
pub fn count_changes(before: &BTreeMap<String, i64>, after: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    before
        .keys()
        .chain(after.keys())
        .filter_map(|t| {
            let d = after.get(t).copied().unwrap_or(0) - before.get(t).copied().unwrap_or(0);
            (d != 0).then(|| (t.clone(), d))
        })
        .collect()
}

/// The `records` rows of `scopes` in a database, sorted.
pub fn records_of(db: &Connection, scopes: &[&str]) -> Vec<String> {
    let mut stmt = db
        .prepare("SELECT id, kind, scope, schema, created_at, created_by, deleted, delete_conflict, invalid FROM records ORDER BY id")
        .expect("prepare");
    let mut rows = stmt.query([]).expect("query");
    let mut out = Vec::new();
    while let Some(r) = rows.next().expect("row") {
        let scope: String = r.get(2).expect("scope");
        if !scopes.contains(&scope.as_str()) {
            continue;
        }
        let mut line = String::new();
        for i in 0..9 {
            let v: rusqlite::types::Value = r.get(i).expect("col");
            line.push_str(&format!("{v:?} "));
        }
        out.push(line);
    }
    out
}

/// A phone: a store file and a logged-in client.
pub struct Phone {
    /// The store.
    pub store: Store,
    /// The client.
    pub client: SyncClient,
    /// Login answer.
    pub info: LoginInfo,
    /// Store file.
    pub path: PathBuf,
    /// The store's key: every phone's store is encrypted (`Store::open_encrypted`), as the
    /// FFI opens it on a real phone.
    pub key: StoreKey,
    _dir: TempDir,
}

/// Quick retries for tests.
pub fn fast_client() -> ClientConfig {
    ClientConfig {
        backoff_base: std::time::Duration::from_millis(20),
        max_requests: 500,
        // The loopback test server speaks plain HTTP (development flag, explicit).
        allow_insecure_http: true,
        ..ClientConfig::default()
    }
}

impl Phone {
    /// A new phone logged in as `username` on the server at `url`.
    pub async fn login(url: &str, username: &str, password: &str, config: ClientConfig) -> Phone {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("phone.sqlite3");
        let nobody = Identity {
            account_id: String::new(),
            role: Role::GridLeader,
            org_node: String::new(),
            grids: vec![],
        };
        let key = [uuid::Uuid::new_v4().into_bytes(), uuid::Uuid::new_v4().into_bytes()].concat();
        let key = StoreKey::from_bytes(&key).expect("store key");
        let mut store = Store::open_encrypted(&path, &key, nobody).expect("open store");
        let mut client = SyncClient::with_config(url, config).expect("client");
        let info = client
            .login(&mut store, username, password, "test phone")
            .await
            .expect("login");
        Phone {
            store,
            client,
            info,
            path,
            key,
            _dir: dir,
        }
    }

    /// Sync, panicking on failure.
    pub async fn sync(&mut self) -> gridbook_core::sync::SyncSummary {
        self.client.sync(&mut self.store).await.expect("sync")
    }

    /// The bearer token.
    pub fn token(&self) -> String {
        self.info.token.clone()
    }
}

/// A household of `grid` (valid).
/// A street-appearance incident (事件) reported by `grid01` in `grid`, as the loop tests use it.
pub fn incident(grid: &str, title: &str, description: &str) -> gridbook_core::domain::Case {
    use chrono::TimeZone;
    gridbook_core::domain::Case {
        grid_id: grid.into(),
        case_kind: gridbook_core::domain::CaseKind::Incident,
        category: "city_appearance".into(),
        subcategory: None,
        scale: "individual".into(),
        title: title.into(),
        description: description.into(),
        location: None,
        address: "幸福小区3栋".into(),
        reporter: "grid01".into(),
        channel: None,
        resident_name: None,
        resident_phone: None,
        photos: vec![],
        occurred_at: chrono::Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap(),
    }
}

pub fn household(grid: &str, room: &str) -> Household {
    let day = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
    Household {
        grid_assignments: vec![GridAssignment {
            grid_id: grid.into(),
            from: day,
        }],
        building: "3栋".into(),
        unit: "2单元".into(),
        room: room.into(),
        address: format!("幸福小区3栋2单元{room}室"),
        housing_use: HousingUse::OwnerOccupied,
        registered_on: day,
    }
}

/// A sync request with these pushes and no cursors.
pub fn request(push: Vec<PushChange>) -> SyncRequest {
    SyncRequest {
        v: PROTOCOL_VERSION,
        client_time: chrono::Utc::now().timestamp_millis(),
        max_bytes: 1 << 20,
        push,
        cursors: vec![],
        ..Default::default()
    }
}

/// What a raw POST got.
#[derive(Debug)]
pub struct Raw {
    /// Status.
    pub status: u16,
    /// Decoded CBOR response, when 2xx.
    pub response: Option<SyncResponse>,
    /// JSON error body, when not 2xx.
    pub error: Option<serde_json::Value>,
}

impl Raw {
    /// The error code, if any.
    pub fn code(&self) -> &str {
        self.error.as_ref().and_then(|e| e["code"].as_str()).unwrap_or("")
    }
}

/// A JSON answer of the server: status, `Retry-After` (seconds) and body (`Null` when not JSON).
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<u64>,
    pub body: serde_json::Value,
}

impl Answer {
    /// Reads a response whole.
    pub async fn read(resp: reqwest::Response) -> Answer {
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let bytes = resp.bytes().await.expect("body");
        Answer {
            status,
            retry_after,
            body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        }
    }

    /// The error body's `code` ("" when there is none).
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

/// POST raw bytes to `/v1/sync` (optionally gzip-labelled).
pub async fn post_sync_raw(url: &str, token: Option<&str>, body: Vec<u8>, gzipped: bool) -> Raw {
    let mut req = reqwest::Client::new()
        .post(format!("{url}/v1/sync"))
        .header("content-type", CONTENT_TYPE)
        .body(body);
    if gzipped {
        req = req.header("content-encoding", "gzip");
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.expect("body");
    if (200..300).contains(&status) {
        Raw {
            status,
            response: Some(wire::decode_response(&bytes).expect("cbor response")),
            error: None,
        }
    } else {
        let error =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("status {status}: body is not JSON: {bytes:?}"));
        Raw {
            status,
            response: None,
            error: Some(error),
        }
    }
}

/// POST a request, gzipped, as the client does.
pub async fn post_sync(url: &str, token: &str, req: &SyncRequest) -> Raw {
    post_sync_raw(url, Some(token), gzip(&wire::encode(req)), true).await
}

/// The supervisor dashboard over real HTTP: log in as an account through the login form, then
/// GET and POST with the session cookie (redirects are not followed, so a 303 stays visible).
pub mod web {
    /// An HTTP client that does not follow redirects (so a 303 stays visible).
    pub fn http() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client")
    }

    /// Log in through `/review/login` (asserting the 303 that a good login answers); the
    /// `gb_session=…` cookie.
    pub async fn login(url: &str, username: &str, password: &str) -> String {
        let r = http()
            .post(format!("{url}/review/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("username={username}&password={password}"))
            .send()
            .await
            .expect("login request");
        assert_eq!(r.status().as_u16(), 303, "{username} logs in");
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("gb_session="))
            .and_then(|v| v.split(';').next())
            .expect("session cookie")
            .to_string()
    }

    /// GET `url` with the session cookie: status and body.
    pub async fn get(url: &str, cookie: &str) -> (u16, String) {
        let r = http().get(url).header("cookie", cookie).send().await.expect("GET");
        (r.status().as_u16(), r.text().await.expect("body"))
    }

    /// POST `body` as `content_type` to `url` with the session cookie: status and body.
    pub async fn post(url: &str, cookie: &str, content_type: &str, body: impl Into<reqwest::Body>) -> (u16, String) {
        let r = http()
            .post(url)
            .header("cookie", cookie)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("POST");
        (r.status().as_u16(), r.text().await.expect("body"))
    }
}
