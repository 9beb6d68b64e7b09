//! Demo data: a realistic grid (about 200 households, 600 persons with labels, three months of
//! house calls, patrols, ledgers and incidents), deterministic from a seed. Used by tests,
//! benchmarks and the server's demo district.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Utc, Weekday};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use uuid::Uuid;

use crate::domain::{
    AttentionLevel, Case, CaseKind, GeoPoint, GridAssignment, HouseCall, Household, HousingUse, LabelCategory, Ledger,
    OrgLevel, OrgNode, Patrol, PatrolCheckin, Person, PersonLabel, Problem, TrackPoint,
};
use crate::error::Result;
use crate::store::{Clock, Identity, Store};

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "高",
    "罗",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英",
    "桂兰", "建国", "玉兰", "志强", "海燕", "俊",
];
const RELATIONS: &[&str] = &["户主", "配偶", "子女", "父母", "孙子女", "其他"];
const NOTES: &[&str] = &[
    "入户了解家庭情况，老人身体状况良好，子女每周回家探望，对社区服务表示满意。",
    "住户反映楼道照明损坏，夜间出行不便，已联系物业维修，约定三日内完成。",
    "邻里因噪音问题产生矛盾，现场进行调解，双方同意各让一步，后续继续关注。",
    "宣传防范电信诈骗知识，发放宣传资料一份，提醒不要轻信陌生来电。",
    "独居老人反映取药困难，已协调志愿者每周代为取药，并登记联系方式。",
    "出租屋新入住租户两人，已登记身份信息并告知消防安全注意事项。",
];
const PROBLEMS: &[(&str, &str)] = &[
    ("dispute", "邻里噪音纠纷"),
    ("request", "申请办理居住证明"),
    ("suggestion", "建议增设健身器材"),
    ("security_hazard", "单元门禁损坏"),
    ("fire_hazard", "楼道堆放杂物"),
    ("sanitation", "垃圾清运不及时"),
];
const LABELS: &[(&str, LabelCategory)] = &[
    ("living_alone_elderly", LabelCategory::Care),
    ("empty_nest_elderly", LabelCategory::Care),
    ("low_income", LabelCategory::Care),
    ("disabled", LabelCategory::Care),
    ("left_behind_child", LabelCategory::Care),
    ("floating", LabelCategory::Population),
    ("newcomer", LabelCategory::Population),
    ("dispute_party", LabelCategory::Special),
    ("community_correction", LabelCategory::Special),
    ("severe_mental_disorder", LabelCategory::Special),
];

/// Size of a generated grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoOptions {
    /// Households (about 3 persons each).
    pub households: usize,
    /// Days of history, ending the day before `today`.
    pub days: u32,
    /// The day the demo is "now".
    pub today: NaiveDate,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            households: 200,
            days: 90,
            today: NaiveDate::from_ymd_opt(2026, 11, 27).unwrap_or_default(),
        }
    }
}

/// The org tree above a demo grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoOrg {
    /// 区
    pub district: String,
    /// 街道
    pub sub_district: String,
    /// 社区
    pub community: String,
    /// 网格
    pub grid: String,
}

/// What was generated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

fn id(rng: &mut StdRng) -> String {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid().to_string()
}

fn at(day: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    // China time (UTC+8) → UTC.
    let naive = day.and_hms_opt(hour, minute, 0).unwrap_or_default() - chrono::Duration::hours(8);
    Utc.from_utc_datetime(&naive)
}

fn name(rng: &mut StdRng) -> String {
    format!(
        "{}{}",
        SURNAMES[rng.random_range(0..SURNAMES.len())],
        GIVEN[rng.random_range(0..GIVEN.len())]
    )
}

/// A valid 18-character ID number born on `birth`.
pub fn id_number(rng: &mut StdRng, birth: NaiveDate) -> String {
    let first17 = format!("370883{}{:03}", birth.format("%Y%m%d"), rng.random_range(0..1000));
    let check = crate::domain::ids::id_check_char(&first17).unwrap_or('0');
    format!("{first17}{check}")
}

