//! Login and the web session: a supervisor signs in with the password checked by
//! [`crate::auth::login`], which registers a fresh "web" device and issues a token; the token
//! travels in the HttpOnly `gb_session` cookie (SameSite=Strict, so cross-site forms cannot
//! post with it; `Secure` under TLS) and is checked on every request by
//! [`crate::auth::authenticate_token`]. The token is marked as a web session: `/v1/*` refuses it.
//! Cross-site writes are refused before the handlers by [`super::guard`] (issue 24).

use askama::Template;
use axum::extract::{Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use gridbook_core::review::is_reviewer;
use serde::Deserialize;
use uuid::Uuid;

use super::{Lang, PageError, html};
use crate::auth;
use crate::config::Config;
use crate::error::ApiError;
use crate::http::AppState;
use crate::scope::Grants;
use crate::storage::Account;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "gb_session";

/// The signed-in supervisor of a request.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The account.
    pub account: Account,
    /// The web session's device: the Automerge actor of the review changes it makes.
    pub device: Uuid,
    /// Grants now.
    pub grants: Grants,
    /// Page language.
    pub lang: Lang,
    /// Whether the request is for `/review/api/*` (JSON errors) or a page.
    pub api: bool,
    /// SHA-256 of the session token.
    pub token_hash: String,
}

/// A cookie value from the `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// The language of a request: `?lang=` first, then the `gb_lang` cookie, then zh-CN.
pub fn lang_of(parts: &Parts) -> Lang {
    let from_query = parts.uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "lang")
            .map(|(_, v)| Lang::parse(v))
    });
    from_query
        .or_else(|| cookie(&parts.headers, "gb_lang").map(Lang::parse))
        .unwrap_or_default()
}

/// Why a request has no viewer.
pub enum Rejection {
    /// A page: go to the login page (or an error page).
    Page(PageError),
    /// An API call: JSON error.
    Api(ApiError),
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Rejection::Page(p) => p.into_response(),
            Rejection::Api(e) => e.into_response(),
        }
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let lang = lang_of(parts);
        let api = parts.uri.path().starts_with("/review/api/");
        let reject = move |e: ApiError| {
            if api {
                Rejection::Api(e)
            } else {
                Rejection::Page(PageError::new(e, lang))
            }
        };
        let token = cookie(&parts.headers, SESSION_COOKIE)
            .map(str::to_string)
            .or_else(|| {
                // API clients may also send the token as a bearer header.
                parts
                    .headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(str::to_string)
            })
            .ok_or_else(|| reject(ApiError::Unauthorized))?;
        let storage = app.storage.clone();
        let now = crate::model::clock::now_ms();
        let (ctx, _web) = crate::http::blocking(move || auth::authenticate_token(&storage, &token, now))
            .await
            .map_err(reject)?;
        if !is_reviewer(ctx.account.role) {
            return Err(reject(ApiError::Forbidden("the dashboard is for supervisors".into())));
        }
        Ok(Viewer {
            account: ctx.account,
            device: ctx.device.id,
            grants: ctx.grants,
            lang,
            api,
            token_hash: ctx.token_hash,
        })
    }
}

#[derive(Template)]
#[template(path = "review/login.html")]
struct LoginPage {
    lang: Lang,
    error: Option<String>,
    username: String,
}

impl LoginPage {
    fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }
    fn switch_href(&self) -> &'static str {
        match self.lang {
            Lang::Zh => "/review/lang?to=en&back=/review/login",
            Lang::En => "/review/lang?to=zh&back=/review/login",
        }
    }
}

/// `GET /review/login`
pub async fn login_page(parts: Parts) -> Response {
    let lang = lang_of(&parts);
    let page = LoginPage {
        lang,
        error: None,
        username: String::new(),
    };
    html(&page, lang).into_response()
}

/// The login form.
#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
}

