//! Figures for the pure workflow engine (issue 4): fold a case with 200 transitions, metrics
//! over 16,000 cases (one district's year; target ≤ 100 ms), deadlines and query rows.
//!
//! Run with `cargo bench -p gridbook-core --bench workflow` (a `harness = false` binary that
//! prints its figures).

use std::hint::black_box;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, TimeZone, Utc};
use gridbook_core::domain::{CaseKind, Role};
use gridbook_core::workflow::{
    self, CaseClass, CaseFacts, CaseRow, MetricsQuery, Satisfaction, Target, Transition, WorkflowDefinition,
    check_transition, compute_metrics, deadline_status, fold,
};

/// splitmix64, so every run measures the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).single().expect("valid time")
}

/// Append `action` by `role` after `history`, checked as the store would.
fn push(def: &WorkflowDefinition, history: &mut Vec<Transition>, action: &str, role: Role, params: &[(&str, &str)]) {
    let state = fold(def, history);
    let a = def.action(action).expect("action exists");
    let at = base_time() + Duration::minutes(history.len() as i64 * 17);
    let t = Transition {
        id: format!("t{}", history.len()),
        action: action.into(),
        from: state.state.clone(),
        to: match &a.to {
            Target::State(s) => s.clone(),
            Target::Stay => state.state.clone(),
        },
        actor: format!("{}-1", role.as_str()),
        role,
        org_node: "node".into(),
        at,
        device_time: at,
        reason: a.reason_required.then(|| "理由".into()),
        params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        attachments: vec![],
    };
    if let Err(e) = check_transition(def, &state, &t) {
        panic!("bench history step {action}: {e}");
    }
    history.push(t);
}

/// A busy case: returned and re-dispatched, urged, supervised, extended, then closed: 200 steps.
fn busy_case(def: &WorkflowDefinition) -> Vec<Transition> {
    use Role::*;
    let mut h = Vec::new();
    push(def, &mut h, "report", GridWorker, &[]);
    push(def, &mut h, "accept", CommunitySupervisor, &[]);
    push(
        def,
        &mut h,
        "dispatch",
        CommunitySupervisor,
        &[("department", "dept-a")],
    );
    push(def, &mut h, "department_accept", Department, &[]);
    let cards = ["normal", "yellow", "red"];
    let mut i = 0;
    while h.len() < 193 {
        match i % 8 {
            0 => push(def, &mut h, "urge", GridWorker, &[]),
            1 => push(
                def,
                &mut h,
                "supervise",
                SubDistrictSupervisor,
                &[("card", cards[i % 3])],
            ),
            2 => push(def, &mut h, "request_extension", Department, &[("days", "2")]),
            3 => push(def, &mut h, "approve_extension", CommunitySupervisor, &[]),
            4 => push(def, &mut h, "urge", CommunitySupervisor, &[]),
            5 => push(def, &mut h, "return_dispatch", Department, &[]),
            6 => push(
                def,
                &mut h,
                "dispatch",
                CommunitySupervisor,
                &[("department", "dept-b")],
            ),
            _ => push(def, &mut h, "department_accept", Department, &[]),
        }
        i += 1;
    }
    // Finish wherever the cycle stopped: get back to `handling` first.
    let state = fold(def, &h).state;
    match state.as_str() {
        "accepted" => {
            push(
                def,
                &mut h,
                "dispatch",
                CommunitySupervisor,
                &[("department", "dept-b")],
            );
            push(def, &mut h, "department_accept", Department, &[]);
        }
        "dispatched" => push(def, &mut h, "department_accept", Department, &[]),
        _ => {}
    }
    push(def, &mut h, "complete", Department, &[]);
    push(def, &mut h, "verify_fail", CommunitySupervisor, &[]);
    push(def, &mut h, "complete", Department, &[]);
    push(def, &mut h, "verify_pass", CommunitySupervisor, &[]);
    push(def, &mut h, "follow_up", GridWorker, &[("satisfaction", "satisfied")]);
    while h.len() < 198 {
        push(
            def,
            &mut h,
            "follow_up",
            GridWorker,
            &[("satisfaction", "basically_satisfied")],
        );
    }
    push(def, &mut h, "feedback", GridWorker, &[]);
    push(def, &mut h, "archive", CommunitySupervisor, &[]);
    h
}

