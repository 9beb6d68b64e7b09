//! The core's records and rows as uniffi sees them (rank 1 of this crate, over `error`).
//!
//! Most types cross **unchanged**: each `#[uniffi::remote(Record)]` / `#[uniffi::remote(Enum)]`
//! below is a copy of a `gridbook_core` declaration (same fields, same names), from which uniffi
//! derives the FFI code without a mirror type or a conversion. The copy must list every field of
//! the core type: the compiler refuses one that is missing or misspelt. What uniffi cannot derive
//! is here too:
//!
//! - **custom types** for the scalars the bindings see as something else:
//!   - an instant (`DateTime<Utc>`, [`Timestamp`] in the bindings) is `i64` **milliseconds since
//!     the Unix epoch (UTC)**; out of range → `invalid_time`;
//!   - a calendar day (`NaiveDate`: a China local date with no time zone) is ISO-8601
//!     `YYYY-MM-DD` text; anything else → `invalid_date`;
//!   - a free-form JSON value ([`Json`]: checklist answers, conflicting values) is JSON text
//!     (`"true"`, `"3"`, `"\"是\""`); text that is not JSON → `invalid_json`;
//!   - the core's ordered maps (`BTreeMap`) cross as maps ([`Answers`], [`Counts`], [`Params`]);
//!   - a device id (`Uuid`) is its text.
//!
//!   A failed lift returns an [`ApiError`], which uniffi hands to the app as the exported
//!   function's error (uniffi's `handle_failed_lift` downcasts it). The message names the value,
//!   not the field: uniffi lifts a field without telling the custom type which field it is.
//!   Arguments that are plain text (`today`, `from`, `value_json` …) are parsed by the functions
//!   themselves with [`parse_day`] / [`parse_json`], whose messages name the argument.
//! - [`CaseView`]: a phone's view of a case, flattened from the core's folded workflow (the one
//!   type with a conversion, because it does not cross unchanged).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
// The core types that cross unchanged, for the other modules of this crate and for Rust callers.
pub use gridbook_core::CaseListRow;
pub use gridbook_core::demo::DemoGrid;
pub use gridbook_core::doc::FieldConflict;
pub use gridbook_core::domain::{
    AnswerType, AttentionLevel, Case, CaseKind, ChecklistTemplate, GeoPoint, GridAssignment, HouseCall, Household,
    HousingUse, LabelCategory, Ledger, OrgLevel, OrgNode, Patrol, PatrolCheckin, Person, PersonLabel, Problem,
    RecordKind, Role, TemplateItem, TemplateSection, TrackPoint,
};
pub use gridbook_core::sync::{LoginInfo, SyncSummary};
pub use gridbook_core::workflow::{ClaimOutcome, DeadlineLevel, LimitUnit, ResolvedLimit};
pub use gridbook_core::{ApplySummary, DeleteResolution, Identity, RecordConflicts, RemoteChange};
pub use gridbook_core::{HouseholdRow, LedgerRow, VisitDue};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

// ------------------------------------------------------------------ custom types (scalars)

/// An instant: milliseconds since the Unix epoch, UTC.
pub type Timestamp = DateTime<Utc>;
/// A JSON value, as JSON text.
pub type Json = serde_json::Value;
/// Checklist answers by item id, each a JSON value.
pub type Answers = BTreeMap<String, Json>;
/// Counts by key (problems by kind).
pub type Counts = BTreeMap<String, i64>;
/// Text parameters by name (a workflow step's `department`, `days` …).
pub type Params = BTreeMap<String, String>;

uniffi::custom_type!(Timestamp, i64, {
    remote,
    lower: |t| t.timestamp_millis(),
    try_lift: |ms| Ok(instant_value(ms)?),
});

uniffi::custom_type!(NaiveDate, String, {
    remote,
    lower: |d| d.to_string(),
    try_lift: |text| Ok(day_value(&text)?),
});

uniffi::custom_type!(Json, String, {
    remote,
    lower: |v| v.to_string(),
    try_lift: |text| Ok(json_value(&text)?),
});

uniffi::custom_type!(Answers, HashMap<String, Json>, {
    remote,
    lower: |m| m.into_iter().collect(),
    try_lift: |m| Ok(m.into_iter().collect()),
});