/// `POST /review/login`: check the password and the role, set the session cookie.
pub async fn login_submit(State(app): State<AppState>, parts: Parts, F(form): F<LoginForm>) -> Response {
    let lang = lang_of(&parts);
    let fail = |e: ApiError, username: String| {
        let status = e.status();
        let message = match lang {
            Lang::Zh => e.message_zh(),
            Lang::En => e.to_string(),
        };
        let retry_after = match e {
            ApiError::ServerBusy { retry_after_secs }
            | ApiError::LoginThrottled { retry_after_secs }
            | ApiError::LoginLocked { retry_after_secs } => Some(retry_after_secs.max(1)),
            _ => None,
        };
        let page = LoginPage {
            lang,
            error: Some(message),
            username,
        };
        let mut resp = (status, html(&page, lang)).into_response();
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    };
    if form.username.len() > 100 || form.password.len() > 200 {
        return fail(ApiError::BadCredentials, String::new());
    }
    let storage = app.storage.clone();
    let ttl_ms = app.config.token_ttl_hours.min(24) * 3_600_000;
    let addr = crate::http::client_ip(&parts.extensions);
    let app2 = app.clone();
    let req = auth::LoginRequest {
        username: form.username.trim().to_string(),
        password: form.password,
        device_id: Uuid::new_v4(),
        device_name: "web dashboard".into(),
        web: true,
    };
    if let Err(e) = crate::http::login_precheck(&app, &req.username, addr) {
        return fail(e, form.username);
    }
    let result = app
        .hasher
        .run(move |hasher| {
            let now = crate::model::clock::now_ms();
            let (token, t, account, _) = crate::http::throttled_login(&app2, hasher, &req, addr, ttl_ms, now)?;
            if !is_reviewer(account.role) {
                storage.revoke_device(t.device_id, now)?;
                return Err(ApiError::Forbidden("the dashboard is for supervisors".into()));
            }
            Ok(token)
        })
        .await;
    match result {
        Ok(token) => {
            let cookie = format!(
                "{SESSION_COOKIE}={token}; Path=/review; HttpOnly; SameSite=Strict; Max-Age=86400{}",
                secure_attr(&app.config)
            );
            let mut resp = Redirect::to("/review/ledgers").into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp
        }
        Err(e) => fail(e, form.username),
    }
}

/// `POST /review/logout`: revoke the session's device and clear the cookie.
pub async fn logout(State(app): State<AppState>, viewer: Viewer) -> Response {
    let storage = app.storage.clone();
    let device = viewer.device;
    let now = crate::model::clock::now_ms();
    let _ = crate::http::blocking(move || Ok(storage.revoke_device(device, now)?)).await;
    let mut resp = Redirect::to("/review/login").into_response();
    let clear = format!(
        "{SESSION_COOKIE}=; Path=/review; HttpOnly; SameSite=Strict; Max-Age=0{}",
        secure_attr(&app.config)
    );
    if let Ok(v) = HeaderValue::from_str(&clear) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// `; Secure` when browsers reach the dashboard over HTTPS: the server serves TLS itself, or
/// its configured public origin is `https://` (a TLS proxy in front). Issue 24.
pub fn secure_attr(config: &Config) -> &'static str {
    let https = config.tls_cert.is_some()
        || config
            .public_origin
            .as_deref()
            .is_some_and(|o| o.to_ascii_lowercase().starts_with("https://"));
    if https { "; Secure" } else { "" }
}

/// `Query<T>` whose failures are typed: a JSON error under `/review/api/`, an error page
/// elsewhere (never axum's plain-text rejection).
pub struct Q<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Q(v)),
            Err(e) => {
                let err = super::invalid("invalid_query", "query", e.body_text());
                Err(if parts.uri.path().starts_with("/review/api/") {
                    Rejection::Api(err)
                } else {
                    Rejection::Page(PageError::new(err, lang_of(parts)))
                })
            }
        }
    }
}

/// `Form<T>` of a page whose failures are a typed error page.
pub struct F<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for F<T> {
    type Rejection = Rejection;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let lang = {
            let (parts, body) = req.into_parts();
            let lang = lang_of(&parts);
            let req = axum::extract::Request::from_parts(parts, body);
            match Form::<T>::from_request(req, state).await {
                Ok(Form(v)) => return Ok(F(v)),
                Err(e) => (lang, e.body_text()),
            }
        };
        Err(Rejection::Page(PageError::new(
            super::invalid("invalid_form", "form", lang.1),
            lang.0,
        )))
    }
}
