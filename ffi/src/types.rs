//! Mirror types of the core records and rows, as `uniffi::Record`s and `uniffi::Enum`s, with
//! their conversions. No logic beyond conversion.
//!
//! Time on the boundary:
//! - an **instant** (`DateTime<Utc>` in core) is `i64` **milliseconds since the Unix epoch (UTC)**:
//!   fields named `*_at`, `at`, `expires_at`, `server_time`;
//! - a **calendar day** (`NaiveDate`: a China local date with no time zone) is an ISO-8601
//!   `YYYY-MM-DD` string: `day`, `from`, `registered_on`, `start`, `end`, `birth_date`, `due` …
//!   Text that is not such a date is refused with code `invalid_date`.
//!
//! Free-form JSON values (checklist answers, conflicting values, a conflict's chosen value) are
//! JSON text (`"true"`, `"3"`, `"\"是\""`); text that is not JSON is refused with `invalid_json`.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use gridbook_core::domain as d;
use gridbook_core::store::queries as q;
use serde_json::Value as Json;

use crate::error::{ApiError, ApiResult};

// ------------------------------------------------------------------ scalars

pub(crate) fn parse_day(field: &str, text: &str) -> ApiResult<NaiveDate> {
    text.parse().map_err(|_| {
        ApiError::invalid(
            "invalid_date",
            format!("invalid {field}: `{text}` is not a YYYY-MM-DD date"),
            format!("字段「{field}」不是有效日期"),
        )
    })
}

fn parse_day_opt(field: &str, text: Option<String>) -> ApiResult<Option<NaiveDate>> {
    text.map(|t| parse_day(field, &t)).transpose()
}

fn day_text(d: NaiveDate) -> String {
    d.to_string()
}

pub(crate) fn instant(field: &str, ms: i64) -> ApiResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| {
        ApiError::invalid(
            "invalid_time",
            format!("invalid {field}: {ms} ms is out of range"),
            format!("字段「{field}」不是有效时间"),
        )
    })
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn parse_json(field: &str, text: &str) -> ApiResult<Json> {
    serde_json::from_str(text).map_err(|e| {
        ApiError::invalid(
            "invalid_json",
            format!("invalid {field}: not JSON ({e})"),
            format!("字段「{field}」不是有效的 JSON"),
        )
    })
}

fn json_text(v: &Json) -> String {
    v.to_string()
}

fn conv_vec<A, B: TryFrom<A, Error = ApiError>>(v: Vec<A>) -> ApiResult<Vec<B>> {
    v.into_iter().map(B::try_from).collect()
}

fn map_vec<A, B: From<A>>(v: Vec<A>) -> Vec<B> {
    v.into_iter().map(B::from).collect()
}

// ------------------------------------------------------------------ enums

macro_rules! mirror_enum {
    ($(#[$m:meta])* $name:ident = $core:ty { $($(#[$vm:meta])* $v:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl From<$core> for $name {
            fn from(x: $core) -> Self {
                type C = $core;
                match x { $(C::$v => $name::$v),+ }
            }
        }

        impl From<$name> for $core {
            fn from(x: $name) -> Self {
                type C = $core;
                match x { $($name::$v => C::$v),+ }
            }
        }
    };
}