uniffi::custom_type!(Counts, HashMap<String, i64>, {
    remote,
    lower: |m| m.into_iter().collect(),
    try_lift: |m| Ok(m.into_iter().collect()),
});

uniffi::custom_type!(Params, HashMap<String, String>, {
    remote,
    lower: |m| m.into_iter().collect(),
    try_lift: |m| Ok(m.into_iter().collect()),
});

// Only returned today (`LoginInfo.device_id`): no exported function lifts a `Uuid`.
uniffi::custom_type!(Uuid, String, {
    remote,
    lower: |u| u.to_string(),
    try_lift: |text| Ok(Uuid::parse_str(&text).map_err(|_| {
        ApiError::invalid("invalid_id", format!("`{text}` is not a UUID"), format!("「{text}」不是有效的编号"))
    })?),
});

/// A `YYYY-MM-DD` day from the argument `field` (its name is in the message).
pub(crate) fn parse_day(field: &str, text: &str) -> ApiResult<NaiveDate> {
    text.parse().map_err(|_| {
        ApiError::invalid(
            "invalid_date",
            format!("invalid {field}: `{text}` is not a YYYY-MM-DD date"),
            format!("字段「{field}」不是有效日期"),
        )
    })
}

/// A `YYYY-MM-DD` day inside a record (the field is not known here; the value is named).
pub(crate) fn day_value(text: &str) -> ApiResult<NaiveDate> {
    text.parse().map_err(|_| {
        ApiError::invalid(
            "invalid_date",
            format!("invalid date: `{text}` is not a YYYY-MM-DD date"),
            format!("「{text}」不是有效日期（应为 YYYY-MM-DD）"),
        )
    })
}

/// An instant from the argument `field`, in ms since the epoch.
pub(crate) fn instant(field: &str, ms: i64) -> ApiResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| {
        ApiError::invalid(
            "invalid_time",
            format!("invalid {field}: {ms} ms is out of range"),
            format!("字段「{field}」不是有效时间"),
        )
    })
}

/// An instant inside a record, in ms since the epoch (the value is named).
pub(crate) fn instant_value(ms: i64) -> ApiResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| {
        ApiError::invalid(
            "invalid_time",
            format!("invalid time: {ms} ms since the epoch is out of range"),
            format!("「{ms}」不是有效时间（毫秒）"),
        )
    })
}

/// A JSON value from the argument `field`.
pub(crate) fn parse_json(field: &str, text: &str) -> ApiResult<Json> {
    serde_json::from_str(text).map_err(|e| {
        ApiError::invalid(
            "invalid_json",
            format!("invalid {field}: not JSON ({e})"),
            format!("字段「{field}」不是有效的 JSON"),
        )
    })
}

/// A JSON value inside a record (answers may be personal: the text is not repeated).
pub(crate) fn json_value(text: &str) -> ApiResult<Json> {
    serde_json::from_str(text)
        .map_err(|e| ApiError::invalid("invalid_json", format!("invalid JSON value: {e}"), "值不是有效的 JSON"))
}

// ------------------------------------------------------------------ enums

/// What an account may do, bound to one org node.
#[uniffi::remote(Enum)]
pub enum Role {
    /// 专职/兼职网格员
    GridWorker,
    /// 网格长 / 楼栋长 / 单元长
    GridLeader,
    /// 社区书记 / 社区工作者
    CommunitySupervisor,
    /// 街道 网格中心 / 综治中心
    SubDistrictSupervisor,
    /// 职能部门
    Department,
    /// 区 网格化服务管理中心
    DistrictAdmin,
}

/// A level of the organisation tree.
#[uniffi::remote(Enum)]
pub enum OrgLevel {
    /// 区
    District,
    /// 街道
    SubDistrict,
    /// 社区
    Community,
    /// 网格
    Grid,
    /// 二级网格
    SubGrid,
    /// 楼栋
    Building,
    /// 单元
    Unit,
    /// 职能部门
    Department,
}

/// 房屋用途
#[uniffi::remote(Enum)]
pub enum HousingUse {
    /// 自住
    OwnerOccupied,
    /// 租赁
    Rented,
    /// 群租
    GroupRented,
    /// 空置
    Vacant,
}

/// Family of a person label.
#[uniffi::remote(Enum)]
pub enum LabelCategory {
    /// 实有人口
    Population,
    /// 关怀对象
    Care,
    /// 特殊人群 (sensitive)
    Special,
}