/// Sorted timings of `runs` calls.
fn time(runs: usize, mut f: impl FnMut()) -> Vec<StdDuration> {
    for _ in 0..runs.min(50) {
        f();
    }
    let mut out: Vec<StdDuration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    out.sort_unstable();
    out
}

fn pct(sorted: &[StdDuration], p: usize) -> StdDuration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn report(name: &str, sorted: &[StdDuration]) {
    println!(
        "{name:<58} p50 {:>10.1?}  p95 {:>10.1?}  max {:>10.1?}  ({} runs)",
        pct(sorted, 50),
        pct(sorted, 95),
        sorted[sorted.len() - 1],
        sorted.len()
    );
}

const CATEGORIES: [&str; 7] = [
    "dispute",
    "safety_hazard",
    "livelihood",
    "city_appearance",
    "street_order",
    "emergency",
    "other",
];
const SCALES: [&str; 3] = ["individual", "group", "major_group"];
const STATES: [(&str, Option<&str>); 8] = [
    ("reported", Some("accept")),
    ("accepted", Some("dispatch")),
    ("dispatched", Some("handle")),
    ("handling", Some("handle")),
    ("handled", Some("verify")),
    ("verified", Some("feedback")),
    ("archived", None),
    ("rejected", None),
];

/// 16,000 rows: 10 sub-districts × 8 communities × 12 grids, reported over 2026.
fn district_year(n: usize) -> Vec<CaseRow> {
    let mut rng = Rng(42);
    // 2026-01-01 00:00 +08:00
    let year = Utc.with_ymd_and_hms(2025, 12, 31, 16, 0, 0).single().expect("time");
    (0..n)
        .map(|i| {
            let (s, c, g) = (rng.below(10), rng.below(8), rng.below(12));
            let reported = year + Duration::minutes(rng.below(365 * 24 * 60) as i64);
            let (state, stage) = STATES[rng.below(STATES.len() as u64) as usize];
            let responded = (state != "reported").then(|| reported + Duration::minutes(rng.below(600) as i64));
            let handled = matches!(state, "handled" | "verified" | "archived")
                .then(|| reported + Duration::hours(rng.below(24 * 10) as i64));
            let satisfaction = match (state, rng.below(4)) {
                ("archived", 0) => Some(Satisfaction::Dissatisfied),
                ("archived", 1) => Some(Satisfaction::BasicallySatisfied),
                ("archived", _) => Some(Satisfaction::Satisfied),
                _ => None,
            };
            CaseRow {
                id: format!("case-{i}"),
                kind: if rng.below(3) == 0 {
                    CaseKind::Request
                } else {
                    CaseKind::Incident
                },
                category: CATEGORIES[rng.below(7) as usize].into(),
                subcategory: None,
                scale: SCALES[rng.below(3) as usize].into(),
                org_path: format!("370883/s{s:02}/c{c:02}/g{g:02}"),
                grid_id: format!("g{g:02}"),
                state: state.into(),
                stage: stage.map(str::to_string),
                reported_at: Some(reported),
                responded_at: responded,
                accepted_at: responded,
                handled_at: handled,
                closed_at: matches!(state, "archived" | "rejected").then(|| reported + Duration::days(12)),
                response_deadline: Some(reported + Duration::hours(4)),
                deadline: (state != "reported" && state != "rejected").then(|| reported + Duration::days(7)),
                rejected: state == "rejected",
                satisfaction,
            }
        })
        .collect()
}