mirror_enum! {
    /// What an account may do, bound to one org node.
    Role = d::Role {
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
}

mirror_enum! {
    /// A level of the organisation tree.
    OrgLevel = d::OrgLevel {
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
}

mirror_enum! {
    /// 房屋用途
    HousingUse = d::HousingUse {
        /// 自住
        OwnerOccupied,
        /// 租赁
        Rented,
        /// 群租
        GroupRented,
        /// 空置
        Vacant,
    }
}

mirror_enum! {
    /// Family of a person label.
    LabelCategory = d::LabelCategory {
        /// 实有人口
        Population,
        /// 关怀对象
        Care,
        /// 特殊人群 (sensitive)
        Special,
    }
}

mirror_enum! {
    /// 关注程度
    AttentionLevel = d::AttentionLevel {
        /// 一般
        Normal,
        /// 关注
        Attention,
        /// 重点
        Key,
    }
}

mirror_enum! {
    /// Incident or resident request.
    CaseKind = d::CaseKind {
        /// 网格事件
        Incident,
        /// 群众诉求
        Request,
    }
}

mirror_enum! {
    /// Every kind of record.
    RecordKind = d::RecordKind {
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
}

mirror_enum! {
    /// The kind of answer a checklist item takes.
    AnswerType = d::AnswerType {
        /// 是/否
        Bool,
        /// Free text.
        Text,
        /// A number.
        Number,
        /// One of `options`.
        Choice,
    }
}

mirror_enum! {
    /// How to settle an edit that raced a delete.
    DeleteResolution = gridbook_core::DeleteResolution {
        /// Bring the record back with the edits.
        Restore,
        /// Keep it deleted.
        ConfirmDelete,
    }
}

// ------------------------------------------------------------------ identity

/// Who is using the store: the signed-in account and the grids it may write.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
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

impl From<gridbook_core::Identity> for Identity {
    fn from(x: gridbook_core::Identity) -> Self {
        Identity {
            account_id: x.account_id,
            role: x.role.into(),
            org_node: x.org_node,
            grids: x.grids,
        }
    }
}

impl From<Identity> for gridbook_core::Identity {
    fn from(x: Identity) -> Self {
        gridbook_core::Identity {
            account_id: x.account_id,
            role: x.role.into(),
            org_node: x.org_node,
            grids: x.grids,
        }
    }
}

// ------------------------------------------------------------------ records

/// A point on the map (WGS-84).
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct GeoPoint {
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
}

impl From<d::GeoPoint> for GeoPoint {
    fn from(x: d::GeoPoint) -> Self {
        GeoPoint { lat: x.lat, lon: x.lon }
    }
}

impl From<GeoPoint> for d::GeoPoint {
    fn from(x: GeoPoint) -> Self {
        d::GeoPoint { lat: x.lat, lon: x.lon }
    }
}

/// 组织节点: one node of the org tree.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
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
    pub effective_from: String,
    /// In force until, inclusive (YYYY-MM-DD); none while current.
    pub effective_to: Option<String>,
}

impl From<d::OrgNode> for OrgNode {
    fn from(x: d::OrgNode) -> Self {
        OrgNode {
            name: x.name,
            level: x.level.into(),
            code: x.code,
            parent: x.parent,
            effective_from: day_text(x.effective_from),
            effective_to: x.effective_to.map(day_text),
        }
    }
}

impl TryFrom<OrgNode> for d::OrgNode {
    type Error = ApiError;
    fn try_from(x: OrgNode) -> ApiResult<Self> {
        Ok(d::OrgNode {
            name: x.name,
            level: x.level.into(),
            code: x.code,
            parent: x.parent,
            effective_from: parse_day("effective_from", &x.effective_from)?,
            effective_to: parse_day_opt("effective_to", x.effective_to)?,
        })
    }
}

/// From a day on, the household belongs to this grid.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct GridAssignment {
    /// Grid (org node id).
    pub grid_id: String,
    /// First day in this grid (YYYY-MM-DD).
    pub from: String,
}

impl From<d::GridAssignment> for GridAssignment {
    fn from(x: d::GridAssignment) -> Self {
        GridAssignment {
            grid_id: x.grid_id,
            from: day_text(x.from),
        }
    }
}

impl TryFrom<GridAssignment> for d::GridAssignment {
    type Error = ApiError;
    fn try_from(x: GridAssignment) -> ApiResult<Self> {
        Ok(d::GridAssignment {
            grid_id: x.grid_id,
            from: parse_day("grid_assignments.from", &x.from)?,
        })
    }
}

/// 户: one household.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
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
    pub registered_on: String,
}