/// 关注程度
#[uniffi::remote(Enum)]
pub enum AttentionLevel {
    /// 一般
    Normal,
    /// 关注
    Attention,
    /// 重点
    Key,
}

/// Incident or resident request.
#[uniffi::remote(Enum)]
pub enum CaseKind {
    /// 网格事件
    Incident,
    /// 群众诉求
    Request,
}

/// Every kind of record.
#[uniffi::remote(Enum)]
pub enum RecordKind {
    /// 组织节点
    OrgNode,
    /// 户
    Household,
    /// 人员
    Person,
    /// 入户走访
    HouseCall,
    /// 巡查
    Patrol,
    /// 走访台账
    Ledger,
    /// 网格事件
    Incident,
    /// 群众诉求
    Request,
    /// 检查清单模板
    Template,
    /// 规则版本 (流程定义, 办理时限, 节假日日历)
    RuleSet,
}

/// The kind of answer a checklist item takes.
#[uniffi::remote(Enum)]
pub enum AnswerType {
    /// 是/否
    Bool,
    /// Free text.
    Text,
    /// A number.
    Number,
    /// One of `options`.
    Choice,
}

/// How to settle an edit that raced a delete.
#[uniffi::remote(Enum)]
pub enum DeleteResolution {
    /// Bring the record back with the edits.
    Restore,
    /// Keep it deleted.
    ConfirmDelete,
}

// ------------------------------------------------------------------ identity

/// Who is using the store: the signed-in account and the grids it may write.
#[uniffi::remote(Record)]
pub struct Identity {
    /// Account id.
    pub account_id: String,
    /// Role.
    pub role: Role,
    /// Org node the role is bound to.
    pub org_node: String,
    /// Grids (org node ids) this account may write.
    pub grids: Vec<String>,
}

// ------------------------------------------------------------------ records

/// A point on the map (WGS-84).
#[uniffi::remote(Record)]
pub struct GeoPoint {
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
}

/// 组织节点: one node of the org tree.
#[uniffi::remote(Record)]
pub struct OrgNode {
    /// 名称
    pub name: String,
    /// Level.
    pub level: OrgLevel,
    /// Code (grid code for grids).
    pub code: String,
    /// Parent node id; none only for the district.
    pub parent: Option<String>,
    /// In force from (YYYY-MM-DD).
    pub effective_from: NaiveDate,
    /// In force until, inclusive (YYYY-MM-DD); none while current.
    pub effective_to: Option<NaiveDate>,
}

/// From a day on, the household belongs to this grid.
#[uniffi::remote(Record)]
pub struct GridAssignment {
    /// Grid (org node id).
    pub grid_id: String,
    /// First day in this grid (YYYY-MM-DD).
    pub from: NaiveDate,
}

/// 户: one household.
#[uniffi::remote(Record)]
pub struct Household {
    /// Grid assignments, oldest first.
    pub grid_assignments: Vec<GridAssignment>,
    /// 楼栋
    pub building: String,
    /// 单元
    pub unit: String,
    /// 门牌
    pub room: String,
    /// Full address.
    pub address: String,
    /// 房屋用途
    pub housing_use: HousingUse,
    /// Day registered (YYYY-MM-DD).
    pub registered_on: NaiveDate,
}

/// One category label on a person.
#[uniffi::remote(Record)]
pub struct PersonLabel {
    /// Stable key, e.g. `living_alone_elderly`.
    pub label: String,
    /// Its family.
    pub category: LabelCategory,
    /// 开始日期 (YYYY-MM-DD).
    pub start: NaiveDate,
    /// 结束日期 (YYYY-MM-DD).
    pub end: Option<NaiveDate>,
    /// 关注程度
    pub attention: AttentionLevel,
    /// 包案人 / 帮扶人
    pub responsible: Option<String>,
}

/// 人员: one person.
#[uniffi::remote(Record)]
pub struct Person {
    /// Household id.
    pub household_id: String,
    /// Grid.
    pub grid_id: String,
    /// 姓名
    pub name: String,
    /// 身份证号 (sensitive)
    pub id_number: Option<String>,
    /// 电话 (sensitive)
    pub phone: Option<String>,
    /// 与户主关系
    pub relation: String,
    /// 出生日期 (YYYY-MM-DD)
    pub birth_date: Option<NaiveDate>,
    /// Category labels.
    pub labels: Vec<PersonLabel>,
}

