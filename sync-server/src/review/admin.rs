//! 区级管理页面: the district admin's pages beside the supervisor dashboard (issue 11), under
//! `/review/admin`: accounts (create, role, disable / enable, password reset), devices (last
//! sync, app version, revoke), residents import (upload, validation report), checklist
//! template publishing and online backups. District admins only: anyone else gets 404.
//!
//! The pages call the same library functions as `gridbook-server admin ...`
//! ([`crate::admin`]); JSON endpoints under `/review/api/admin/*` answer `{code, message,
//! message_zh}` errors (the residents report adds `issues`).

use askama::Template;
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gridbook_core::domain::Role;
use serde::Deserialize;

use super::session::{F, Q};
use super::{Area, Lang, Layout, PageError, PageResult, Viewer, html, run};
use crate::admin::accounts::{self, DeviceRow, HashCost, NewAccount};
use crate::admin::{backup, org, residents, rules};
use crate::error::{ApiError, ApiResult};
use crate::http::AppState;
use crate::storage::Account;

/// The admin routes (merged into the dashboard's router).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/review/admin", get(home_page))
        .route("/review/admin/accounts", get(accounts_page).post(account_create))
        .route("/review/admin/accounts/{username}/{action}", post(account_action))
        .route("/review/admin/devices", get(devices_page))
        .route("/review/admin/devices/{id}/revoke", post(device_revoke))
        .route("/review/admin/backup", post(backup_now))
        .route("/review/admin/org", get(org_page).post(org_create))
        .route("/review/admin/org/{id}", post(org_edit))
        .route("/review/api/admin/org/import", post(org_import_api))
        .route("/review/api/admin/residents/import", post(residents_import_api))
        .route(
            "/review/api/admin/templates",
            post(template_publish_api).layer(axum::middleware::from_fn(super::guard::json_only)),
        )
        .route(
            "/review/api/admin/rules/{rule}",
            post(rules_publish_api).layer(axum::middleware::from_fn(super::guard::json_only)),
        )
        .route("/review/api/admin/devices", get(devices_api))
}

/// zh-CN or English.
fn tr(lang: Lang, zh: &'static str, en: &'static str) -> &'static str {
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

fn only_admin(viewer: &Viewer) -> ApiResult<()> {
    if viewer.account.role == Role::DistrictAdmin {
        Ok(())
    } else {
        Err(ApiError::NotFound("page".into()))
    }
}

/// The signed-in district admin of a request. Anyone else gets 404 (`not_found`) before the
/// body or form is read, so a supervisor cannot tell an admin route from a missing one by a
/// `422 invalid_form` (issue 24). Put it before the body extractor.
pub struct Admin(pub Viewer);

impl axum::extract::FromRequestParts<AppState> for Admin {
    type Rejection = super::session::Rejection;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let viewer = Viewer::from_request_parts(parts, app).await?;
        match only_admin(&viewer) {
            Ok(()) => Ok(Admin(viewer)),
            Err(e) if viewer.api => Err(super::session::Rejection::Api(e)),
            Err(e) => Err(super::session::Rejection::Page(PageError::new(e, viewer.lang))),
        }
    }
}

fn cost(app: &AppState) -> HashCost {
    HashCost {
        memory_kib: app.config.argon2_memory_kib,
        iterations: app.config.argon2_iterations,
    }
}

fn layout(app: &AppState, viewer: &Viewer, here: &str) -> ApiResult<Layout> {
    let area = Area::load(&*app.storage, viewer)?;
    Ok(Layout::new(viewer, &area, "admin", here.into()))
}

// ------------------------------------------------------------------------------ home

#[derive(Template)]
#[template(path = "review/admin_home.html")]
struct HomePage {
    l: Layout,
    notice: Option<String>,
    template_version: u32,
    template_json: &'static str,
    /// (rule key, zh-CN name, newest version held).
    rule_versions: Vec<(&'static str, &'static str, u32)>,
}

impl HomePage {
    fn tr(&self, zh: &'static str, en: &'static str) -> &'static str {
        tr(self.l.lang, zh, en)
    }
}

async fn home_page(State(app): State<AppState>, Admin(viewer): Admin) -> PageResult {
    home(app, viewer, None).await
}