/// Create the org tree for one demo grid: district 370883, one sub-district, one community,
/// one grid. Needs an identity that may write district records (a district admin).
pub fn seed_org(store: &mut Store, seed: u64) -> Result<DemoOrg> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x004f_5247);
    let from = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default();
    store.set_clock(Clock::Fixed(at(from, 9, 0)));
    let node = |name: &str, level, code: &str, parent: Option<&String>| OrgNode {
        name: name.to_string(),
        level,
        code: code.to_string(),
        parent: parent.cloned(),
        effective_from: from,
        effective_to: None,
    };
    let district = id(&mut rng);
    store.create_with_id(&district, &node("邹城市", OrgLevel::District, "370883", None))?;
    let sub_district = id(&mut rng);
    store.create_with_id(
        &sub_district,
        &node("钢山街道", OrgLevel::SubDistrict, "370883001", Some(&district)),
    )?;
    let community = id(&mut rng);
    store.create_with_id(
        &community,
        &node("幸福社区", OrgLevel::Community, "370883001002", Some(&sub_district)),
    )?;
    let grid = id(&mut rng);
    store.create_with_id(
        &grid,
        &node("幸福社区第三网格", OrgLevel::Grid, "370883001002003", Some(&community)),
    )?;
    Ok(DemoOrg {
        district,
        sub_district,
        community,
        grid,
    })
}

/// Fill `grid` with households, persons and three months of work by `worker`. Deterministic
/// for a seed: ids, names, times and texts all come from it. The store's clock is set to the
/// time of each record while generating and left at the end of `today`.
pub fn generate_grid(store: &mut Store, grid: &str, worker: &str, seed: u64, opts: DemoOptions) -> Result<DemoGrid> {
    generate_grid_reporting(store, grid, worker, seed, opts, 0.4)
}