/// A problem found on a house call or patrol.
#[uniffi::remote(Record)]
pub struct Problem {
    /// Kind key: `dispute`, `request`, `suggestion`, `security_hazard`, `fire_hazard`,
    /// `sanitation`, `other` (anything else is refused with `unknown_problem_kind`).
    pub kind: String,
    /// What was found.
    pub description: String,
    /// 当天自行解决
    pub solved_on_spot: bool,
    /// 上报
    pub reported: bool,
    /// The incident made from it.
    pub case_id: Option<String>,
}

/// 入户走访: a house call.
#[uniffi::remote(Record)]
pub struct HouseCall {
    /// Grid of the household at the time of the call.
    pub grid_id: String,
    /// Household visited.
    pub household_id: String,
    /// Persons met.
    pub person_ids: Vec<String>,
    /// Visitor (account id).
    pub visitor: String,
    /// 陪同人员
    pub companions: Vec<String>,
    /// Start (ms since the epoch, UTC).
    pub started_at: DateTime<Utc>,
    /// End (ms since the epoch, UTC).
    pub ended_at: DateTime<Utc>,
    /// Where.
    pub location: Option<GeoPoint>,
    /// Checklist template id.
    pub template_id: String,
    /// Checklist template version.
    pub template_version: u32,
    /// Answers by item id, each a JSON value as text (`"true"`, `"\"是\""`, `"3"`).
    pub answers: BTreeMap<String, Json>,
    /// Problems found.
    pub problems: Vec<Problem>,
    /// Photos (SHA-256 of the blob).
    pub photos: Vec<String>,
    /// 二次走访 day (YYYY-MM-DD).
    pub follow_up_due: Option<NaiveDate>,
    /// Notes.
    pub notes: String,
}

/// A GPS fix on a patrol track (sensitive).
#[uniffi::remote(Record)]
pub struct TrackPoint {
    /// When (ms since the epoch).
    pub at: DateTime<Utc>,
    /// Where.
    pub point: GeoPoint,
}

/// A check-in at a key point of the patrol route.
#[uniffi::remote(Record)]
pub struct PatrolCheckin {
    /// Key point.
    pub point: String,
    /// When (ms since the epoch).
    pub at: DateTime<Utc>,
    /// Note.
    pub note: String,
}

/// 巡查: a patrol.
#[uniffi::remote(Record)]
pub struct Patrol {
    /// Grid patrolled.
    pub grid_id: String,
    /// Worker (account id).
    pub worker: String,
    /// Start (ms since the epoch).
    pub started_at: DateTime<Utc>,
    /// End, once finished (ms since the epoch).
    pub ended_at: Option<DateTime<Utc>>,
    /// GPS track.
    pub track: Vec<TrackPoint>,
    /// Key-point check-ins.
    pub checkins: Vec<PatrolCheckin>,
    /// Problems found.
    pub findings: Vec<Problem>,
    /// Notes.
    pub notes: String,
}

/// 走访台账 / 民情日志: a worker's ledger for one day.
#[uniffi::remote(Record)]
pub struct Ledger {
    /// Grid.
    pub grid_id: String,
    /// Worker (account id).
    pub worker: String,
    /// Day (YYYY-MM-DD, China local date).
    pub day: NaiveDate,
    /// Summary notes.
    pub notes: String,
}

/// An incident (网格事件) or resident request (群众诉求).
#[uniffi::remote(Record)]
pub struct Case {
    /// Grid where it happened.
    pub grid_id: String,
    /// Incident or request.
    pub case_kind: CaseKind,
    /// Category key, e.g. `dispute`, `safety_hazard`.
    pub category: String,
    /// Second-level category key.
    pub subcategory: Option<String>,
    /// 规模: `individual` / `group` / `major_group`.
    pub scale: String,
    /// Short title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Where.
    pub location: Option<GeoPoint>,
    /// Address text.
    pub address: String,
    /// Reporter (account id).
    pub reporter: String,
    /// Intake channel of a request: `phone`, `window`, `wechat_group`, `app`, `video`.
    pub channel: Option<String>,
    /// Resident's name.
    pub resident_name: Option<String>,
    /// Resident's phone (sensitive).
    pub resident_phone: Option<String>,
    /// Photos (SHA-256).
    pub photos: Vec<String>,
    /// When found / received (ms since the epoch).
    pub occurred_at: DateTime<Utc>,
}

