//! [`ApiError`]: every error the HTTP API answers with, as JSON
//! `{"code", "message", "message_zh"}` with a stable snake_case code and a fitting status.
//! Codes are never renamed; messages carry no personal data. Also [`DbKeyError`], why the
//! database key could not be used (startup and CLI; `server_db` makes it).

use std::path::{Path, PathBuf};

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gridbook_core::sync::WireError;
use serde::Serialize;

/// An error answer of the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or unknown bearer token.
    #[error("missing or unknown token")]
    Unauthorized,
    /// The token's time is up.
    #[error("token expired")]
    TokenExpired,
    /// The token was revoked (logout).
    #[error("token revoked")]
    TokenRevoked,
    /// The device was revoked: its tokens no longer work and it cannot log in again.
    #[error("device revoked")]
    DeviceRevoked,
    /// Wrong username or password.
    #[error("wrong username or password")]
    BadCredentials,
    /// The account is disabled.
    #[error("account disabled")]
    AccountDisabled,
    /// The device id is registered to another account.
    #[error("device registered to another account")]
    DeviceTaken,
    /// Too many failed logins for this account or address: wait before the next try.
    #[error("too many failed logins; try again in {retry_after_secs} s")]
    LoginThrottled {
        /// Seconds to wait (also the `Retry-After` header).
        retry_after_secs: u64,
    },
    /// The account (or address) is locked after repeated failed logins.
    #[error("locked after repeated failed logins; try again in {retry_after_secs} s")]
    LoginLocked {
        /// Seconds until the lock ends (also the `Retry-After` header).
        retry_after_secs: u64,
    },
    /// A new password breaks the password policy.
    #[error("password refused: {0}")]
    WeakPassword(crate::model::password::PasswordRule),
    /// The refresh token is unknown, already used or revoked.
    #[error("refresh token invalid or already used")]
    RefreshTokenInvalid,
    /// The refresh token's time is up: log in with the password again.
    #[error("refresh token expired; log in again")]
    RefreshTokenExpired,
    /// Revealing full personal information needs the reveal permission.
    #[error("revealing full ID numbers and phones needs the reveal permission (district admin)")]
    RevealNotPermitted,
    /// A reveal must say why.
    #[error("a reveal needs a reason (1 to 200 characters)")]
    RevealReasonRequired,
    /// Authenticated, but not allowed.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// No such thing.
    #[error("not found: {0}")]
    NotFound(String),
    /// The body is larger than the limit.
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The body is not a well-formed message (bad CBOR/JSON, truncated, bad gzip).
    #[error("malformed body: {0}")]
    MalformedBody(String),
    /// The body is not what the endpoint reads, said in the request's terms (which field,
    /// truncated, not JSON ...); the library's own words go to the log only (issue 24).
    #[error("malformed body: {en}")]
    BadBody {
        /// What was wrong, English.
        en: String,
        /// What was wrong, zh-CN.
        zh: String,
    },
    /// A dashboard session token (the `gb_session` cookie) used as a bearer token on `/v1/*`.
    #[error("a dashboard session cannot be used as an API token; sign in through /v1/login")]
    WebSessionToken,
    /// A state-changing dashboard request from another site (`Origin` or `Sec-Fetch-Site`):
    /// cross-site request forgery, refused before anything runs.
    #[error("cross-site request refused: the dashboard accepts changes from its own pages only")]
    CrossSiteRequest,
    /// A JSON endpoint got a body of another type (what an HTML form or a simple `fetch` sends).
    #[error("this endpoint reads JSON: send content-type application/json")]
    UnsupportedMediaType,
    /// The body leads with a protocol version this server does not speak.
    #[error("unsupported protocol version {found}; this server speaks {supported}")]
    UnsupportedProtocolVersion {
        /// Found.
        found: u64,
        /// Spoken.
        supported: u32,
    },
    /// Too many changes in one push.
    #[error("too many changes in one request: {found} > {limit}")]
    TooManyChanges {
        /// Found.
        found: usize,
        /// Limit.
        limit: usize,
    },
    /// The device clock is far ahead of the server's.
    #[error("device clock is {ahead_secs} s ahead of the server; set the phone's time")]
    ClockInFuture {
        /// How far ahead.
        ahead_secs: i64,
    },
    /// The server is shutting down or not ready.
    #[error("service unavailable")]
    Unavailable,
    /// Too many logins at once: the password-hashing pool and its queue are full
    /// ([`crate::password`]).
    #[error("the server is busy with other logins; try again in {retry_after_secs} s")]
    ServerBusy {
        /// Seconds to wait (also the `Retry-After` header).
        retry_after_secs: u64,
    },
    /// A core error (storage, documents, rules).
    #[error(transparent)]
    Core(#[from] gridbook_core::Error),
    /// The database key (数据库密钥, ADR 0009) is wrong, missing or unreadable.
    #[error(transparent)]
    DbKey(#[from] DbKeyError),
    /// Something else failed inside.
    #[error("internal error: {0}")]
    Internal(String),
}

/// `Result` with [`ApiError`].
pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: String,
    message_zh: String,
}