async fn home(app: AppState, viewer: Viewer, notice: Option<String>) -> PageResult {
    let lang = viewer.lang;
    run(move || {
        only_admin(&viewer)?;
        Ok(HomePage {
            l: layout(&app, &viewer, "/review/admin")?,
            notice,
            template_version: rules::latest_version(app.storage.as_ref(), "3456")?,
            template_json: rules::shipped_template_json(),
            rule_versions: rules::rule_versions(app.storage.as_ref())?
                .into_iter()
                .map(|(r, v)| (r.as_str(), r.label_zh(), v))
                .collect(),
        })
    })
    .await
    .map_err(|e| PageError::new(e, lang))
    .and_then(|p| html(&p, lang))
}

/// `POST /review/admin/backup`: an online backup into `<data_dir>/backups/`.
async fn backup_now(State(app): State<AppState>, Admin(viewer): Admin) -> PageResult {
    let lang = viewer.lang;
    let (a, v) = (app.clone(), viewer.clone());
    let info = run(move || {
        only_admin(&v)?;
        let dir = a.config.data_dir.join("backups");
        std::fs::create_dir_all(&dir).map_err(|e| ApiError::Internal(e.to_string()))?;
        let name = format!("gridbook-{}.sqlite3", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"));
        backup::backup(a.storage.as_ref(), &dir.join(name), &v.account.id).map_err(|e| match e {
            backup::BackupError::Api(e) => e,
            other => ApiError::Internal(other.to_string()),
        })
    })
    .await
    .map_err(|e| PageError::new(e, lang))?;
    let notice = format!(
        "{} {} ({} bytes, seq {})",
        tr(lang, "备份完成：", "Backup written:"),
        info.path.display(),
        info.bytes,
        info.last_seq
    );
    home(app, viewer, Some(notice)).await
}

/// Largest residents file accepted (a district's 800,000 residents as CSV is ≈ 100 MiB: split it).
pub const MAX_IMPORT_BYTES: usize = 64 << 20;

/// `POST /review/api/admin/templates` (JSON body: the template): validate and publish.
async fn template_publish_api(State(app): State<AppState>, Admin(viewer): Admin, body: Body) -> ApiResult<Response> {
    let body = crate::http::read_body(body, 1 << 20).await?;
    let published = run(move || {
        only_admin(&viewer)?;
        let text = std::str::from_utf8(&body).map_err(|_| ApiError::BadBody {
            en: "the body is not UTF-8 text".into(),
            zh: "请求数据不是 UTF-8 文本".into(),
        })?;
        rules::publish_template(app.storage.as_ref(), text, &viewer.account.id)
    })
    .await?;
    Ok(Json(published).into_response())
}

#[derive(Deserialize)]
struct RulesQuery {
    #[serde(default)]
    version: Option<u32>,
}

/// `POST /review/api/admin/rules/{workflow|time_limits|calendar}[?version=N]` (JSON body: the
/// rule file): validate and publish a rule-set version.
async fn rules_publish_api(
    State(app): State<AppState>,
    Admin(viewer): Admin,
    Path(rule): Path<String>,
    axum::extract::Query(q): axum::extract::Query<RulesQuery>,
    body: Body,
) -> ApiResult<Response> {
    let body = crate::http::read_body(body, gridbook_core::MAX_RULE_JSON_BYTES + 1024).await?;
    let published = run(move || {
        only_admin(&viewer)?;
        let kind: gridbook_core::RuleKind = rule.parse()?;
        let text = std::str::from_utf8(&body).map_err(|_| ApiError::BadBody {
            en: "the body is not UTF-8 text".into(),
            zh: "请求数据不是 UTF-8 文本".into(),
        })?;
        rules::publish_rule_set(app.storage.as_ref(), kind, text, q.version, &viewer.account.id)
    })
    .await?;
    Ok(Json(published).into_response())
}

// ------------------------------------------------------------------------------ residents

#[derive(Deserialize)]
struct ImportQuery {
    #[serde(default)]
    dry_run: Option<String>,
}

/// `POST /review/api/admin/residents/import[?dry_run=1]` (body: the XLSX or CSV file).
async fn residents_import_api(
    State(app): State<AppState>,
    Admin(viewer): Admin,
    Q(q): Q<ImportQuery>,
    body: Body,
) -> Result<Response, residents::ImportError> {
    only_admin(&viewer)?;
    let body = crate::http::read_body(body, MAX_IMPORT_BYTES).await?;
    let dry_run = q.dry_run.is_some_and(|v| v == "1" || v == "true");
    let result = crate::http::blocking(move || {
        let today = residents::today();
        let r = if dry_run {
            residents::validate(app.storage.as_ref(), &body, today).map(|h| {
                serde_json::json!({
                    "dry_run": true,
                    "households": h.len(),
                    "persons": h.iter().map(|h| h.persons.len()).sum::<usize>(),
                })
            })
        } else {
            residents::import(app.storage.as_ref(), &body, &viewer.account.id, today)
                .map(|o| serde_json::json!({"dry_run": false, "rows": o.rows, "households": o.households, "persons": o.persons}))
        };
        Ok(r)
    })
    .await?;
    Ok(Json(result?).into_response())
}

// ------------------------------------------------------------------------------ accounts

#[derive(Template)]
#[template(path = "review/admin_accounts.html")]
struct AccountsPage {
    l: Layout,
    accounts: Vec<Account>,
    roles: Vec<(&'static str, &'static str)>,
    notice: Option<String>,
}

impl AccountsPage {
    fn tr(&self, zh: &'static str, en: &'static str) -> &'static str {
        tr(self.l.lang, zh, en)
    }
    fn role(&self, a: &Account) -> &'static str {
        self.l.lang.role(a.role)
    }
}

