//! 督导看板: the supervisor's web dashboard, server-rendered (askama templates under
//! `sync-server/templates/review/`), zh-CN first with an English switch (`?lang=en`, or the
//! `gb_lang` cookie set by `/review/lang`).
//!
//! - [`session`]: login for supervisor roles (community, sub-district, district admin). A login
//!   goes through [`crate::auth::login`] with a fresh "web" device; the bearer token lives in an
//!   HttpOnly cookie, and every request is checked by [`crate::auth::authenticate`] (expiry,
//!   revocation, disabled accounts), so the web session is revoked like any device.
//! - [`area`]: what the signed-in account may see: its granted grids and the org nodes above them
//!   up to its own node. Everything else answers 404 (`not_found`), whether it exists or not.
//! - [`ledgers`]: 走访台账 list and page, approve / return with a comment.
//! - [`cases`]: 接诉即办 case board, deadline lights and workflow actions.
//! - [`visits`]: visit coverage per grid and worker.
//! - [`reports`]: metrics per org node and period with charts, 月考评 figures.
//! - [`exports`]: XLSX / CSV exports, masked by default, large ones as background jobs.
//! - [`reveal`]: one person's full ID number or phone, with the reveal permission and a
//!   reason, audited.
//! - [`erase`]: a district admin's erase form (find, reason, confirm), audited.
//! - [`write`]: the one write path: a review step or workflow transition appended to the
//!   record's Automerge document as a change by the web session's device (a server-side actor),
//!   committed through [`crate::storage::ChangeLog::commit`] exactly like an accepted pushed
//!   change (change log row + the server's copy + query tables), so the phones pull it.
//!
//! Pages answer errors with a friendly zh-CN (or English) page; `/review/api/*` answers JSON
//! `{code, message, message_zh}` ([`ApiError`]).

pub mod admin;
pub mod area;
pub mod cases;
pub mod erase;
pub mod exports;
pub mod guard;
pub mod i18n;
pub mod ledgers;
pub mod reports;
pub mod reveal;
pub mod session;
pub mod visits;
pub mod write;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use session::Q;

use crate::error::{ApiError, ApiResult};
use crate::http::AppState;
pub use area::Area;
pub use i18n::Lang;
pub use session::Viewer;

/// The dashboard's routes (merged into [`crate::router`]). Every state-changing request passes
/// [`guard::same_origin_writes`] first, and the JSON write endpoints [`guard::json_only`].
pub fn router(state: &AppState) -> Router<AppState> {
    let json = || axum::middleware::from_fn(guard::json_only);
    Router::new()
        .route("/review", get(home))
        .route("/review/", get(home))
        .route("/review/login", get(session::login_page).post(session::login_submit))
        .route("/review/logout", post(session::logout))
        .route("/review/lang", get(set_lang))
        .route("/", get(root))
        .route("/review/static/{file}", get(static_file))
        .route("/review/ledgers", get(ledgers::list_page))
        .route("/review/ledgers/{id}", get(ledgers::detail_page))
        .route("/review/ledgers/{id}/review", post(ledgers::review_form))
        .route("/review/api/ledgers", get(ledgers::list_api))
        .route("/review/api/ledgers/{id}", get(ledgers::detail_api))
        .route(
            "/review/api/ledgers/{id}/review",
            post(ledgers::review_api).layer(json()),
        )
        .route("/review/cases", get(cases::board_page))
        .route("/review/cases/{id}", get(cases::detail_page))
        .route("/review/cases/{id}/action", post(cases::action_form))
        .route("/review/api/cases", get(cases::list_api))
        .route("/review/api/cases/{id}", get(cases::detail_api))
        .route("/review/api/cases/{id}/action", post(cases::action_api).layer(json()))
        .route("/review/visits", get(visits::page))
        .route("/review/api/visits", get(visits::api))
        .route("/review/reports", get(reports::page))
        .route("/review/api/reports", get(reports::api))
        .route("/review/exports/{file}", get(exports::download))
        .route(
            "/review/api/persons/{id}/reveal",
            post(reveal::reveal_api).layer(json()),
        )
        .route("/review/exports/jobs/{id}", get(exports::job_page))
        .route("/review/api/exports/jobs/{id}", get(exports::job_api))
        .route("/review/exports/jobs/{id}/file", get(exports::job_file))
        .merge(admin::router()) // district administration (issue 11)
        .merge(erase::router()) // erase a person (issue 9)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::same_origin_writes,
        ))
}