fn main() {
    let def = workflow::default_definition().expect("definition");
    let limits = workflow::default_time_limits().expect("limits");
    let cal = workflow::calendar_cn().expect("calendar");
    println!(
        "gridbook workflow bench ({} build)",
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );

    // 1. Fold a case with 200 transitions.
    let history = busy_case(&def);
    assert_eq!(history.len(), 200);
    let folded = fold(&def, &history);
    assert_eq!(folded.state, "archived");
    assert!(folded.conflicts.is_empty());
    report(
        "fold 200 transitions",
        &time(2000, || {
            black_box(fold(black_box(&def), black_box(&history)));
        }),
    );

    // 2. Deadline of an open case in handling with a pending extension.
    let open = &history[..151];
    let open_state = fold(&def, open);
    assert!(open_state.pending_extension.is_some());
    let class = CaseClass {
        category: "dispute",
        subcategory: None,
        scale: "individual",
    };
    let now = open.last().map_or(base_time(), |t| t.at) + Duration::days(3);
    report(
        "deadline_status (open case, 151 steps, extension pending)",
        &time(2000, || {
            black_box(deadline_status(&limits, &cal, black_box(&open_state), &class, now).expect("deadline"));
        }),
    );

    // 3. Metrics over one district's year.
    let rows = district_year(16_000);
    let from = Utc.with_ymd_and_hms(2025, 12, 31, 16, 0, 0).single().expect("time");
    let to = Utc.with_ymd_and_hms(2026, 12, 31, 16, 0, 0).single().expect("time");
    let district = MetricsQuery {
        org_path: "370883".into(),
        from,
        to,
        as_of: to,
        kind: None,
    };
    let m = compute_metrics(&rows, &district);
    assert_eq!(m.total, 16_000);
    report(
        "metrics: district, 16,000 cases, full year",
        &time(50, || {
            black_box(compute_metrics(black_box(&rows), black_box(&district)));
        }),
    );
    let one_month = MetricsQuery {
        org_path: "370883/s03".into(),
        from: Utc.with_ymd_and_hms(2026, 2, 28, 16, 0, 0).single().expect("time"),
        to: Utc.with_ymd_and_hms(2026, 3, 31, 16, 0, 0).single().expect("time"),
        as_of: to,
        kind: Some(CaseKind::Incident),
    };
    report(
        "metrics: one sub-district, one month",
        &time(50, || {
            black_box(compute_metrics(black_box(&rows), black_box(&one_month)));
        }),
    );
    println!(
        "  (district figures: 响应率 {:.1} %, 按期处置率 {:.1} %, 办结率 {:.1} %, 满意率 {:.1} %)",
        m.response.rate().unwrap_or(0.0) * 100.0,
        m.on_time_handling.rate().unwrap_or(0.0) * 100.0,
        m.completion.rate().unwrap_or(0.0) * 100.0,
        m.satisfaction.rate().unwrap_or(0.0) * 100.0
    );

    // 4. Rebuilding query rows: fold + both deadlines for 16,000 short histories (~8 steps).
    let mut short = Vec::new();
    push(&def, &mut short, "report", Role::GridWorker, &[]);
    push(&def, &mut short, "accept", Role::CommunitySupervisor, &[]);
    push(
        &def,
        &mut short,
        "dispatch",
        Role::CommunitySupervisor,
        &[("department", "dept-a")],
    );
    push(&def, &mut short, "department_accept", Role::Department, &[]);
    push(
        &def,
        &mut short,
        "request_extension",
        Role::Department,
        &[("days", "3")],
    );
    push(&def, &mut short, "approve_extension", Role::SubDistrictSupervisor, &[]);
    push(&def, &mut short, "complete", Role::Department, &[]);
    push(&def, &mut short, "verify_pass", Role::CommunitySupervisor, &[]);
    let facts = CaseFacts {
        id: "c",
        kind: CaseKind::Incident,
        category: "dispute",
        subcategory: None,
        scale: "individual",
        org_path: "370883/s01/c01/g01",
        grid_id: "g01",
    };
    let rebuild = time(5, || {
        for _ in 0..16_000 {
            let s = fold(&def, black_box(&short));
            black_box(CaseRow::from_state(&facts, &s, &limits, &cal, now).expect("row"));
        }
    });
    report("fold + CaseRow::from_state × 16,000 (8 steps each)", &rebuild);
}