impl From<WireError> for ApiError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::UnsupportedVersion { found } => ApiError::UnsupportedProtocolVersion {
                found,
                supported: gridbook_core::sync::PROTOCOL_VERSION,
            },
            WireError::Malformed(m) => {
                // The decoder's words (`Io(Error { kind: UnexpectedEof … })`, `Semantic(None,
                // "invalid type: …")`) go to the log; the answer says it in the request's terms.
                tracing::info!(detail = %m, "undecodable sync message");
                let (en, zh) = if m.contains("Eof") {
                    (
                        "the sync message ends too early (truncated)",
                        "同步数据不完整（被截断）",
                    )
                } else if m.contains("Semantic") {
                    (
                        "the sync message has a field of the wrong type or form",
                        "同步数据中有字段的类型或格式不对",
                    )
                } else {
                    ("the body is not a sync message (CBOR)", "请求数据不是同步消息（CBOR）")
                };
                ApiError::BadBody {
                    en: en.into(),
                    zh: zh.into(),
                }
            }
        }
    }
}

/// Read a JSON body into `T`: a failure says what was wrong in the request's terms (the field,
/// a truncated or non-JSON body), with the parser's own message in the log only.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        tracing::info!(detail = %inner, field = %path, "unreadable JSON body");
        json_fault(&path, &inner)
    })?;
    de.end().map_err(|e| {
        tracing::info!(detail = %e, "trailing bytes after a JSON body");
        json_fault("", &e)
    })?;
    Ok(value)
}

/// The request's-terms message of a JSON error at `path`.
fn json_fault(path: &str, e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let (line, column) = (e.line(), e.column());
    let (en, zh) = match e.classify() {
        Category::Eof => (
            "the body ends too early: it is empty or cut off".to_string(),
            "请求数据不完整（为空或被截断）".to_string(),
        ),
        Category::Syntax | Category::Io => (
            format!("the body is not valid JSON (line {line}, column {column})"),
            format!("请求数据不是有效的 JSON（第 {line} 行第 {column} 列）"),
        ),
        Category::Data => {
            let text = e.to_string();
            let named = |prefix: &str| {
                text.strip_prefix(prefix)
                    .and_then(|rest| rest.split('`').nth(1))
                    .map(str::to_string)
            };
            let field = (!path.is_empty() && path != ".").then(|| path.to_string());
            if let Some(missing) = named("missing field ") {
                let at = field.map(|f| format!("{f}.{missing}")).unwrap_or(missing);
                (format!("field `{at}` is missing"), format!("缺少字段 `{at}`"))
            } else if let Some(unknown) = named("unknown field ") {
                (format!("unknown field `{unknown}`"), format!("未知字段 `{unknown}`"))
            } else if let Some(f) = field {
                (
                    format!("field `{f}` has a value of the wrong type or form"),
                    format!("字段 `{f}` 的类型或格式不对"),
                )
            } else {
                (
                    "the body is not the JSON object this endpoint reads".to_string(),
                    "请求数据不是本接口需要的 JSON 对象".to_string(),
                )
            }
        }
    };
    ApiError::BadBody { en, zh }
}