/// One checklist item.
#[uniffi::remote(Record)]
pub struct TemplateItem {
    /// Stable id within the template.
    pub id: String,
    /// zh-CN label.
    pub label: String,
    /// Answer type.
    pub answer: AnswerType,
    /// Options of a choice item.
    pub options: Vec<String>,
    /// 六访 items: visit frequency in days.
    pub frequency_days: Option<u32>,
    /// 六访 items: the person labels that make this visit due.
    pub labels: Vec<String>,
}

/// A section: 三知 / 四清 / 五报 / 六访.
#[uniffi::remote(Record)]
pub struct TemplateSection {
    /// Stable key.
    pub key: String,
    /// zh-CN name.
    pub name: String,
    /// Items.
    pub items: Vec<TemplateItem>,
}

/// One published version of a checklist template.
#[uniffi::remote(Record)]
pub struct ChecklistTemplate {
    /// Template id.
    pub template_id: String,
    /// Version, from 1.
    pub version: u32,
    /// zh-CN name.
    pub name: String,
    /// Ordinary households are visited at least this often (days).
    pub household_frequency_days: u32,
    /// Sections in order.
    pub sections: Vec<TemplateSection>,
}

// ------------------------------------------------------------------ query rows

/// A household as lists show it.
#[uniffi::remote(Record)]
pub struct HouseholdRow {
    /// Id.
    pub id: String,
    /// Current grid.
    pub grid_id: String,
    /// Address.
    pub address: String,
    /// Persons living there.
    pub persons: i64,
    /// Last house call day (YYYY-MM-DD).
    pub last_visit: Option<NaiveDate>,
}

/// 应访: a visit that is due or overdue.
#[uniffi::remote(Record)]
pub struct VisitDue {
    /// Household to visit.
    pub household_id: String,
    /// Person the visit is for; empty for the ordinary household visit.
    pub person_id: String,
    /// Template item (`household` for the ordinary visit).
    pub item_id: String,
    /// zh-CN label of the item.
    pub item_label: String,
    /// Day the visit fell due (YYYY-MM-DD).
    pub due: NaiveDate,
    /// Days past due (0 = due today).
    pub days_overdue: i64,
    /// Last house call (YYYY-MM-DD).
    pub last_visit: Option<NaiveDate>,
}

/// A ledger with the counts derived from its worker's day.
#[uniffi::remote(Record)]
pub struct LedgerRow {
    /// Ledger id.
    pub id: String,
    /// Grid.
    pub grid_id: String,
    /// Worker.
    pub worker: String,
    /// Day (YYYY-MM-DD).
    pub day: NaiveDate,
    /// 审核状态: `draft`, `submitted`, `approved`, `returned`.
    pub review_state: String,
    /// 退回意见
    pub review_comment: Option<String>,
    /// Edited after approval, not yet seen by the supervisor.
    pub flagged: bool,
    /// 走访户数
    pub households_visited: i64,
    /// House calls that day.
    pub house_calls: i64,
    /// Patrols that day.
    pub patrols: i64,
    /// Problems by kind.
    pub problems_by_kind: BTreeMap<String, i64>,
    /// 当天自行解决
    pub solved_on_spot: i64,
    /// 上报
    pub reported: i64,
}

/// A field holding concurrent values.
#[uniffi::remote(Record)]
pub struct FieldConflict {
    /// `/`-separated path, e.g. `body/phone`: pass it to `resolve_conflict`.
    pub path: String,
    /// All values as JSON text, the one currently shown first.
    pub values: Vec<Json>,
}

/// Conflicts of one record.
#[uniffi::remote(Record)]
pub struct RecordConflicts {
    /// Record id.
    pub id: String,
    /// Kind.
    pub kind: RecordKind,
    /// Fields with concurrent values.
    pub fields: Vec<FieldConflict>,
    /// Deleted on one replica while edited on another: settle with `resolve_delete`.
    pub edited_while_deleted: bool,
}

// ------------------------------------------------------------------ exchanging changes

/// One Automerge change of one record, as it travels between replicas.
#[uniffi::remote(Record)]
pub struct RemoteChange {
    /// Record id.
    pub doc_id: String,
    /// The change's bytes.
    pub bytes: Vec<u8>,
}