async fn accounts_page(State(app): State<AppState>, Admin(viewer): Admin) -> PageResult {
    accounts_view(app, viewer, None).await
}

async fn accounts_view(app: AppState, viewer: Viewer, notice: Option<String>) -> PageResult {
    let lang = viewer.lang;
    run(move || {
        only_admin(&viewer)?;
        Ok(AccountsPage {
            l: layout(&app, &viewer, "/review/admin/accounts")?,
            accounts: app.storage.accounts()?,
            roles: Role::ALL.iter().map(|r| (r.as_str(), lang.role(*r))).collect(),
            notice,
        })
    })
    .await
    .map_err(|e| PageError::new(e, lang))
    .and_then(|p| html(&p, lang))
}

#[derive(Deserialize)]
struct CreateForm {
    username: String,
    display_name: String,
    role: String,
    org_node: String,
}

fn parse_role(role: &str) -> ApiResult<Role> {
    role.parse().map_err(|e: String| {
        ApiError::Core(gridbook_core::Error::Invalid {
            code: "unknown_role",
            field: "role".into(),
            reason: e,
        })
    })
}

/// `POST /review/admin/accounts` (form): create; the initial password is shown once.
async fn account_create(State(app): State<AppState>, Admin(viewer): Admin, F(form): F<CreateForm>) -> PageResult {
    let lang = viewer.lang;
    let (a, v) = (app.clone(), viewer.clone());
    let (account, password) = run(move || {
        only_admin(&v)?;
        let new = NewAccount {
            username: form.username.trim().into(),
            display_name: form.display_name,
            role: parse_role(&form.role)?,
            org_node: form.org_node.trim().into(),
        };
        accounts::create(a.storage.as_ref(), &new, cost(&a), &v.account.id)
    })
    .await
    .map_err(|e| PageError::new(e, lang))?;
    let notice = format!(
        "{} {} · {} {password}",
        tr(lang, "账号已创建：", "Account created:"),
        account.username,
        tr(lang, "初始密码（仅显示一次）：", "initial password (shown once):"),
    );
    accounts_view(app, viewer, Some(notice)).await
}

#[derive(Deserialize)]
struct ActionForm {
    #[serde(default)]
    role: String,
    #[serde(default)]
    org_node: String,
}