impl From<d::Household> for Household {
    fn from(x: d::Household) -> Self {
        Household {
            grid_assignments: map_vec(x.grid_assignments),
            building: x.building,
            unit: x.unit,
            room: x.room,
            address: x.address,
            housing_use: x.housing_use.into(),
            registered_on: day_text(x.registered_on),
        }
    }
}

impl TryFrom<Household> for d::Household {
    type Error = ApiError;
    fn try_from(x: Household) -> ApiResult<Self> {
        Ok(d::Household {
            grid_assignments: conv_vec(x.grid_assignments)?,
            building: x.building,
            unit: x.unit,
            room: x.room,
            address: x.address,
            housing_use: x.housing_use.into(),
            registered_on: parse_day("registered_on", &x.registered_on)?,
        })
    }
}

/// One category label on a person.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PersonLabel {
    /// Stable key, e.g. `living_alone_elderly`.
    pub label: String,
    /// Its family.
    pub category: LabelCategory,
    /// 开始日期 (YYYY-MM-DD).
    pub start: String,
    /// 结束日期 (YYYY-MM-DD).
    pub end: Option<String>,
    /// 关注程度
    pub attention: AttentionLevel,
    /// 包案人 / 帮扶人
    pub responsible: Option<String>,
}

impl From<d::PersonLabel> for PersonLabel {
    fn from(x: d::PersonLabel) -> Self {
        PersonLabel {
            label: x.label,
            category: x.category.into(),
            start: day_text(x.start),
            end: x.end.map(day_text),
            attention: x.attention.into(),
            responsible: x.responsible,
        }
    }
}

impl TryFrom<PersonLabel> for d::PersonLabel {
    type Error = ApiError;
    fn try_from(x: PersonLabel) -> ApiResult<Self> {
        Ok(d::PersonLabel {
            label: x.label,
            category: x.category.into(),
            start: parse_day("labels.start", &x.start)?,
            end: parse_day_opt("labels.end", x.end)?,
            attention: x.attention.into(),
            responsible: x.responsible,
        })
    }
}

/// 人员: one person.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
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
    pub birth_date: Option<String>,
    /// Category labels.
    pub labels: Vec<PersonLabel>,
}

impl From<d::Person> for Person {
    fn from(x: d::Person) -> Self {
        Person {
            household_id: x.household_id,
            grid_id: x.grid_id,
            name: x.name,
            id_number: x.id_number,
            phone: x.phone,
            relation: x.relation,
            birth_date: x.birth_date.map(day_text),
            labels: map_vec(x.labels),
        }
    }
}

impl TryFrom<Person> for d::Person {
    type Error = ApiError;
    fn try_from(x: Person) -> ApiResult<Self> {
        Ok(d::Person {
            household_id: x.household_id,
            grid_id: x.grid_id,
            name: x.name,
            id_number: x.id_number,
            phone: x.phone,
            relation: x.relation,
            birth_date: parse_day_opt("birth_date", x.birth_date)?,
            labels: conv_vec(x.labels)?,
        })
    }
}

/// A problem found on a house call or patrol.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
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

impl From<d::Problem> for Problem {
    fn from(x: d::Problem) -> Self {
        Problem {
            kind: x.kind,
            description: x.description,
            solved_on_spot: x.solved_on_spot,
            reported: x.reported,
            case_id: x.case_id,
        }
    }
}

impl From<Problem> for d::Problem {
    fn from(x: Problem) -> Self {
        d::Problem {
            kind: x.kind,
            description: x.description,
            solved_on_spot: x.solved_on_spot,
            reported: x.reported,
            case_id: x.case_id,
        }
    }
}

/// 入户走访: a house call.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
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
    pub started_at: i64,
    /// End (ms since the epoch, UTC).
    pub ended_at: i64,
    /// Where.
    pub location: Option<GeoPoint>,
    /// Checklist template id.
    pub template_id: String,
    /// Checklist template version.
    pub template_version: u32,
    /// Answers by item id, each a JSON value as text (`"true"`, `"\"是\""`, `"3"`).
    pub answers: HashMap<String, String>,
    /// Problems found.
    pub problems: Vec<Problem>,
    /// Photos (SHA-256 of the blob).
    pub photos: Vec<String>,
    /// 二次走访 day (YYYY-MM-DD).
    pub follow_up_due: Option<String>,
    /// Notes.
    pub notes: String,
}