impl ApiError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::TokenExpired => "token_expired",
            ApiError::TokenRevoked => "token_revoked",
            ApiError::DeviceRevoked => "device_revoked",
            ApiError::BadCredentials => "bad_credentials",
            ApiError::AccountDisabled => "account_disabled",
            ApiError::DeviceTaken => "device_taken",
            ApiError::LoginThrottled { .. } => "login_throttled",
            ApiError::LoginLocked { .. } => "login_locked",
            ApiError::WeakPassword(rule) => rule.code(),
            ApiError::RefreshTokenInvalid => "refresh_token_invalid",
            ApiError::RefreshTokenExpired => "refresh_token_expired",
            ApiError::RevealNotPermitted => "reveal_not_permitted",
            ApiError::RevealReasonRequired => "reveal_reason_required",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::MalformedBody(_) | ApiError::BadBody { .. } => "malformed_body",
            ApiError::WebSessionToken => "web_session_token",
            ApiError::CrossSiteRequest => "cross_site_request",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::UnsupportedProtocolVersion { .. } => "unsupported_protocol_version",
            ApiError::TooManyChanges { .. } => "too_many_changes",
            ApiError::ClockInFuture { .. } => "clock_in_future",
            ApiError::Unavailable => "unavailable",
            ApiError::ServerBusy { .. } => "server_busy",
            ApiError::Core(e) => e.code(),
            ApiError::DbKey(e) => e.code(),
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized
            | ApiError::TokenExpired
            | ApiError::TokenRevoked
            | ApiError::DeviceRevoked
            | ApiError::BadCredentials
            | ApiError::RefreshTokenInvalid
            | ApiError::RefreshTokenExpired
            | ApiError::WebSessionToken => StatusCode::UNAUTHORIZED,
            ApiError::CrossSiteRequest => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::LoginThrottled { .. } | ApiError::LoginLocked { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::WeakPassword(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RevealReasonRequired => StatusCode::BAD_REQUEST,
            ApiError::AccountDisabled | ApiError::Forbidden(_) | ApiError::RevealNotPermitted => StatusCode::FORBIDDEN,
            ApiError::DeviceTaken => StatusCode::CONFLICT,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge { .. } | ApiError::TooManyChanges { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MalformedBody(_)
            | ApiError::BadBody { .. }
            | ApiError::UnsupportedProtocolVersion { .. }
            | ApiError::ClockInFuture { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unavailable | ApiError::ServerBusy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Core(e) => core_status(e),
            ApiError::DbKey(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Message in zh-CN.
    pub fn message_zh(&self) -> String {
        match self {
            ApiError::Unauthorized => "未登录或登录凭证无效".into(),
            ApiError::TokenExpired => "登录已过期，请重新登录".into(),
            ApiError::TokenRevoked => "登录凭证已注销，请重新登录".into(),
            ApiError::DeviceRevoked => "本设备已被停用".into(),
            ApiError::BadCredentials => "用户名或密码错误".into(),
            ApiError::AccountDisabled => "账号已停用".into(),
            ApiError::DeviceTaken => "该设备已绑定其他账号".into(),
            ApiError::LoginThrottled { retry_after_secs } => {
                format!("登录失败次数过多，请 {retry_after_secs} 秒后再试")
            }
            ApiError::LoginLocked { retry_after_secs } => {
                format!(
                    "登录失败次数过多，已暂时锁定，请 {} 分钟后再试",
                    retry_after_secs.div_ceil(60)
                )
            }
            ApiError::WeakPassword(rule) => rule.message_zh().into(),
            ApiError::RefreshTokenInvalid => "续期凭证无效或已使用，请重新登录".into(),
            ApiError::RefreshTokenExpired => "登录已过期，请重新登录".into(),
            ApiError::RevealNotPermitted => "查看完整身份证号和电话需要查看权限（区级管理员）".into(),
            ApiError::RevealReasonRequired => "查看完整信息须填写事由（1 至 200 字）".into(),
            ApiError::Forbidden(_) => "无权进行此操作".into(),
            ApiError::NotFound(_) => "对象不存在".into(),
            ApiError::PayloadTooLarge { .. } => "请求数据过大".into(),
            ApiError::MalformedBody(_) => "请求数据格式错误".into(),
            ApiError::BadBody { zh, .. } => zh.clone(),
            ApiError::WebSessionToken => "网页看板的登录凭证不能用于手机接口，请在应用中登录".into(),
            ApiError::CrossSiteRequest => "拒绝来自其他网站的请求：看板只接受本站页面提交的操作".into(),
            ApiError::UnsupportedMediaType => "此接口只接受 JSON（content-type: application/json）".into(),
            ApiError::UnsupportedProtocolVersion { .. } => "同步协议版本不受支持，请升级应用".into(),
            ApiError::TooManyChanges { .. } => "单次上传的变更过多".into(),
            ApiError::ClockInFuture { .. } => "手机时间超前服务器过多，请校准手机时间".into(),
            ApiError::Unavailable => "服务暂不可用，请稍后重试".into(),
            ApiError::ServerBusy { retry_after_secs } => {
                format!("登录人数过多，服务器繁忙，请 {retry_after_secs} 秒后再试")
            }
            ApiError::Core(gridbook_core::Error::Invalid {
                code: "invalid_reason", ..
            }) => "擦除须填写原因（1 至 500 字）".into(),
            ApiError::Core(e) => e.message_zh(),
            ApiError::DbKey(e) => e.message_zh(),
            ApiError::Internal(_) => "服务器内部错误".into(),
        }
    }
}

/// The one mapping from core errors to HTTP statuses.
fn core_status(e: &gridbook_core::Error) -> StatusCode {
    use gridbook_core::Error as E;
    match e {
        E::Invalid { .. } | E::InvalidGridCode { .. } | E::NoConflict { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        E::InvalidChange(_) => StatusCode::BAD_REQUEST,
        E::NotFound { .. } => StatusCode::NOT_FOUND,
        E::OutOfScope { .. } => StatusCode::FORBIDDEN,
        E::Deleted { .. } | E::Workflow { .. } => StatusCode::CONFLICT,
        E::SensitiveUnavailable { .. } | E::Erased { .. } => StatusCode::CONFLICT,
        E::SchemaTooNew { .. } | E::WrongKey | E::StoreWiped | E::Db(_) | E::Doc(_) | E::Corrupt { .. } => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        // `server_busy` is load, not a fault: its message says how long to wait.
        let fault = status.is_server_error() && !matches!(self, ApiError::ServerBusy { .. });
        if fault {
            tracing::error!(code = self.code(), error = %self, "request failed");
        } else {
            tracing::info!(code = self.code(), error = %self, "request refused");
        }
        // Internal details stay in the log.
        let message = if fault {
            "the server could not complete the request".to_string()
        } else {
            self.to_string()
        };
        let retry_after = match &self {
            ApiError::LoginThrottled { retry_after_secs }
            | ApiError::LoginLocked { retry_after_secs }
            | ApiError::ServerBusy { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        let mut resp = (
            status,
            Json(Body {
                code: self.code(),
                message,
                message_zh: self.message_zh(),
            }),
        )
            .into_response();
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs.max(1)),
            );
        }
        resp
    }
}

/// Why the database key could not be used (a startup or CLI error; HTTP 500 if it ever reached
/// a request).
#[derive(Debug, thiserror::Error)]
pub enum DbKeyError {
    /// The key does not open the database: another key, an encrypted file without a key, or a
    /// file that is not a gridbook database.
    #[error("{}", wrong_key_message(.db, *.key_given))]
    WrongKey {
        /// The database (or backup) file.
        db: PathBuf,
        /// Whether a key was given.
        key_given: bool,
    },
    /// The key file cannot be read.
    #[error("cannot read the database key file {path}: {reason}")]
    KeyFileUnreadable {
        /// Key file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key file does not hold a key.
    #[error("{path} does not hold a database key (64 hex digits): {reason}")]
    KeyFileInvalid {
        /// Key file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// `new-db-key` never overwrites a key file (the database it opens would be lost).
    #[error("{0} exists; a database key file is never overwritten")]
    KeyFileExists(PathBuf),
}

fn wrong_key_message(db: &Path, key_given: bool) -> String {
    if key_given {
        format!(
            "the database key does not open {} (a key other than the one it was encrypted with, or not a gridbook database)",
            db.display()
        )
    } else {
        format!(
            "{} is encrypted (or not a database): set database_key_file (GRIDBOOK_DATABASE_KEY_FILE, --db-key-file) to the key it was encrypted with",
            db.display()
        )
    }
}

impl DbKeyError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            DbKeyError::WrongKey { .. } => "wrong_key",
            DbKeyError::KeyFileUnreadable { .. } => "db_key_file_unreadable",
            DbKeyError::KeyFileInvalid { .. } => "db_key_file_invalid",
            DbKeyError::KeyFileExists(_) => "db_key_file_exists",
        }
    }

    /// Message in zh-CN.
    pub fn message_zh(&self) -> String {
        match self {
            DbKeyError::WrongKey { db, key_given: true } => {
                format!(
                    "数据库密钥错误：该密钥无法打开 {}（不是加密时所用的密钥，或不是 gridbook 数据库）",
                    db.display()
                )
            }
            DbKeyError::WrongKey { db, key_given: false } => {
                format!(
                    "{} 已加密：请设置 database_key_file（GRIDBOOK_DATABASE_KEY_FILE、--db-key-file）为加密时所用的密钥文件",
                    db.display()
                )
            }
            DbKeyError::KeyFileUnreadable { path, .. } => format!("无法读取数据库密钥文件 {}", path.display()),
            DbKeyError::KeyFileInvalid { path, .. } => {
                format!("{} 不是有效的数据库密钥文件（应为 64 位十六进制数字）", path.display())
            }
            DbKeyError::KeyFileExists(p) => format!("{} 已存在，密钥文件不会被覆盖", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses() {
        assert_eq!(
            ApiError::from(WireError::UnsupportedVersion { found: 9 }).code(),
            "unsupported_protocol_version"
        );
        assert_eq!(
            ApiError::PayloadTooLarge { limit: 1 }.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        let e = ApiError::from(gridbook_core::Error::OutOfScope { scope: "g".into() });
        assert_eq!((e.code(), e.status()), ("out_of_scope", StatusCode::FORBIDDEN));
    }
}