/// `POST /review/admin/accounts/{username}/{role|disable|enable|password}` (form).
async fn account_action(
    State(app): State<AppState>,
    Admin(viewer): Admin,
    Path((username, action)): Path<(String, String)>,
    F(form): F<ActionForm>,
) -> PageResult {
    let lang = viewer.lang;
    let (a, v) = (app.clone(), viewer.clone());
    let notice = run(move || {
        only_admin(&v)?;
        let s = a.storage.as_ref();
        let me = v.account.id.as_str();
        Ok(match action.as_str() {
            "role" => {
                let acc = accounts::assign_role(s, &username, parse_role(&form.role)?, form.org_node.trim(), me)?;
                format!(
                    "{} {} → {}",
                    tr(lang, "角色已更新：", "Role assigned:"),
                    acc.username,
                    lang.role(acc.role)
                )
            }
            "disable" => {
                accounts::set_disabled(s, &username, true, me)?;
                format!("{} {username}", tr(lang, "账号已停用：", "Account disabled:"))
            }
            "enable" => {
                accounts::set_disabled(s, &username, false, me)?;
                format!("{} {username}", tr(lang, "账号已启用：", "Account enabled:"))
            }
            "password" => {
                let p = accounts::reset_password(s, &username, cost(&a), me)?;
                format!(
                    "{} {username} · {} {p}",
                    tr(lang, "密码已重置：", "Password reset:"),
                    tr(lang, "新密码（仅显示一次）：", "new password (shown once):")
                )
            }
            _ => return Err(ApiError::NotFound("action".into())),
        })
    })
    .await
    .map_err(|e| PageError::new(e, lang))?;
    accounts_view(app, viewer, Some(notice)).await
}

// ------------------------------------------------------------------------------ devices

#[derive(Template)]
#[template(path = "review/admin_devices.html")]
struct DevicesPage {
    l: Layout,
    devices: Vec<DeviceRow>,
    notice: Option<String>,
}

impl DevicesPage {
    fn tr(&self, zh: &'static str, en: &'static str) -> &'static str {
        tr(self.l.lang, zh, en)
    }
}

async fn devices_page(State(app): State<AppState>, Admin(viewer): Admin) -> PageResult {
    devices_view(app, viewer, None).await
}

async fn devices_view(app: AppState, viewer: Viewer, notice: Option<String>) -> PageResult {
    let lang = viewer.lang;
    run(move || {
        only_admin(&viewer)?;
        Ok(DevicesPage {
            l: layout(&app, &viewer, "/review/admin/devices")?,
            devices: accounts::devices(app.storage.as_ref())?,
            notice,
        })
    })
    .await
    .map_err(|e| PageError::new(e, lang))
    .and_then(|p| html(&p, lang))
}

/// `POST /review/admin/devices/{id}/revoke` (form).
async fn device_revoke(State(app): State<AppState>, Admin(viewer): Admin, Path(id): Path<String>) -> PageResult {
    let lang = viewer.lang;
    let (a, v) = (app.clone(), viewer.clone());
    let i = id.clone();
    run(move || {
        only_admin(&v)?;
        accounts::revoke_device(a.storage.as_ref(), &i, &v.account.id)
    })
    .await
    .map_err(|e| PageError::new(e, lang))?;
    let notice = format!("{} {id}", tr(lang, "设备已停用：", "Device revoked:"));
    devices_view(app, viewer, Some(notice)).await
}

/// `GET /review/api/admin/devices`
async fn devices_api(State(app): State<AppState>, Admin(viewer): Admin) -> ApiResult<Response> {
    let rows = run(move || {
        only_admin(&viewer)?;
        accounts::devices(app.storage.as_ref())
    })
    .await?;
    Ok(Json(rows).into_response())
}

// ------------------------------------------------------------------------------ org tree

/// One current org node as the page lists it.
#[derive(Debug, Clone)]
struct OrgRow {
    id: String,
    level: String,
    code: String,
    name: String,
    parent: String,
    from: String,
}

#[derive(Template)]
#[template(path = "review/admin_org.html")]
struct OrgPage {
    l: Layout,
    nodes: Vec<OrgRow>,
    levels: Vec<(&'static str, &'static str)>,
    notice: Option<String>,
}

impl OrgPage {
    fn tr(&self, zh: &'static str, en: &'static str) -> &'static str {
        tr(self.l.lang, zh, en)
    }
}