/// [`generate_grid`] with `reported_share` of the problems found reported up as incidents
/// (the rest solved on the spot); [`generate_grid`] reports 40 %. The same records otherwise.
pub fn generate_grid_reporting(
    store: &mut Store,
    grid: &str,
    worker: &str,
    seed: u64,
    opts: DemoOptions,
    reported_share: f64,
) -> Result<DemoGrid> {
    let solved_share = 1.0 - reported_share.clamp(0.01, 0.99);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = DemoGrid {
        grid: grid.to_string(),
        ..Default::default()
    };
    let first_day = opts.today - Days::new(u64::from(opts.days));
    store.set_clock(Clock::Fixed(at(first_day, 8, 0)));
    let registered = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap_or_default();
    let mut persons_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for h in 0..opts.households {
        let hid = id(&mut rng);
        let (building, unit, room) = (h / 24 + 1, (h / 8) % 3 + 1, (h % 8) / 2 * 100 + 101 + (h % 2));
        let use_ = match rng.random_range(0..10) {
            0 => HousingUse::Rented,
            1 => HousingUse::GroupRented,
            2 => HousingUse::Vacant,
            _ => HousingUse::OwnerOccupied,
        };
        store.create_with_id(
            &hid,
            &Household {
                grid_assignments: vec![GridAssignment {
                    grid_id: grid.to_string(),
                    from: registered,
                }],
                building: format!("{building}栋"),
                unit: format!("{unit}单元"),
                room: room.to_string(),
                address: format!("幸福小区{building}栋{unit}单元{room}室"),
                housing_use: use_,
                registered_on: registered,
            },
        )?;
        out.households.push(hid.clone());
        for p in 0..3 {
            let pid = id(&mut rng);
            let birth = NaiveDate::from_ymd_opt(
                rng.random_range(1940..2015),
                rng.random_range(1..=12),
                rng.random_range(1..=28),
            )
            .unwrap_or_default();
            let mut labels = Vec::new();
            if rng.random_bool(0.3) {
                let (label, category) = LABELS[rng.random_range(0..LABELS.len())];
                labels.push(PersonLabel {
                    label: label.to_string(),
                    category,
                    start: first_day - Days::new(rng.random_range(0..400)),
                    end: None,
                    attention: if category == LabelCategory::Special {
                        AttentionLevel::Key
                    } else {
                        AttentionLevel::Attention
                    },
                    responsible: Some(worker.to_string()),
                });
            }
            store.create_with_id(
                &pid,
                &Person {
                    household_id: hid.clone(),
                    grid_id: grid.to_string(),
                    name: name(&mut rng),
                    id_number: Some(id_number(&mut rng, birth)),
                    phone: Some(format!("13{:09}", rng.random_range(0..1_000_000_000u64))),
                    relation: RELATIONS[if p == 0 {
                        0
                    } else {
                        rng.random_range(1..RELATIONS.len())
                    }]
                    .to_string(),
                    birth_date: Some(birth),
                    labels,
                },
            )?;
            out.persons.push(pid.clone());
            persons_of.entry(hid.clone()).or_default().push(pid);
        }
    }
    let template = store.active_template()?;
    for d in 0..opts.days {
        let day = first_day + Days::new(u64::from(d));
        // Weekends off, except the last day (so the current month always has work in it).
        if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && d + 1 != opts.days {
            continue;
        }
        // Patrol in the morning.
        store.set_clock(Clock::Fixed(at(day, 8, 30)));
        let start = at(day, 8, 30);
        let track = (0..20)
            .map(|i| TrackPoint {
                at: start + chrono::Duration::minutes(i * 3),
                point: GeoPoint {
                    lat: 35.40 + rng.random_range(0.0..0.01),
                    lon: 116.96 + rng.random_range(0.0..0.01),
                },
            })
            .collect();
        let findings = if rng.random_bool(0.3) {
            vec![problem(&mut rng, solved_share)]
        } else {
            vec![]
        };
        let pid = id(&mut rng);
        store.create_with_id(
            &pid,
            &Patrol {
                grid_id: grid.to_string(),
                worker: worker.to_string(),
                started_at: start,
                ended_at: Some(start + chrono::Duration::minutes(60)),
                track,
                checkins: (1..=3)
                    .map(|i| PatrolCheckin {
                        point: format!("重点部位{i}"),
                        at: start + chrono::Duration::minutes(i * 15),
                        note: "正常".into(),
                    })
                    .collect(),
                findings,
                notes: String::new(),
            },
        )?;
        out.patrols.push(pid);
        // House calls through the day.
        let calls = rng.random_range(4..=8);
        for c in 0..calls {
            let hid = out.households[rng.random_range(0..out.households.len())].clone();
            let start = at(day, 9 + c, rng.random_range(0..30));
            store.set_clock(Clock::Fixed(start));
            let mut answers = BTreeMap::new();
            for item in template.items() {
                let v = match item.answer {
                    crate::domain::AnswerType::Bool => json!(rng.random_bool(0.8)),
                    crate::domain::AnswerType::Choice => json!(item.options[rng.random_range(0..item.options.len())]),
                    crate::domain::AnswerType::Text => json!("无异常"),
                    crate::domain::AnswerType::Number => json!(0),
                };
                answers.insert(item.id.clone(), v);
            }
            let problems: Vec<Problem> = (0..rng.random_range(0..=2))
                .map(|_| problem(&mut rng, solved_share))
                .collect();
            let cid = id(&mut rng);
            store.create_with_id(
                &cid,
                &HouseCall {
                    grid_id: grid.to_string(),
                    household_id: hid.clone(),
                    person_ids: persons_of
                        .get(&hid)
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .take(2)
                        .collect(),
                    visitor: worker.to_string(),
                    companions: vec![],
                    started_at: start,
                    ended_at: start + chrono::Duration::minutes(rng.random_range(10..40)),
                    location: Some(GeoPoint {
                        lat: 35.405,
                        lon: 116.965,
                    }),
                    template_id: template.template_id.clone(),
                    template_version: template.version,
                    answers,
                    problems: problems.clone(),
                    photos: vec![],
                    follow_up_due: None,
                    notes: NOTES[rng.random_range(0..NOTES.len())].to_string(),
                },
            )?;
            out.house_calls.push(cid);
            for p in problems.iter().filter(|p| p.reported) {
                let iid = id(&mut rng);
                store.create_with_id(
                    &iid,
                    &Case {
                        grid_id: grid.to_string(),
                        case_kind: CaseKind::Incident,
                        category: category_of(&p.kind).to_string(),
                        subcategory: None,
                        scale: "individual".into(),
                        title: p.description.clone(),
                        description: format!("{}（入户走访发现）", p.description),
                        location: Some(GeoPoint {
                            lat: 35.405,
                            lon: 116.965,
                        }),
                        address: String::new(),
                        reporter: worker.to_string(),
                        channel: None,
                        resident_name: None,
                        resident_phone: None,
                        photos: vec![],
                        occurred_at: start,
                    },
                )?;
                out.incidents.push(iid);
            }
        }
        store.set_clock(Clock::Fixed(at(day, 17, 30)));
        let lid = id(&mut rng);
        store.create_with_id(
            &lid,
            &Ledger {
                grid_id: grid.to_string(),
                worker: worker.to_string(),
                day,
                notes: "今日走访情况正常。".into(),
            },
        )?;
        out.ledgers.push(lid);
    }
    store.set_clock(Clock::Fixed(at(opts.today, 8, 0)));
    Ok(out)
}