impl From<d::HouseCall> for HouseCall {
    fn from(x: d::HouseCall) -> Self {
        HouseCall {
            grid_id: x.grid_id,
            household_id: x.household_id,
            person_ids: x.person_ids,
            visitor: x.visitor,
            companions: x.companions,
            started_at: millis(x.started_at),
            ended_at: millis(x.ended_at),
            location: x.location.map(Into::into),
            template_id: x.template_id,
            template_version: x.template_version,
            answers: x.answers.iter().map(|(k, v)| (k.clone(), json_text(v))).collect(),
            problems: map_vec(x.problems),
            photos: x.photos,
            follow_up_due: x.follow_up_due.map(day_text),
            notes: x.notes,
        }
    }
}

impl TryFrom<HouseCall> for d::HouseCall {
    type Error = ApiError;
    fn try_from(x: HouseCall) -> ApiResult<Self> {
        let answers = x
            .answers
            .iter()
            .map(|(k, v)| Ok((k.clone(), parse_json(&format!("answers.{k}"), v)?)))
            .collect::<ApiResult<BTreeMap<_, _>>>()?;
        Ok(d::HouseCall {
            grid_id: x.grid_id,
            household_id: x.household_id,
            person_ids: x.person_ids,
            visitor: x.visitor,
            companions: x.companions,
            started_at: instant("started_at", x.started_at)?,
            ended_at: instant("ended_at", x.ended_at)?,
            location: x.location.map(Into::into),
            template_id: x.template_id,
            template_version: x.template_version,
            answers,
            problems: map_vec(x.problems),
            photos: x.photos,
            follow_up_due: parse_day_opt("follow_up_due", x.follow_up_due)?,
            notes: x.notes,
        })
    }
}

/// A GPS fix on a patrol track (sensitive).
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct TrackPoint {
    /// When (ms since the epoch).
    pub at: i64,
    /// Where.
    pub point: GeoPoint,
}

impl From<d::TrackPoint> for TrackPoint {
    fn from(x: d::TrackPoint) -> Self {
        TrackPoint {
            at: millis(x.at),
            point: x.point.into(),
        }
    }
}

impl TryFrom<TrackPoint> for d::TrackPoint {
    type Error = ApiError;
    fn try_from(x: TrackPoint) -> ApiResult<Self> {
        Ok(d::TrackPoint {
            at: instant("track.at", x.at)?,
            point: x.point.into(),
        })
    }
}

/// A check-in at a key point of the patrol route.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PatrolCheckin {
    /// Key point.
    pub point: String,
    /// When (ms since the epoch).
    pub at: i64,
    /// Note.
    pub note: String,
}

impl From<d::PatrolCheckin> for PatrolCheckin {
    fn from(x: d::PatrolCheckin) -> Self {
        PatrolCheckin {
            point: x.point,
            at: millis(x.at),
            note: x.note,
        }
    }
}

impl TryFrom<PatrolCheckin> for d::PatrolCheckin {
    type Error = ApiError;
    fn try_from(x: PatrolCheckin) -> ApiResult<Self> {
        Ok(d::PatrolCheckin {
            point: x.point,
            at: instant("checkins.at", x.at)?,
            note: x.note,
        })
    }
}

/// 巡查: a patrol.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Patrol {
    /// Grid patrolled.
    pub grid_id: String,
    /// Worker (account id).
    pub worker: String,
    /// Start (ms since the epoch).
    pub started_at: i64,
    /// End, once finished (ms since the epoch).
    pub ended_at: Option<i64>,
    /// GPS track.
    pub track: Vec<TrackPoint>,
    /// Key-point check-ins.
    pub checkins: Vec<PatrolCheckin>,
    /// Problems found.
    pub findings: Vec<Problem>,
    /// Notes.
    pub notes: String,
}