const LEVELS: [(&str, &str, &str); 7] = [
    ("sub_district", "街道", "sub-district"),
    ("community", "社区", "community"),
    ("grid", "网格", "grid"),
    ("sub_grid", "二级网格", "sub-grid"),
    ("building", "楼栋", "building"),
    ("unit", "单元", "unit"),
    ("department", "职能部门", "department"),
];

async fn org_page(State(app): State<AppState>, Admin(viewer): Admin) -> PageResult {
    org_view(app, viewer, None).await
}

async fn org_view(app: AppState, viewer: Viewer, notice: Option<String>) -> PageResult {
    let lang = viewer.lang;
    run(move || {
        only_admin(&viewer)?;
        let nodes = app
            .storage
            .current_org_nodes()?
            .into_iter()
            .map(|n| OrgRow {
                id: n.id,
                level: n.level,
                code: n.code,
                name: n.name,
                parent: n.parent,
                from: n.effective_from,
            })
            .collect();
        Ok(OrgPage {
            l: layout(&app, &viewer, "/review/admin/org")?,
            nodes,
            levels: LEVELS.iter().map(|(k, zh, en)| (*k, tr(lang, zh, en))).collect(),
            notice,
        })
    })
    .await
    .map_err(|e| PageError::new(e, lang))
    .and_then(|p| html(&p, lang))
}

#[derive(Deserialize)]
struct OrgCreateForm {
    name: String,
    level: String,
    #[serde(default)]
    code: String,
    parent: String,
}

/// `POST /review/admin/org` (form): a new node, in force from today.
async fn org_create(State(app): State<AppState>, Admin(viewer): Admin, F(form): F<OrgCreateForm>) -> PageResult {
    let lang = viewer.lang;
    let (a, v) = (app.clone(), viewer.clone());
    let id = run(move || {
        only_admin(&v)?;
        let level = serde_json::from_value(serde_json::Value::String(form.level.clone())).map_err(|_| {
            ApiError::Core(gridbook_core::Error::Invalid {
                code: "unknown_level",
                field: "level".into(),
                reason: format!("unknown level `{}`", form.level),
            })
        })?;
        let node = gridbook_core::domain::OrgNode {
            name: form.name.trim().into(),
            level,
            code: form.code.trim().into(),
            parent: Some(form.parent.trim().into()),
            effective_from: residents::today(),
            effective_to: None,
        };
        org::create_node(a.storage.as_ref(), &node, &v.account.id)
    })
    .await
    .map_err(|e| PageError::new(e, lang))?;
    org_view(
        app,
        viewer,
        Some(format!("{} {id}", tr(lang, "节点已创建：", "Node created:"))),
    )
    .await
}

#[derive(Deserialize)]
struct OrgEditForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    until: String,
}

/// `POST /review/admin/org/{id}` (form): rename, recode, or close from a day.
async fn org_edit(
    State(app): State<AppState>,
    Admin(viewer): Admin,
    Path(id): Path<String>,
    F(form): F<OrgEditForm>,
) -> PageResult {
    let lang = viewer.lang;
    let (a, v) = (app.clone(), viewer.clone());
    let node = run(move || {
        only_admin(&v)?;
        let until = super::parse_day("until", Some(&form.until))?;
        let some = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let edit = org::NodeEdit {
            name: some(form.name),
            code: some(form.code),
            effective_to: until,
        };
        org::edit_node(a.storage.as_ref(), &id, &edit, &v.account.id)
    })
    .await
    .map_err(|e| PageError::new(e, lang))?;
    org_view(
        app,
        viewer,
        Some(format!("{} {}", tr(lang, "节点已修改：", "Node edited:"), node.name)),
    )
    .await
}

/// `POST /review/api/admin/org/import` (body: the XLSX or CSV org sheet), all or nothing.
async fn org_import_api(
    State(app): State<AppState>,
    Admin(viewer): Admin,
    body: Body,
) -> Result<Response, residents::ImportError> {
    only_admin(&viewer)?;
    let body = crate::http::read_body(body, MAX_IMPORT_BYTES).await?;
    let outcome = crate::http::blocking(move || {
        Ok(org::import_org(
            app.storage.as_ref(),
            &body,
            &viewer.account.id,
            residents::today(),
        ))
    })
    .await??;
    Ok(Json(outcome).into_response())
}
