//! [`ApiError`]: the one error type the apps see, mapped from `gridbook_core` in one `match`.
//!
//! Every variant carries the stable snake_case `code` of `core` (shared with the sync server and
//! never renamed), an English `message_en` and a zh-CN `message_zh` for a person. Variants group
//! codes by what an app does about them; match on `code` for anything finer.
//!
//! The field is `message_en`, not `message`: Kotlin's generated exception overrides
//! `Throwable.message` itself (`"code=…, messageEn=…, messageZh=…"`), and a field of that name
//! would clash with it.

use gridbook_core::Error as CoreError;
use gridbook_core::sync::SyncError;

/// `Result` with [`ApiError`].
pub type ApiResult<T> = Result<T, ApiError>;

/// What went wrong, with a stable `code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum ApiError {
    /// Bad input: a field failed validation, text is not a known value (an unknown workflow
    /// action or parameter), a date or JSON value does not parse, change bytes are garbage, an
    /// empty key. Fix the input.
    #[error("{code}: {message_en}")]
    Invalid {
        /// Stable code, e.g. `empty_field`, `invalid_date`, `unknown_action`.
        code: String,
        /// English message.
        message_en: String,
        /// zh-CN message.
        message_zh: String,
    },
    /// The record (or template, grid …) does not exist.
    #[error("{code}: {message_en}")]
    NotFound {
        /// Stable code: `not_found`.
        code: String,
        /// English message.
        message_en: String,
        /// zh-CN message.
        message_zh: String,
    },
    /// Not allowed now: outside the account's grids, a workflow or review step not allowed in
    /// this state or role, a deleted record, no such conflict, a closed store.
    #[error("{code}: {message_en}")]
    Refused {
        /// Stable code, e.g. `out_of_scope`, `role_not_allowed`, `record_deleted`, `store_closed`.
        code: String,
        /// English message.
        message_en: String,
        /// zh-CN message.
        message_zh: String,
    },
    /// The local store failed: SQLite, a corrupt document, a store from a newer app, a wrong key.
    #[error("{code}: {message_en}")]
    Storage {
        /// Stable code, e.g. `storage_error`, `corrupt_record`, `schema_too_new`, `wrong_key`.
        code: String,
        /// English message.
        message_en: String,
        /// zh-CN message.
        message_zh: String,
    },
    /// Sync failed: the network, the server's answer, the login.
    #[error("{code}: {message_en}")]
    Sync {
        /// Stable code, e.g. `network_error`, `unauthorized`, `token_expired`, `not_logged_in`.
        code: String,
        /// English message.
        message_en: String,
        /// zh-CN message.
        message_zh: String,
    },
}

impl ApiError {
    /// The stable code.
    pub fn code(&self) -> &str {
        match self {
            ApiError::Invalid { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Refused { code, .. }
            | ApiError::Storage { code, .. }
            | ApiError::Sync { code, .. } => code,
        }
    }

    pub(crate) fn invalid(code: &str, message_en: impl Into<String>, message_zh: impl Into<String>) -> Self {
        ApiError::Invalid {
            code: code.into(),
            message_en: message_en.into(),
            message_zh: message_zh.into(),
        }
    }

    pub(crate) fn closed() -> Self {
        ApiError::Refused {
            code: "store_closed".into(),
            message_en: "the store is closed".into(),
            message_zh: "数据库已关闭".into(),
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        let (code, message_en, message_zh) = (e.code().to_string(), e.to_string(), e.message_zh());
        match e {
            CoreError::Invalid { .. }
            | CoreError::InvalidGridCode { .. }
            | CoreError::InvalidChange(_)
            | CoreError::Workflow {
                code: "unknown_action" | "missing_param" | "invalid_param",
                ..
            } => ApiError::Invalid {
                code,
                message_en,
                message_zh,
            },
            CoreError::NotFound { .. } => ApiError::NotFound {
                code,
                message_en,
                message_zh,
            },
            CoreError::OutOfScope { .. }
            | CoreError::SensitiveUnavailable { .. }
            | CoreError::Erased { .. }
            | CoreError::Deleted { .. }
            | CoreError::NoConflict { .. }
            | CoreError::Workflow { .. } => ApiError::Refused {
                code,
                message_en,
                message_zh,
            },
            CoreError::SchemaTooNew { .. }
            | CoreError::WrongKey
            | CoreError::StoreWiped
            | CoreError::Db(_)
            | CoreError::Doc(_)
            | CoreError::Corrupt { .. } => ApiError::Storage {
                code,
                message_en,
                message_zh,
            },
        }
    }
}

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Store(inner) => inner.into(),
            other => {
                let message_zh = match &other {
                    SyncError::Transport(_) => "网络连接失败，请稍后重试",
                    SyncError::Server { status: 401, .. } => "登录已失效，请重新登录",
                    SyncError::NotLoggedIn => "尚未登录",
                    SyncError::InsecureUrl(_) => "服务器地址必须以 https:// 开头",
                    SyncError::InvalidUrl(_) => "服务器地址无效",
                    SyncError::UntrustedServer(_) => "服务器证书不受信任，请联系管理员",
                    SyncError::InvalidRootCertificate(_) => "根证书无效",
                    SyncError::DeviceWiped => "本设备已被管理员停用，本地数据已清除",
                    _ => "同步失败",
                };
                ApiError::Sync {
                    code: other.code().to_string(),
                    message_en: other.to_string(),
                    message_zh: message_zh.into(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_codes_pass_through() {
        let e: ApiError = CoreError::NotFound {
            kind: "household",
            id: "x".into(),
        }
        .into();
        assert_eq!(e.code(), "not_found");
        assert!(matches!(e, ApiError::NotFound { .. }));
        let e: ApiError = CoreError::OutOfScope { scope: "g".into() }.into();
        assert!(matches!(&e, ApiError::Refused { code, .. } if code == "out_of_scope"));
        let e: ApiError = SyncError::NotLoggedIn.into();
        assert!(matches!(&e, ApiError::Sync { code, .. } if code == "not_logged_in"));
    }
}