/// What merging remote changes did.
#[uniffi::remote(Record)]
pub struct ApplySummary {
    /// Changes newly applied.
    pub applied: u64,
    /// Changes already held.
    pub duplicates: u64,
    /// Changes waiting for dependencies.
    pub pending: u64,
    /// Records whose state changed.
    pub records_changed: u64,
}

/// What a sync did.
#[uniffi::remote(Record)]
pub struct SyncSummary {
    /// Local changes the server acknowledged.
    pub sent: u64,
    /// Changes and snapshots received that changed something here.
    pub received: u64,
    /// Local changes the server refused (quarantined).
    pub rejected: u64,
    /// Records touched by this sync that now hold conflicts.
    pub conflicts: u64,
    /// Round trips.
    pub requests: u64,
    /// Bytes sent (compressed).
    pub bytes_sent: u64,
    /// Bytes received (compressed).
    pub bytes_received: u64,
}

/// What the server says at login. (Its `Debug` hides the tokens.)
#[uniffi::remote(Record)]
pub struct LoginInfo {
    /// Bearer token (keep it secret; store it in the Keystore / Keychain).
    pub token: String,
    /// Expiry of the token (ms since the epoch).
    pub expires_at: DateTime<Utc>,
    /// The registered device id (UUID text).
    pub device_id: Uuid,
    /// Account id.
    pub account_id: String,
    /// Role.
    pub role: Role,
    /// Org node.
    pub org_node: String,
    /// Grids this account may write.
    pub grids: Vec<String>,
    /// Server clock (ms since the epoch).
    pub server_time: i64,
    /// Refresh token (keep it secret; store it in the Keystore / Keychain).
    pub refresh_token: Option<String>,
}

/// Ids of a generated demo grid.
#[uniffi::remote(Record)]
pub struct DemoGrid {
    /// The grid id.
    pub grid: String,
    /// Household ids.
    pub households: Vec<String>,
    /// Person ids.
    pub persons: Vec<String>,
    /// House call ids.
    pub house_calls: Vec<String>,
    /// Patrol ids.
    pub patrols: Vec<String>,
    /// Ledger ids.
    pub ledgers: Vec<String>,
    /// Incident ids.
    pub incidents: Vec<String>,
}

// ------------------------------------------------------------------ cases (接诉即办)

/// 红黄灯: where a stage stands against its time limit.
#[uniffi::remote(Enum)]
pub enum DeadlineLevel {
    /// 正常
    OnTime,
    /// 黄灯
    Yellow,
    /// 红灯
    Red,
    /// 超期
    Overdue,
}

/// 抢单: the signed-in account's claim.
#[uniffi::remote(Enum)]
pub enum ClaimOutcome {
    /// 抢单成功
    Won,
    /// 抢单未成功
    Lost,
    /// Nobody owns it.
    NotClaimed,
}

/// Unit of a time limit.
#[uniffi::remote(Enum)]
pub enum LimitUnit {
    /// 工作日
    WorkingDays,
    /// 工作小时
    WorkingHours,
    /// 自然小时 (突发事件)
    NaturalHours,
}

/// The time limit that applies to a case's stage.
#[uniffi::remote(Record)]
pub struct ResolvedLimit {
    /// Stage key.
    pub stage: String,
    /// How many units.
    pub amount: u32,
    /// Unit.
    pub unit: LimitUnit,
    /// 黄灯 threshold (percent of the budget).
    pub yellow_pct: u8,
    /// 红灯 threshold (percent of the budget).
    pub red_pct: u8,
    /// Whether a pending extension request stops the clock.
    pub pause_on_extension: bool,
}

/// One step of a case's history (core: `workflow::Transition`).
pub type CaseTransition = gridbook_core::workflow::Transition;

/// One step of a case's history.
#[uniffi::remote(Record)]
pub struct CaseTransition {
    /// Unique id.
    pub id: String,
    /// Action name (`report`, `accept`, `dispatch` …).
    pub action: String,
    /// State the actor saw.
    pub from: String,
    /// State it led to.
    pub to: String,
    /// Actor (account id).
    pub actor: String,
    /// The actor's role.
    pub role: Role,
    /// Org node the actor acted for.
    pub org_node: String,
    /// When, server-anchored (ms since the epoch).
    pub at: DateTime<Utc>,
    /// The device's own clock (ms since the epoch).
    pub device_time: DateTime<Utc>,
    /// Reason or comment.
    pub reason: Option<String>,
    /// Parameters (`department`, `days`, `card`, `satisfaction` …).
    pub params: BTreeMap<String, String>,
    /// Attachments (SHA-256).
    pub attachments: Vec<String>,
}