fn problem(rng: &mut StdRng, solved_share: f64) -> Problem {
    let (kind, description) = PROBLEMS[rng.random_range(0..PROBLEMS.len())];
    let solved = rng.random_bool(solved_share);
    Problem {
        kind: kind.into(),
        description: description.into(),
        solved_on_spot: solved,
        reported: !solved,
        case_id: None,
    }
}

/// The incident category a problem kind is reported under.
pub fn category_of(problem_kind: &str) -> &'static str {
    match problem_kind {
        "dispute" => "dispute",
        "security_hazard" | "fire_hazard" => "safety_hazard",
        "sanitation" => "city_appearance",
        "request" | "suggestion" => "livelihood",
        _ => "other",
    }
}

/// A fresh UUID v4 from a seed (stable ids for fixtures).
pub fn seeded_id(seed: u64) -> String {
    let mut rng = StdRng::seed_from_u64(seed);
    Uuid::from_bytes(rng.random()).to_string()
}

// ------------------------------------------------------------------------ the closed loop

/// The accounts that work one grid's cases and ledgers in [`run_workflow`].
#[derive(Debug, Clone, PartialEq)]
pub struct DemoCrew {
    /// The grid.
    pub grid: String,
    /// 网格员: reports, handles in the grid, claims, follows up, feeds back, submits ledgers.
    pub worker: Identity,
    /// 社区: accepts, dispatches, verifies, archives, reviews ledgers, takes calls at the window.
    pub community: Identity,
    /// 街道: accepts escalated cases, issues 督办.
    pub sub_district: Identity,
    /// 职能部门: takes dispatched cases (its org node id is the `department` of 分派).
    pub department: Identity,
}

/// What [`run_workflow`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkflowSummary {
    /// Cases (incidents and requests) that took part, with their last state's step count.
    pub cases: Vec<String>,
    /// Requests created (群众诉求, one per channel and more).
    pub requests: Vec<String>,
    /// Workflow transitions and review steps made.
    pub steps: usize,
    /// Batches handed to `flush` (one per account and round).
    pub batches: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Worker,
    Community,
    SubDistrict,
    Department,
}