/// The dashboard's browser files, compiled into the binary (one file a district can copy; no npm
/// at build or run time): its own scripts and style sheet (no inline script or style: the
/// Content-Security-Policy allows `'self'` only) and the pinned chart.js (`web/package.json`,
/// committed under `web/vendor/` with its licence).
const STATIC_FILES: &[(&str, &str, &[u8])] = &[
    (
        "dashboard.css",
        "text/css; charset=utf-8",
        include_bytes!("../static/review/dashboard.css"),
    ),
    (
        "reports.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../static/review/reports.js"),
    ),
    (
        "admin.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../static/review/admin.js"),
    ),
    (
        "chart.umd.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../web/vendor/chart.umd.min.js"),
    ),
    (
        "chart.js.LICENSE.md",
        "text/plain; charset=utf-8",
        include_bytes!("../web/vendor/chart.js.LICENSE.md"),
    ),
];

/// `GET /review/static/{file}`: an embedded file, or 404.
async fn static_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    match STATIC_FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, mime, body)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(mime)),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            *body,
        )
            .into_response(),
        None => ApiError::NotFound(format!("no static file `{file}`")).into_response(),
    }
}

async fn home() -> Redirect {
    Redirect::to("/review/ledgers")
}

#[derive(Deserialize)]
struct LangQuery {
    to: Option<String>,
    back: Option<String>,
}

/// `/review/lang?to=en&back=/review/ledgers`: remember the language in a cookie.
async fn set_lang(State(app): State<AppState>, Q(q): Q<LangQuery>) -> Response {
    let lang = Lang::parse(q.to.as_deref().unwrap_or("zh"));
    // Only local paths: never an open redirect.
    let back = q
        .back
        .filter(|b| b.starts_with("/review") && !b.starts_with("//") && !b.contains(['\r', '\n']))
        .unwrap_or_else(|| "/review/ledgers".into());
    let cookie = format!(
        "gb_lang={}; Path=/review; Max-Age=31536000; SameSite=Lax{}",
        lang.code(),
        session::secure_attr(&app.config)
    );
    let mut resp = Redirect::to(&back).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// `GET /`: a person opening the server's address lands on the dashboard (its login when not
/// signed in). Phones and scripts use `/v1/*`.
async fn root() -> Redirect {
    Redirect::to("/review")
}

/// A typed 422 for a bad input field.
pub fn invalid(code: &'static str, field: &str, message: impl Into<String>) -> ApiError {
    ApiError::Core(gridbook_core::Error::Invalid {
        code,
        field: field.to_string(),
        reason: message.into(),
    })
}

/// Something outside the viewer's area, or absent: the same answer for both.
pub fn not_found(what: &str) -> ApiError {
    ApiError::NotFound(what.to_string())
}

/// Parse an optional `YYYY-MM-DD` query value.
pub fn parse_day(field: &str, v: Option<&str>) -> ApiResult<Option<NaiveDate>> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<NaiveDate>()
            .map(Some)
            .map_err(|_| invalid("invalid_date", field, format!("`{s}` is not a date (YYYY-MM-DD)"))),
    }
}

/// Today in China (UTC+8).
pub fn today_cn() -> NaiveDate {
    gridbook_core::china_day(Utc::now())
}

/// A UTC instant as China local time, `2026-11-27 09:30`.
pub fn fmt_cn(t: DateTime<Utc>) -> String {
    (t + chrono::Duration::hours(8)).format("%Y-%m-%d %H:%M").to_string()
}