/// The deadline of the current stage of a case (core: `workflow::DeadlineStatus`).
pub type CaseDeadline = gridbook_core::workflow::DeadlineStatus;

/// The deadline of the current stage of a case.
#[uniffi::remote(Record)]
pub struct CaseDeadline {
    /// Stage key.
    pub stage: String,
    /// The time limit used.
    pub limit: ResolvedLimit,
    /// When the stage clock started (ms since the epoch).
    pub started_at: DateTime<Utc>,
    /// 截止时间 (ms since the epoch).
    pub deadline: DateTime<Utc>,
    /// 黄灯 from (ms).
    pub yellow_at: DateTime<Utc>,
    /// 红灯 from (ms).
    pub red_at: DateTime<Utc>,
    /// Level now.
    pub level: DeadlineLevel,
    /// 超期
    pub overdue: bool,
    /// The clock is stopped (extension pending).
    pub paused: bool,
    /// When the case left the stage (ms).
    pub finished_at: Option<DateTime<Utc>>,
    /// Approved extension working days in the stage.
    pub extension_days: u32,
}

/// A case in a list.
#[uniffi::remote(Record)]
pub struct CaseListRow {
    /// Record id.
    pub id: String,
    /// `incident` or `request`.
    pub kind: String,
    /// Grid.
    pub grid_id: String,
    /// Category key.
    pub category: String,
    /// Title.
    pub title: String,
    /// Current state.
    pub state: String,
    /// Workflow conflicts awaiting a supervisor.
    pub conflicts: i64,
    /// Deadline of the handling stage (ms since the epoch).
    pub deadline: Option<DateTime<Utc>>,
    /// When it was found or received (ms since the epoch).
    pub occurred_at: DateTime<Utc>,
}

/// A case as a phone shows it: the record, its folded workflow, deadline and open actions.
///
/// Not the core's `CaseView`: the folded state (`CaseState`, a large internal type) is
/// flattened to the fields a phone shows, the rest passed as JSON.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CaseView {
    /// Record id.
    pub id: String,
    /// The record's fields.
    pub case: Case,
    /// Current state (`draft`, `reported`, `accepted`, `handling`, `handled`, `verified`,
    /// `feedback`, `archived` …).
    pub state: String,
    /// Timed stage of the current state.
    pub stage: Option<String>,
    /// Level holding the case.
    pub holder: Option<OrgLevel>,
    /// Department it is dispatched to.
    pub department: Option<String>,
    /// Account handling it.
    pub assignee: Option<String>,
    /// 抢单 winner.
    pub claim_owner: Option<String>,
    /// 催办 count.
    pub urge_count: u32,
    /// Transitions skipped as invalid at their point (workflow conflicts for a supervisor).
    pub workflow_conflicts: u32,
    /// The whole folded state as JSON (everything not mirrored above).
    pub state_json: String,
    /// The whole history, in order.
    pub history: Vec<CaseTransition>,
    /// Deadline of the current stage.
    pub deadline: Option<CaseDeadline>,
    /// Actions the signed-in account could take now.
    pub available_actions: Vec<String>,
    /// 抢单 outcome for the signed-in account.
    pub claim: ClaimOutcome,
}

impl From<gridbook_core::CaseView> for CaseView {
    fn from(x: gridbook_core::CaseView) -> Self {
        CaseView {
            state_json: serde_json::to_string(&x.state).unwrap_or_default(),
            id: x.id,
            case: x.case,
            stage: x.state.stage,
            holder: x.state.holder,
            department: x.state.department,
            assignee: x.state.assignee,
            claim_owner: x.state.claim_owner,
            urge_count: x.state.urge_count,
            workflow_conflicts: x.state.conflicts.len() as u32,
            state: x.state.state,
            history: x.history,
            deadline: x.deadline,
            available_actions: x.available_actions,
            claim: x.claim,
        }
    }
}