impl From<d::Patrol> for Patrol {
    fn from(x: d::Patrol) -> Self {
        Patrol {
            grid_id: x.grid_id,
            worker: x.worker,
            started_at: millis(x.started_at),
            ended_at: x.ended_at.map(millis),
            track: map_vec(x.track),
            checkins: map_vec(x.checkins),
            findings: map_vec(x.findings),
            notes: x.notes,
        }
    }
}

impl TryFrom<Patrol> for d::Patrol {
    type Error = ApiError;
    fn try_from(x: Patrol) -> ApiResult<Self> {
        Ok(d::Patrol {
            grid_id: x.grid_id,
            worker: x.worker,
            started_at: instant("started_at", x.started_at)?,
            ended_at: x.ended_at.map(|t| instant("ended_at", t)).transpose()?,
            track: conv_vec(x.track)?,
            checkins: conv_vec(x.checkins)?,
            findings: map_vec(x.findings),
            notes: x.notes,
        })
    }
}

/// 走访台账 / 民情日志: a worker's ledger for one day.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Ledger {
    /// Grid.
    pub grid_id: String,
    /// Worker (account id).
    pub worker: String,
    /// Day (YYYY-MM-DD, China local date).
    pub day: String,
    /// Summary notes.
    pub notes: String,
}

impl From<d::Ledger> for Ledger {
    fn from(x: d::Ledger) -> Self {
        Ledger {
            grid_id: x.grid_id,
            worker: x.worker,
            day: day_text(x.day),
            notes: x.notes,
        }
    }
}

impl TryFrom<Ledger> for d::Ledger {
    type Error = ApiError;
    fn try_from(x: Ledger) -> ApiResult<Self> {
        Ok(d::Ledger {
            grid_id: x.grid_id,
            worker: x.worker,
            day: parse_day("day", &x.day)?,
            notes: x.notes,
        })
    }
}

/// An incident (网格事件) or resident request (群众诉求).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
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
    pub occurred_at: i64,
}

impl From<d::Case> for Case {
    fn from(x: d::Case) -> Self {
        Case {
            grid_id: x.grid_id,
            case_kind: x.case_kind.into(),
            category: x.category,
            subcategory: x.subcategory,
            scale: x.scale,
            title: x.title,
            description: x.description,
            location: x.location.map(Into::into),
            address: x.address,
            reporter: x.reporter,
            channel: x.channel,
            resident_name: x.resident_name,
            resident_phone: x.resident_phone,
            photos: x.photos,
            occurred_at: millis(x.occurred_at),
        }
    }
}

impl TryFrom<Case> for d::Case {
    type Error = ApiError;
    fn try_from(x: Case) -> ApiResult<Self> {
        Ok(d::Case {
            grid_id: x.grid_id,
            case_kind: x.case_kind.into(),
            category: x.category,
            subcategory: x.subcategory,
            scale: x.scale,
            title: x.title,
            description: x.description,
            location: x.location.map(Into::into),
            address: x.address,
            reporter: x.reporter,
            channel: x.channel,
            resident_name: x.resident_name,
            resident_phone: x.resident_phone,
            photos: x.photos,
            occurred_at: instant("occurred_at", x.occurred_at)?,
        })
    }
}

/// One checklist item.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
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
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TemplateSection {
    /// Stable key.
    pub key: String,
    /// zh-CN name.
    pub name: String,
    /// Items.
    pub items: Vec<TemplateItem>,
}

/// One published version of a checklist template.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
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