#[derive(Debug, Clone)]
enum Op {
    Create(Box<Case>),
    Act {
        action: &'static str,
        reason: Option<&'static str>,
        params: Vec<(&'static str, String)>,
    },
    Submit,
    Approve,
    Return(&'static str),
    Amend(&'static str),
}

#[derive(Debug, Clone)]
struct Step {
    who: Who,
    at: DateTime<Utc>,
    op: Op,
}

struct Script {
    doc: String,
    crew: usize,
    case: bool,
    steps: Vec<Step>,
}

fn act(who: Who, at: DateTime<Utc>, action: &'static str) -> Step {
    Step {
        who,
        at,
        op: Op::Act {
            action,
            reason: None,
            params: vec![],
        },
    }
}

fn act_with(
    who: Who,
    at: DateTime<Utc>,
    action: &'static str,
    reason: Option<&'static str>,
    params: Vec<(&'static str, String)>,
) -> Step {
    Step {
        who,
        at,
        op: Op::Act { action, reason, params },
    }
}

/// Working time: `minutes` after `t`, moved to the next working morning (9:00 China time plus
/// a few minutes) when that falls outside 8:30–17:30 of a working day.
fn work_after(
    cal: &crate::workflow::WorkCalendar,
    rng: &mut StdRng,
    t: DateTime<Utc>,
    minutes: std::ops::Range<i64>,
) -> DateTime<Utc> {
    let t = t + chrono::Duration::minutes(rng.random_range(minutes));
    let local = cal.local(t);
    let (day, hm) = (local.date(), local.time().format("%H%M").to_string());
    if cal.is_working_day(day) && ("0830".."1730").contains(&hm.as_str()) {
        return t;
    }
    let mut next = if hm.as_str() < "0830" { day } else { day + Days::new(1) };
    while !cal.is_working_day(next) {
        next = next + Days::new(1);
    }
    at(next, 9, rng.random_range(0..50))
}

const REQUESTS: &[(&str, &str, &str, &str)] = &[
    ("phone", "livelihood", "utilities", "来电反映楼道灯不亮"),
    (
        "phone",
        "city_appearance",
        "noise_pollution",
        "来电反映夜间施工噪音扰民",
    ),
    ("window", "livelihood", "elderly_care", "窗口申请老年人助餐服务"),
    ("window", "livelihood", "assistance", "窗口咨询临时救助申请"),
    ("wechat_group", "city_appearance", "sanitation", "微信群反映垃圾桶满溢"),
    ("wechat_group", "safety_hazard", "fire", "微信群反映电动车楼道充电"),
    ("app", "street_order", "parking", "应用反映车辆占用消防通道"),
    ("app", "other", "suggestion", "应用建议增设休闲座椅"),
];
const VIDEO: &[(&str, &str, &str)] = &[
    ("street_order", "street_vending", "视频识别：路口占道经营"),
    ("city_appearance", "exposed_garbage", "视频识别：垃圾暴露"),
];
const REJECT_REASON: &str = "属司法途径解决事项，已告知当事人向人民法院起诉";
const ESCALATE_REASON: &str = "涉及多户群体诉求，社区协调不了，越级上报街道";
const RETURN_REASON: &str = "非本部门职责，请重新分派";
const EXTENSION_REASON: &str = "需协调产权单位，申请延期";
const VERIFY_FAIL_REASON: &str = "现场复核问题仍未解决，退回重办";
const LEDGER_RETURN: &str = "请补充走访照片和整改情况";

/// The whole life of one case from its first step at `t0`: every stage of the closed loop,
/// with returns, extensions, 督办 and verification failures on some; times in working hours.
fn case_steps(
    cal: &crate::workflow::WorkCalendar,
    rng: &mut StdRng,
    t0: DateTime<Utc>,
    reporter: Who,
    department: &str,
    claimable: bool,
    first: Vec<Step>,
) -> Vec<Step> {
    let mut s = first;
    let mut t = s.last().map_or(t0, |x| x.at);
    let roll: f64 = rng.random();
    // 上报 (or 越级上报 to the sub-district).
    let escalated = reporter == Who::Worker && !claimable && roll < 0.04;
    if escalated {
        t = work_after(cal, rng, t, 5..40);
        s.push(act_with(
            Who::Worker,
            t,
            "escalate",
            Some(ESCALATE_REASON),
            vec![("level", "sub_district".into())],
        ));
    } else if !claimable {
        t = work_after(cal, rng, t, 5..40);
        s.push(act(reporter, t, "report"));
    }
    let holder = if escalated { Who::SubDistrict } else { Who::Community };
    // 受理 within the 4 working hours mostly; a few late; a few 不予受理.
    let respond = if rng.random_bool(0.06) { 300..600 } else { 15..180 };
    t = work_after(cal, rng, t, respond);
    if !escalated && rng.random_bool(0.03) {
        s.push(act_with(holder, t, "reject", Some(REJECT_REASON), vec![]));
        return s;
    }
    let handler;
    if claimable {
        // 群众点单 → 发布抢单 → 我要抢单.
        s.push(act(Who::Community, t, "publish_for_claim"));
        t = work_after(cal, rng, t, 10..120);
        s.push(act(Who::Worker, t, "claim"));
        handler = Who::Worker;
    } else {
        s.push(act(holder, t, "accept"));
        if !escalated && rng.random_bool(0.35) {
            // 自办自结
            t = work_after(cal, rng, t, 10..90);
            s.push(act(Who::Worker, t, "self_handle"));
            handler = Who::Worker;
        } else {
            let dispatch = |rng: &mut StdRng, t: DateTime<Utc>, s: &mut Vec<Step>| {
                let t = work_after(cal, rng, t, 10..60);
                s.push(act_with(
                    holder,
                    t,
                    "dispatch",
                    None,
                    vec![("department", department.to_string())],
                ));
                let t = work_after(cal, rng, t, 30..240);
                s.push(act(Who::Department, t, "department_accept"));
                t
            };
            t = dispatch(rng, t, &mut s);
            if rng.random_bool(0.05) {
                // 回退 a mis-dispatch, dispatched again.
                t = work_after(cal, rng, t, 30..120);
                s.push(act_with(
                    Who::Department,
                    t,
                    "return_dispatch",
                    Some(RETURN_REASON),
                    vec![],
                ));
                t = dispatch(rng, t, &mut s);
            }
            handler = Who::Department;
        }
    }
    // 处置: on time mostly; some with an approved extension; some overdue with 催办 and 督办.
    let roll: f64 = rng.random();
    if roll < 0.10 {
        t = work_after(cal, rng, t, 60..600);
        s.push(act_with(
            handler,
            t,
            "request_extension",
            Some(EXTENSION_REASON),
            vec![("days", "3".into())],
        ));
        t = work_after(cal, rng, t, 30..240);
        s.push(act(holder, t, "approve_extension"));
        t = cal.add_working_days(t, rng.random_range(3..6));
        t = work_after(cal, rng, t, 0..1);
    } else if roll < 0.20 {
        let late = cal.add_working_days(t, rng.random_range(8..16));
        let urge = work_after(cal, rng, cal.add_working_days(t, 4), 0..1);
        s.push(act(Who::Community, urge, "urge"));
        let card = if rng.random_bool(0.7) { "yellow" } else { "red" };
        let order = work_after(cal, rng, cal.add_working_days(t, 6), 30..31);
        s.push(act_with(
            Who::SubDistrict,
            order,
            "supervise",
            None,
            vec![("card", card.into())],
        ));
        t = work_after(cal, rng, late, 0..1);
    } else {
        t = work_after(cal, rng, t, 120..1400);
    }
    s.push(act(handler, t, "complete"));
    // 督查: a few fail and are handled again.
    if rng.random_bool(0.07) {
        t = work_after(cal, rng, t, 60..300);
        s.push(act_with(holder, t, "verify_fail", Some(VERIFY_FAIL_REASON), vec![]));
        t = work_after(cal, rng, t, 120..900);
        s.push(act(handler, t, "complete"));
    }
    t = work_after(cal, rng, t, 60..400);
    s.push(act(holder, t, "verify_pass"));
    // 二次走访 (满意度) and 反馈.
    let satisfaction = match rng.random_range(0..100) {
        0..80 => "satisfied",
        80..94 => "basically_satisfied",
        _ => "dissatisfied",
    };
    t = work_after(cal, rng, t, 120..900);
    s.push(act_with(
        Who::Worker,
        t,
        "follow_up",
        None,
        vec![("satisfaction", satisfaction.into())],
    ));
    t = work_after(cal, rng, t, 5..30);
    s.push(act(Who::Worker, t, "feedback"));
    // 归档
    t = work_after(cal, rng, t, 120..1800);
    s.push(act(holder, t, "archive"));
    s
}

/// The review of one day's ledger: 提交 the same evening, 通过 the next working day, some 退回
/// with a comment, amended and submitted again.
fn ledger_steps(
    cal: &crate::workflow::WorkCalendar,
    rng: &mut StdRng,
    day: NaiveDate,
    until: DateTime<Utc>,
) -> Vec<Step> {
    let submit = at(day, 17, 40 + rng.random_range(0..15));
    let mut s = vec![Step {
        who: Who::Worker,
        at: submit,
        op: Op::Submit,
    }];
    let age = (until - submit).num_days();
    if age < 3 && rng.random_bool(0.7) {
        return s; // awaiting review
    }
    let review = work_after(cal, rng, submit, 900..1500);
    if rng.random_bool(0.08) {
        s.push(Step {
            who: Who::Community,
            at: review,
            op: Op::Return(LEDGER_RETURN),
        });
        if age < 20 {
            return s; // not amended yet
        }
        let fix = work_after(cal, rng, review, 60..240);
        s.push(Step {
            who: Who::Worker,
            at: fix,
            op: Op::Amend("已补充走访照片，整改情况已登记。"),
        });
        s.push(Step {
            who: Who::Worker,
            at: fix + chrono::Duration::minutes(5),
            op: Op::Submit,
        });
        let again = work_after(cal, rng, fix, 60..900);
        s.push(Step {
            who: Who::Community,
            at: again,
            op: Op::Approve,
        });
    } else {
        s.push(Step {
            who: Who::Community,
            at: review,
            op: Op::Approve,
        });
    }
    s
}

/// Work the generated grids' cases and ledgers through the closed loop up to `until`, as the
/// accounts of `crews` (one per grid of `grids`, same order), through the store's own rules:
/// [`Store::case_action`] and the ledger review steps, each under the acting account's
/// identity, exactly as their phones (or the dashboard) would. Adds resident requests from
/// every intake channel (电话, 一窗受理, 微信群, 应用: some claimed 抢单) and video-analysis
/// incidents. Every case follows its whole loop (上报 → 受理 → 分派 / 自办自结 → 处置 → 办结 →
/// 督查 → 反馈 → 归档, with 回退, 延期, 催办, 督办, 验证不通过, 不予受理 and 越级上报 on some);
/// steps after `until` are not taken, so recent cases are caught mid-way.
///
/// Steps are taken in rounds (the n-th step of every case), and within a round grouped by
/// account: after each account's group, `flush` is called with the store (its identity is that
/// account) to hand the outbox on, e.g. to a server that validates it as that account's push.
/// Deterministic for a seed and `until`.
pub fn run_workflow(
    store: &mut Store,
    crews: &[DemoCrew],
    grids: &[DemoGrid],
    seed: u64,
    until: DateTime<Utc>,
    flush: &mut dyn FnMut(&mut Store) -> Result<()>,
) -> Result<WorkflowSummary> {
    let cal = crate::workflow::calendar_cn()?;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x0057_4f52_4b46);
    let mut out = WorkflowSummary::default();
    let mut scripts: Vec<Script> = Vec::new();
    for (c, (crew, g)) in crews.iter().zip(grids).enumerate() {
        let dept = crew.department.org_node.clone();
        // Incidents found on house calls (drafts made by generate_grid).
        for id in &g.incidents {
            let case: Case = store.get(id)?;
            let steps = case_steps(&cal, &mut rng, case.occurred_at, Who::Worker, &dept, false, vec![]);
            scripts.push(Script {
                doc: id.clone(),
                crew: c,
                case: true,
                steps,
            });
            out.cases.push(id.clone());
        }
        // Resident requests from every channel, and video-analysis incidents.
        let first_day = g
            .ledgers
            .first()
            .map(|l| store.get::<Ledger>(l).map(|l| l.day))
            .transpose()?
            .unwrap_or_else(|| crate::materialize::china_day(until));
        let last_day = crate::materialize::china_day(until);
        let mut day = first_day;
        let mut n = 0usize;
        while day <= last_day {
            if cal.is_working_day(day) && rng.random_bool(0.3) {
                let (channel, category, sub, title) = REQUESTS[n % REQUESTS.len()];
                n += 1;
                let t0 = at(day, rng.random_range(8..17), rng.random_range(0..60));
                let who = if matches!(channel, "phone" | "window") {
                    Who::Community
                } else {
                    Who::Worker
                };
                let reporter = match who {
                    Who::Community => &crew.community.account_id,
                    _ => &crew.worker.account_id,
                };
                let id = id(&mut rng);
                let case = Case {
                    grid_id: crew.grid.clone(),
                    case_kind: CaseKind::Request,
                    category: category.into(),
                    subcategory: Some(sub.into()),
                    scale: if rng.random_bool(0.1) { "group" } else { "individual" }.into(),
                    title: title.into(),
                    description: format!("{title}，请尽快处理。"),
                    location: None,
                    address: format!("幸福小区{}栋", rng.random_range(1..10)),
                    reporter: reporter.clone(),
                    channel: Some(channel.into()),
                    resident_name: Some(name(&mut rng)),
                    resident_phone: Some(format!("13{:09}", rng.random_range(0..1_000_000_000u64))),
                    photos: vec![],
                    occurred_at: t0,
                };
                let first = vec![
                    Step {
                        who,
                        at: t0,
                        op: Op::Create(Box::new(case)),
                    },
                    act_with(
                        who,
                        t0 + chrono::Duration::minutes(2),
                        "intake",
                        None,
                        vec![("channel", channel.into())],
                    ),
                ];
                let claimable = who == Who::Worker && rng.random_bool(0.3);
                let steps = case_steps(&cal, &mut rng, t0, who, &dept, claimable, first);
                scripts.push(Script {
                    doc: id.clone(),
                    crew: c,
                    case: true,
                    steps,
                });
                out.cases.push(id.clone());
                out.requests.push(id);
            }
            if cal.is_working_day(day) && rng.random_bool(0.08) {
                let (category, sub, title) = VIDEO[rng.random_range(0..VIDEO.len())];
                let t0 = at(day, rng.random_range(8..17), rng.random_range(0..60));
                let id = id(&mut rng);
                let case = Case {
                    grid_id: crew.grid.clone(),
                    case_kind: CaseKind::Incident,
                    category: category.into(),
                    subcategory: Some(sub.into()),
                    scale: "individual".into(),
                    title: title.into(),
                    description: format!("{title}（视频智能分析自动发现，值班员确认）"),
                    location: Some(GeoPoint {
                        lat: 35.404,
                        lon: 116.966,
                    }),
                    address: "幸福路与东风街路口".into(),
                    reporter: crew.community.account_id.clone(),
                    channel: Some("video".into()),
                    resident_name: None,
                    resident_phone: None,
                    photos: vec![],
                    occurred_at: t0,
                };
                let first = vec![Step {
                    who: Who::Community,
                    at: t0,
                    op: Op::Create(Box::new(case)),
                }];
                let steps = case_steps(&cal, &mut rng, t0, Who::Community, &dept, false, first);
                scripts.push(Script {
                    doc: id.clone(),
                    crew: c,
                    case: true,
                    steps,
                });
                out.cases.push(id);
            }
            day = day + Days::new(1);
        }
        for id in &g.ledgers {
            let l: Ledger = store.get(id)?;
            let steps = ledger_steps(&cal, &mut rng, l.day, until);
            scripts.push(Script {
                doc: id.clone(),
                crew: c,
                case: false,
                steps,
            });
        }
    }
    // Nothing after `until`; and half of the last ten days' cases wait at some stage (so every
    // stage has cases, whatever day the demo starts).
    let recent = until - chrono::Duration::days(10);
    for s in &mut scripts {
        let mut keep = s.steps.iter().take_while(|st| st.at <= until).count();
        if s.case && keep > 1 && s.steps[0].at >= recent && rng.random_bool(0.5) {
            keep = rng.random_range(1..keep);
        }
        s.steps.truncate(keep);
    }
    let rounds = scripts.iter().map(|s| s.steps.len()).max().unwrap_or(0);
    for r in 0..rounds {
        // Group this round's steps by acting account.
        let mut groups: BTreeMap<String, (Identity, Vec<usize>)> = BTreeMap::new();
        for (i, s) in scripts.iter().enumerate() {
            let Some(step) = s.steps.get(r) else { continue };
            let crew = &crews[s.crew];
            let who = match step.who {
                Who::Worker => &crew.worker,
                Who::Community => &crew.community,
                Who::SubDistrict => &crew.sub_district,
                Who::Department => &crew.department,
            };
            groups
                .entry(who.account_id.clone())
                .or_insert_with(|| (who.clone(), vec![]))
                .1
                .push(i);
        }
        for (_, (identity, members)) in groups {
            store.set_identity(identity);
            for i in members {
                let s = &scripts[i];
                let step = &s.steps[r];
                store.set_clock(Clock::Fixed(step.at));
                match &step.op {
                    Op::Create(case) => store.create_with_id(&s.doc, case.as_ref())?,
                    Op::Act { action, reason, params } => {
                        let params = params.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
                        store.case_action(&s.doc, action, *reason, params)?;
                    }
                    Op::Submit => store.submit_ledger(&s.doc)?,
                    Op::Approve => store.approve_ledger(&s.doc)?,
                    Op::Return(comment) => store.return_ledger(&s.doc, comment)?,
                    Op::Amend(notes) => {
                        let mut l: Ledger = store.get(&s.doc)?;
                        l.notes = (*notes).to_string();
                        store.update_ledger(&s.doc, &l)?;
                    }
                }
                out.steps += 1;
            }
            flush(store)?;
            out.batches += 1;
        }
    }
    store.set_clock(Clock::Fixed(until));
    Ok(out)
}
