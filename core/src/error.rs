//! The one error type of `core`, with stable machine-readable codes.
//!
//! Codes are snake_case, shared with the FFI and the sync server, and never renamed: a phone
//! app or a district script may match on them. Messages carry no personal data.
//!
//! Rank 0 of the crate's layers (core/README.md): it uses nothing else of the crate.

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `core`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A field failed validation (empty name, end before start, bad answer type ...).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The stable code, e.g. `end_before_start`.
        code: &'static str,
        /// Which field (dotted path).
        field: String,
        /// Why, in English.
        reason: String,
    },
    /// 网格编码: a grid code that does not follow the configured scheme.
    #[error("invalid grid code `{code}`: {reason}")]
    InvalidGridCode {
        /// The rejected code.
        code: String,
        /// Why.
        reason: String,
    },
    /// A referenced record does not exist (unknown household, template ...).
    #[error("{kind} `{id}` not found")]
    NotFound {
        /// What kind of record was looked up.
        kind: &'static str,
        /// Its id.
        id: String,
    },
    /// The record belongs to a grid this account may not write.
    #[error("grid `{scope}` is outside this account's area")]
    OutOfScope {
        /// The grid id.
        scope: String,
    },
    /// The record was deleted; edits need a restore first.
    #[error("record `{id}` is deleted")]
    Deleted {
        /// Its id.
        id: String,
    },
    /// Bytes that are not a valid Automerge change or document.
    #[error("invalid change bytes: {0}")]
    InvalidChange(String),
    /// No such conflict to resolve.
    #[error("no conflict at `{path}` of record `{id}`")]
    NoConflict {
        /// Record id.
        id: String,
        /// Path of the field.
        path: String,
    },
    /// A workflow transition was refused (wrong state, role or parameters).
    #[error("{message}")]
    Workflow {
        /// The workflow's own stable code, e.g. `role_not_allowed`.
        code: &'static str,
        /// Why, in English.
        message: String,
    },
    /// The store file is from a newer app version.
    #[error("store schema version {found} is newer than this app supports ({supported})")]
    SchemaTooNew {
        /// Version in the file.
        found: i64,
        /// Newest this build knows.
        supported: i64,
    },
    /// 数据库密钥错误: the key does not open the store file (another key, no key for an
    /// encrypted file, or a file that is not a store at all).
    #[error("the key does not open this store")]
    WrongKey,
    /// A person's sensitive fields cannot be read here: this device holds no key for them, or
    /// the person was erased (加密擦除, docs/adr/0004-crypto-shredding.md).
    #[error("the sensitive fields of person `{id}` are unavailable on this device")]
    SensitiveUnavailable {
        /// Person id.
        id: String,
    },
    /// The person was erased; its sensitive fields can no longer be written.
    #[error("person `{id}` was erased")]
    Erased {
        /// Person id.
        id: String,
    },
    /// The store was wiped after its device was revoked (remote wipe, issue 9); it cannot be
    /// opened again.
    #[error("this store was wiped after its device was revoked")]
    StoreWiped,
    /// SQLite failed (converted where it happens, in `db` and `store`: this module names no
    /// storage engine).
    #[error("database error: {0}")]
    Db(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Automerge failed on a document we hold.
    #[error("document error: {0}")]
    Doc(#[from] automerge::AutomergeError),
    /// A stored document could not be decoded into its record type.
    #[error("record `{id}` could not be decoded: {reason}")]
    Corrupt {
        /// Record id.
        id: String,
        /// Why.
        reason: String,
    },
}

impl Error {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid { code, .. } => code,
            Error::InvalidGridCode { .. } => "invalid_grid_code",
            Error::NotFound { .. } => "not_found",
            Error::OutOfScope { .. } => "out_of_scope",
            Error::Deleted { .. } => "record_deleted",
            Error::InvalidChange(_) => "invalid_change",
            Error::NoConflict { .. } => "no_conflict",
            Error::Workflow { code, .. } => code,
            Error::SchemaTooNew { .. } => "schema_too_new",
            Error::WrongKey => "wrong_key",
            Error::SensitiveUnavailable { .. } => "sensitive_unavailable",
            Error::Erased { .. } => "person_erased",
            Error::StoreWiped => "store_wiped",
            Error::Db(_) => "storage_error",
            Error::Doc(_) => "document_error",
            Error::Corrupt { .. } => "corrupt_record",
        }
    }

    /// A short message for a person, zh-CN first.
    pub fn message_zh(&self) -> String {
        match self {
            Error::Invalid { code, field, .. } => match rule_message_zh(code) {
                Some(m) => m.to_string(),
                None => format!("字段「{field}」无效"),
            },
            Error::InvalidGridCode { code, .. } => format!("网格编码「{code}」不符合编码规则"),
            Error::NotFound { .. } => "记录不存在".into(),
            Error::OutOfScope { .. } => "超出本账号的网格范围".into(),
            Error::Deleted { .. } => "记录已删除".into(),
            Error::InvalidChange(_) => "变更数据无效".into(),
            Error::NoConflict { .. } => "该字段没有冲突".into(),
            Error::Workflow { .. } => "当前状态或角色不允许此操作".into(),
            Error::SchemaTooNew { .. } => "数据版本高于本应用，请升级应用".into(),
            Error::WrongKey => "数据库密钥错误，无法打开本地数据".into(),
            Error::SensitiveUnavailable { .. } => "该人员的敏感信息在本设备上不可用".into(),
            Error::Erased { .. } => "该人员信息已被删除（加密擦除）".into(),
            Error::StoreWiped => "本设备已被管理员停用，本地数据已清除".into(),
            Error::Db(_) | Error::Doc(_) => "本地存储出错".into(),
            Error::Corrupt { .. } => "记录已损坏".into(),
        }
    }

    pub(crate) fn invalid(code: &'static str, field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            code,
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// The zh-CN message of a rule-version refusal code (规则版本, see `rules`; `None` for other
/// codes).
fn rule_message_zh(code: &str) -> Option<&'static str> {
    Some(match code {
        "rule_version_not_newer" => "版本号须高于已发布的版本（随应用发布的为第 1 版）",
        "rule_version_mismatch" => "文件中的版本号与发布的版本号不一致",
        "invalid_rule_set" => "规则文件无效（格式或内容有误）",
        "rules_inconsistent" => "规则与现行的流程定义或办理时限不一致（每个计时环节都须有时限）",
        "calendar_year_dropped" => "新日历须保留现行日历已有的年份",
        "unknown_rule" => "未知的规则类别",
        "unknown_rule_version" => "案件所用的规则版本服务器上没有",
        "rule_set_admin_only" => "规则版本只能由区级管理端发布",
        "rule_pins_changed" => "案件创建后不能更改所用的规则版本",
        _ => return None,
    })
}