impl From<d::ChecklistTemplate> for ChecklistTemplate {
    fn from(x: d::ChecklistTemplate) -> Self {
        ChecklistTemplate {
            template_id: x.template_id,
            version: x.version,
            name: x.name,
            household_frequency_days: x.household_frequency_days,
            sections: x
                .sections
                .into_iter()
                .map(|s| TemplateSection {
                    key: s.key,
                    name: s.name,
                    items: s
                        .items
                        .into_iter()
                        .map(|i| TemplateItem {
                            id: i.id,
                            label: i.label,
                            answer: i.answer.into(),
                            options: i.options,
                            frequency_days: i.frequency_days,
                            labels: i.labels,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

impl From<ChecklistTemplate> for d::ChecklistTemplate {
    fn from(x: ChecklistTemplate) -> Self {
        d::ChecklistTemplate {
            template_id: x.template_id,
            version: x.version,
            name: x.name,
            household_frequency_days: x.household_frequency_days,
            sections: x
                .sections
                .into_iter()
                .map(|s| d::TemplateSection {
                    key: s.key,
                    name: s.name,
                    items: s
                        .items
                        .into_iter()
                        .map(|i| d::TemplateItem {
                            id: i.id,
                            label: i.label,
                            answer: i.answer.into(),
                            options: i.options,
                            frequency_days: i.frequency_days,
                            labels: i.labels,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

// ------------------------------------------------------------------ query rows

/// A household as lists show it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
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
    pub last_visit: Option<String>,
}

impl From<q::HouseholdRow> for HouseholdRow {
    fn from(x: q::HouseholdRow) -> Self {
        HouseholdRow {
            id: x.id,
            grid_id: x.grid_id,
            address: x.address,
            persons: x.persons,
            last_visit: x.last_visit.map(day_text),
        }
    }
}

/// 应访: a visit that is due or overdue.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
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
    pub due: String,
    /// Days past due (0 = due today).
    pub days_overdue: i64,
    /// Last house call (YYYY-MM-DD).
    pub last_visit: Option<String>,
}

impl From<q::VisitDue> for VisitDue {
    fn from(x: q::VisitDue) -> Self {
        VisitDue {
            household_id: x.household_id,
            person_id: x.person_id,
            item_id: x.item_id,
            item_label: x.item_label,
            due: day_text(x.due),
            days_overdue: x.days_overdue,
            last_visit: x.last_visit.map(day_text),
        }
    }
}

/// A ledger with the counts derived from its worker's day.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct LedgerRow {
    /// Ledger id.
    pub id: String,
    /// Grid.
    pub grid_id: String,
    /// Worker.
    pub worker: String,
    /// Day (YYYY-MM-DD).
    pub day: String,
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
    pub problems_by_kind: HashMap<String, i64>,
    /// 当天自行解决
    pub solved_on_spot: i64,
    /// 上报
    pub reported: i64,
}

impl From<q::LedgerRow> for LedgerRow {
    fn from(x: q::LedgerRow) -> Self {
        LedgerRow {
            id: x.id,
            grid_id: x.grid_id,
            worker: x.worker,
            day: day_text(x.day),
            review_state: x.review_state,
            review_comment: x.review_comment,
            flagged: x.flagged,
            households_visited: x.households_visited,
            house_calls: x.house_calls,
            patrols: x.patrols,
            problems_by_kind: x.problems_by_kind.into_iter().collect(),
            solved_on_spot: x.solved_on_spot,
            reported: x.reported,
        }
    }
}

/// A field holding concurrent values.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FieldConflict {
    /// `/`-separated path, e.g. `body/phone`: pass it to `resolve_conflict`.
    pub path: String,
    /// All values as JSON text, the one currently shown first.
    pub values: Vec<String>,
}

/// Conflicts of one record.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
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

impl From<gridbook_core::RecordConflicts> for RecordConflicts {
    fn from(x: gridbook_core::RecordConflicts) -> Self {
        RecordConflicts {
            id: x.id,
            kind: x.kind.into(),
            fields: x
                .fields
                .into_iter()
                .map(|f| FieldConflict {
                    path: f.path,
                    values: f.values.iter().map(json_text).collect(),
                })
                .collect(),
            edited_while_deleted: x.edited_while_deleted,
        }
    }
}

// ------------------------------------------------------------------ exchanging changes

/// One Automerge change of one record, as it travels between replicas.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RemoteChange {
    /// Record id.
    pub doc_id: String,
    /// The change's bytes.
    pub bytes: Vec<u8>,
}

impl From<gridbook_core::RemoteChange> for RemoteChange {
    fn from(x: gridbook_core::RemoteChange) -> Self {
        RemoteChange {
            doc_id: x.doc_id,
            bytes: x.bytes,
        }
    }
}

impl From<RemoteChange> for gridbook_core::RemoteChange {
    fn from(x: RemoteChange) -> Self {
        gridbook_core::RemoteChange {
            doc_id: x.doc_id,
            bytes: x.bytes,
        }
    }
}

/// What merging remote changes did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
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

impl From<gridbook_core::ApplySummary> for ApplySummary {
    fn from(x: gridbook_core::ApplySummary) -> Self {
        ApplySummary {
            applied: x.applied as u64,
            duplicates: x.duplicates as u64,
            pending: x.pending as u64,
            records_changed: x.records_changed as u64,
        }
    }
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
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

impl From<gridbook_core::sync::SyncSummary> for SyncSummary {
    fn from(x: gridbook_core::sync::SyncSummary) -> Self {
        SyncSummary {
            sent: x.sent as u64,
            received: x.received as u64,
            rejected: x.rejected as u64,
            conflicts: x.conflicts as u64,
            requests: x.requests as u64,
            bytes_sent: x.bytes_sent,
            bytes_received: x.bytes_received,
        }
    }
}

/// What the server says at login.
#[derive(Clone, PartialEq, uniffi::Record)]
pub struct LoginInfo {
    /// Bearer token (keep it secret; store it in the Keystore / Keychain).
    pub token: String,
    /// Expiry of the token (ms since the epoch).
    pub expires_at: i64,
    /// The registered device id.
    pub device_id: String,
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

/// Tokens are never printed.
impl std::fmt::Debug for LoginInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginInfo")
            .field("token", &"<hidden>")
            .field("expires_at", &self.expires_at)
            .field("device_id", &self.device_id)
            .field("account_id", &self.account_id)
            .field("role", &self.role)
            .field("org_node", &self.org_node)
            .field("grids", &self.grids)
            .field("server_time", &self.server_time)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

impl From<gridbook_core::sync::LoginInfo> for LoginInfo {
    fn from(x: gridbook_core::sync::LoginInfo) -> Self {
        LoginInfo {
            token: x.token,
            expires_at: millis(x.expires_at),
            device_id: x.device_id.to_string(),
            account_id: x.account_id,
            role: x.role.into(),
            org_node: x.org_node,
            grids: x.grids,
            server_time: x.server_time,
            refresh_token: x.refresh_token,
        }
    }
}

/// Ids of a generated demo grid.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
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

impl From<gridbook_core::demo::DemoGrid> for DemoGrid {
    fn from(x: gridbook_core::demo::DemoGrid) -> Self {
        DemoGrid {
            grid: x.grid,
            households: x.households,
            persons: x.persons,
            house_calls: x.house_calls,
            patrols: x.patrols,
            ledgers: x.ledgers,
            incidents: x.incidents,
        }
    }
}

// ------------------------------------------------------------------ cases (接诉即办)

mirror_enum! {
    /// 红黄灯: where a stage stands against its time limit.
    DeadlineLevel = gridbook_core::workflow::DeadlineLevel {
        /// 正常
        OnTime,
        /// 黄灯
        Yellow,
        /// 红灯
        Red,
        /// 超期
        Overdue,
    }
}

mirror_enum! {
    /// 抢单: the signed-in account's claim.
    ClaimOutcome = gridbook_core::workflow::ClaimOutcome {
        /// 抢单成功
        Won,
        /// 抢单未成功
        Lost,
        /// Nobody owns it.
        NotClaimed,
    }
}

/// One step of a case's history.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
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
    pub at: i64,
    /// The device's own clock (ms since the epoch).
    pub device_time: i64,
    /// Reason or comment.
    pub reason: Option<String>,
    /// Parameters (`department`, `days`, `card`, `satisfaction` …).
    pub params: HashMap<String, String>,
    /// Attachments (SHA-256).
    pub attachments: Vec<String>,
}

impl From<gridbook_core::workflow::Transition> for CaseTransition {
    fn from(x: gridbook_core::workflow::Transition) -> Self {
        CaseTransition {
            id: x.id,
            action: x.action,
            from: x.from,
            to: x.to,
            actor: x.actor,
            role: x.role.into(),
            org_node: x.org_node,
            at: millis(x.at),
            device_time: millis(x.device_time),
            reason: x.reason,
            params: x.params.into_iter().collect(),
            attachments: x.attachments,
        }
    }
}

/// The deadline of the current stage of a case.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CaseDeadline {
    /// Stage key.
    pub stage: String,
    /// When the stage clock started (ms since the epoch).
    pub started_at: i64,
    /// 截止时间 (ms since the epoch).
    pub deadline: i64,
    /// 黄灯 from (ms).
    pub yellow_at: i64,
    /// 红灯 from (ms).
    pub red_at: i64,
    /// Level now.
    pub level: DeadlineLevel,
    /// 超期
    pub overdue: bool,
    /// The clock is stopped (extension pending).
    pub paused: bool,
    /// When the case left the stage (ms).
    pub finished_at: Option<i64>,
    /// Approved extension working days in the stage.
    pub extension_days: u32,
}

impl From<gridbook_core::workflow::DeadlineStatus> for CaseDeadline {
    fn from(x: gridbook_core::workflow::DeadlineStatus) -> Self {
        CaseDeadline {
            stage: x.stage,
            started_at: millis(x.started_at),
            deadline: millis(x.deadline),
            yellow_at: millis(x.yellow_at),
            red_at: millis(x.red_at),
            level: x.level.into(),
            overdue: x.overdue,
            paused: x.paused,
            finished_at: x.finished_at.map(millis),
            extension_days: x.extension_days,
        }
    }
}

/// A case as a phone shows it: the record, its folded workflow, deadline and open actions.
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

impl From<gridbook_core::cases::CaseView> for CaseView {
    fn from(x: gridbook_core::cases::CaseView) -> Self {
        CaseView {
            state_json: serde_json::to_string(&x.state).unwrap_or_default(),
            id: x.id,
            case: x.case.into(),
            stage: x.state.stage,
            holder: x.state.holder.map(Into::into),
            department: x.state.department,
            assignee: x.state.assignee,
            claim_owner: x.state.claim_owner,
            urge_count: x.state.urge_count,
            workflow_conflicts: x.state.conflicts.len() as u32,
            state: x.state.state,
            history: map_vec(x.history),
            deadline: x.deadline.map(Into::into),
            available_actions: x.available_actions,
            claim: x.claim.into(),
        }
    }
}

/// A case in a list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
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
    pub deadline: Option<i64>,
    /// When it was found or received (ms since the epoch).
    pub occurred_at: i64,
}

fn stored_instant(id: &str, text: &str) -> ApiResult<i64> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| gridbook_core::Error::Corrupt {
            id: id.to_string(),
            reason: format!("bad time in the cases table: {e}"),
        })
        .map_err(Into::into)
}

impl TryFrom<gridbook_core::cases::CaseListRow> for CaseListRow {
    type Error = ApiError;
    fn try_from(x: gridbook_core::cases::CaseListRow) -> ApiResult<Self> {
        Ok(CaseListRow {
            deadline: x.deadline.as_deref().map(|t| stored_instant(&x.id, t)).transpose()?,
            occurred_at: stored_instant(&x.id, &x.occurred_at)?,
            id: x.id,
            kind: x.kind,
            grid_id: x.grid_id,
            category: x.category,
            title: x.title,
            state: x.state,
            conflicts: x.conflicts,
        })
    }
}