/// Run blocking work and map a join failure.
pub async fn run<T: Send + 'static>(f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    crate::http::blocking(f).await
}

/// An error shown as a page (HTML) in the viewer's language.
#[derive(Debug)]
pub struct PageError {
    /// What went wrong.
    pub error: Box<ApiError>,
    /// Language of the page.
    pub lang: Lang,
}

impl PageError {
    /// Wrap an error for a page in `lang`.
    pub fn new(error: ApiError, lang: Lang) -> PageError {
        PageError {
            error: Box::new(error),
            lang,
        }
    }
}

#[derive(Template)]
#[template(path = "review/error.html")]
struct ErrorPage<'a> {
    lang: Lang,
    status: u16,
    code: &'a str,
    message: String,
    back: &'a str,
}

impl ErrorPage<'_> {
    fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.error.status();
        if status.is_server_error() {
            tracing::error!(code = self.error.code(), error = %self.error, "page failed");
        } else {
            tracing::info!(code = self.error.code(), error = %self.error, "page refused");
        }
        if status == StatusCode::UNAUTHORIZED {
            return Redirect::to("/review/login").into_response();
        }
        let message = match (self.lang, status.is_server_error()) {
            (Lang::Zh, _) => self.error.message_zh(),
            (Lang::En, true) => "the server could not complete the request".to_string(),
            (Lang::En, false) => self.error.to_string(),
        };
        let page = ErrorPage {
            lang: self.lang,
            status: status.as_u16(),
            code: self.error.code(),
            message,
            back: "/review/ledgers",
        };
        let body = page
            .render()
            .unwrap_or_else(|_| format!("{} {}", status.as_u16(), self.error.code()));
        (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
    }
}

/// The result of a page handler.
pub type PageResult = Result<Response, PageError>;

/// Render a template into an HTML response.
pub fn html<T: Template>(t: &T, lang: Lang) -> PageResult {
    let body = t
        .render()
        .map_err(|e| PageError::new(ApiError::Internal(e.to_string()), lang))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}

/// Navigation and chrome every page shares.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Page language.
    pub lang: Lang,
    /// Active section (`ledgers`, `cases`, `visits`, `reports`).
    pub active: &'static str,
    /// Who is signed in.
    pub user: String,
    /// Role label.
    pub role: &'static str,
    /// The account's org node name.
    pub node_name: String,
    /// Current path and query, for the language switch.
    pub here: String,
    /// Whether the viewer is a district admin (the admin pages' link).
    pub admin: bool,
}

impl Layout {
    /// The chrome of a page for `viewer`.
    pub fn new(viewer: &Viewer, area: &Area, active: &'static str, here: String) -> Layout {
        Layout {
            lang: viewer.lang,
            active,
            user: viewer.account.display_name.clone(),
            role: viewer.lang.role(viewer.account.role),
            node_name: area.name(&viewer.account.org_node).to_string(),
            here,
            admin: viewer.account.role == gridbook_core::domain::Role::DistrictAdmin,
        }
    }

    /// A translated label.
    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    /// The language switch link.
    pub fn switch_href(&self) -> String {
        let to = match self.lang {
            Lang::Zh => "en",
            Lang::En => "zh",
        };
        format!("/review/lang?to={to}&back={}", urlencode(&self.here))
    }
}

/// Percent-encode a query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `State` shorthand used by the handlers.
pub type App = State<AppState>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(
            urlencode("/review/ledgers?node=a b&x=和"),
            "/review/ledgers%3Fnode%3Da%20b%26x%3D%E5%92%8C"
        );
        assert_eq!(parse_day("from", Some("")).unwrap(), None);
        assert_eq!(
            parse_day("from", Some("2026-02-30")).unwrap_err().code(),
            "invalid_date"
        );
        assert_eq!(fmt_cn("2026-11-27T01:30:00Z".parse().unwrap()), "2026-11-27 09:30");
    }
}
