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
use crate::store::{Clock, Store};

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
    let check = crate::sensitive::id_check_char(&first17).unwrap_or('0');
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
        if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
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
            vec![problem(&mut rng)]
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
            let problems: Vec<Problem> = (0..rng.random_range(0..=2)).map(|_| problem(&mut rng)).collect();
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

fn problem(rng: &mut StdRng) -> Problem {
    let (kind, description) = PROBLEMS[rng.random_range(0..PROBLEMS.len())];
    let solved = rng.random_bool(0.6);
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
