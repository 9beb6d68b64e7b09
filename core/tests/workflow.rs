//! Tests of the pure workflow engine (`gridbook_core::workflow`): every action of the default
//! definition per role, the fold and its conflicts, concurrent claims, a convergence property
//! over simulated replicas, time limits across the 2026 Spring Festival, and metrics on a
//! hand-computed fixture.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use gridbook_core::domain::{CaseKind, OrgLevel, Role};
use gridbook_core::workflow::{
    self, CaseClass, CaseFacts, CaseRow, CaseState, ClaimOutcome, DeadlineLevel, MetricsQuery, Satisfaction, Target,
    Transition, WorkflowDefinition, WorkflowError, check, check_transition, claim_outcome, compute_metrics,
    deadline_status, fold, stage_deadline,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// helpers

fn def() -> WorkflowDefinition {
    workflow::default_definition().expect("default definition loads")
}

/// China local time (+08:00) as an instant.
fn cst(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    FixedOffset::east_opt(8 * 3600)
        .and_then(|o| o.with_ymd_and_hms(y, m, d, h, mi, s).single())
        .expect("valid local time")
        .to_utc()
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn actor(role: Role) -> String {
    format!("{}-1", role.as_str())
}

/// A case's history, built step by step through `check_transition` like the store does.
struct Case {
    def: WorkflowDefinition,
    history: Vec<Transition>,
    at: DateTime<Utc>,
}

impl Case {
    fn new() -> Self {
        Case {
            def: def(),
            history: Vec::new(),
            at: cst(2026, 3, 2, 9, 0, 0),
        }
    }

    fn state(&self) -> CaseState {
        fold(&self.def, &self.history)
    }

    /// The transition `role` would record now (reason filled in when the action needs one).
    fn make(&self, action: &str, role: Role, p: &[(&str, &str)], at: DateTime<Utc>) -> Transition {
        let state = self.state();
        let reason = self
            .def
            .action(action)
            .filter(|a| a.reason_required)
            .map(|_| "理由".to_string());
        let to = match self.def.action(action).map(|a| &a.to) {
            Some(Target::State(s)) => s.clone(),
            _ => state.state.clone(),
        };
        Transition {
            id: format!("t{}", self.history.len() + 1),
            action: action.to_string(),
            from: state.state.clone(),
            to,
            actor: actor(role),
            role,
            org_node: format!("node-{}", role.as_str()),
            at,
            device_time: at,
            reason,
            params: params(p),
            attachments: vec![],
        }
    }

    /// Take an action at `at`; refused actions write nothing.
    fn act_at(
        &mut self,
        action: &str,
        role: Role,
        p: &[(&str, &str)],
        at: DateTime<Utc>,
    ) -> Result<String, WorkflowError> {
        let t = self.make(action, role, p, at);
        let to = check_transition(&self.def, &self.state(), &t)?;
        self.history.push(t);
        self.at = at;
        Ok(to)
    }

    /// Take an action ten minutes after the previous one.
    fn act(&mut self, action: &str, role: Role, p: &[(&str, &str)]) -> Result<String, WorkflowError> {
        let at = self.at + Duration::minutes(10);
        self.act_at(action, role, p, at)
    }

    fn run(mut self, steps: &[Step]) -> Self {
        for (action, role, p) in steps {
            if let Err(e) = self.act(action, *role, p) {
                panic!("setup step {action} by {} failed: {e}", role.as_str());
            }
        }
        self
    }
}

type Step = (&'static str, Role, &'static [(&'static str, &'static str)]);

use Role::{
    CommunitySupervisor as CS, Department as DEPT, DistrictAdmin as DA, GridLeader as GL, GridWorker as GW,
    SubDistrictSupervisor as SDS,
};

const REPORT: Step = ("report", GW, &[]);
const ACCEPT: Step = ("accept", CS, &[]);
const DISPATCH: Step = ("dispatch", CS, &[("department", "dept-chengguan")]);
const DEPT_ACCEPT: Step = ("department_accept", DEPT, &[]);
const ASK_EXT: Step = ("request_extension", DEPT, &[("days", "3")]);
const COMPLETE: Step = ("complete", DEPT, &[]);
const VERIFY: Step = ("verify_pass", CS, &[]);
const FEEDBACK: Step = ("feedback", GW, &[]);
const INTAKE: Step = ("intake", GW, &[("channel", "phone")]);
const PUBLISH: Step = ("publish_for_claim", CS, &[]);

// ---------------------------------------------------------------------------------------------
// every action, allowed and refused, per role

struct Row {
    action: &'static str,
    setup: &'static [Step],
    params: &'static [(&'static str, &'static str)],
    roles: &'static [Role],
    to: &'static str,
}

const TABLE: &[Row] = &[
    Row {
        action: "intake",
        setup: &[],
        params: &[("channel", "wechat_group")],
        roles: &[GW, GL, CS, SDS, DA],
        to: "received",
    },
    Row {
        action: "report",
        setup: &[],
        params: &[],
        roles: &[GW, GL, CS],
        to: "reported",
    },
    Row {
        action: "escalate",
        setup: &[],
        params: &[("level", "sub_district")],
        roles: &[GW, GL, CS],
        to: "reported",
    },
    Row {
        action: "accept",
        setup: &[REPORT],
        params: &[],
        roles: &[CS, SDS, DA],
        to: "accepted",
    },
    Row {
        action: "reject",
        setup: &[REPORT],
        params: &[],
        roles: &[CS, SDS, DA],
        to: "rejected",
    },
    Row {
        action: "publish_for_claim",
        setup: &[INTAKE],
        params: &[],
        roles: &[CS, SDS],
        to: "open_for_claim",
    },
    Row {
        action: "claim",
        setup: &[INTAKE, PUBLISH],
        params: &[],
        roles: &[GW, GL],
        to: "handling",
    },
    Row {
        action: "dispatch",
        setup: &[REPORT, ACCEPT],
        params: &[("department", "dept-minzheng")],
        roles: &[CS, SDS, DA],
        to: "dispatched",
    },
    Row {
        action: "self_handle",
        setup: &[REPORT],
        params: &[],
        roles: &[GW, GL, CS],
        to: "handling",
    },
    Row {
        action: "department_accept",
        setup: &[REPORT, ACCEPT, DISPATCH],
        params: &[],
        roles: &[DEPT],
        to: "handling",
    },
    Row {
        action: "return_dispatch",
        setup: &[REPORT, ACCEPT, DISPATCH],
        params: &[],
        roles: &[DEPT],
        to: "accepted",
    },
    Row {
        action: "request_extension",
        setup: &[REPORT, ACCEPT, DISPATCH, DEPT_ACCEPT],
        params: &[("days", "5")],
        roles: &[DEPT, GW, GL],
        to: "handling",
    },
    Row {
        action: "approve_extension",
        setup: &[REPORT, ACCEPT, DISPATCH, DEPT_ACCEPT, ASK_EXT],
        params: &[],
        roles: &[CS, SDS, DA],
        to: "handling",
    },
    Row {
        action: "reject_extension",
        setup: &[REPORT, ACCEPT, DISPATCH, DEPT_ACCEPT, ASK_EXT],
        params: &[],
        roles: &[CS, SDS, DA],
        to: "handling",
    },
    Row {
        action: "complete",
        setup: &[REPORT, ACCEPT, DISPATCH, DEPT_ACCEPT],
        params: &[],
        roles: &[DEPT, GW, GL, CS],
        to: "handled",
    },
    Row {
        action: "verify_pass",
        setup: &[REPORT, ACCEPT, DISPATCH, DEPT_ACCEPT, COMPLETE],
        params: &[],
        roles: &[CS, SDS, DA],
        to: "verified",
    },
    Row {
        action: "verify_fail",
        setup: &[REPORT, ACCEPT, DISPATCH, DEPT_ACCEPT, COMPLETE],
        params: &[],
        roles: &[CS, SDS, DA],
        to: "handling",
    },
    Row {
        action: "feedback",
        setup: &[REPORT, ACCEPT, DISPATCH, DEPT_ACCEPT, COMPLETE, VERIFY],
        params: &[],
        roles: &[GW, GL, CS],
        to: "feedback",
    },
    Row {
        action: "follow_up",
        setup: &[REPORT, ACCEPT, DISPATCH, DEPT_ACCEPT, COMPLETE, VERIFY],
        params: &[("satisfaction", "basically_satisfied")],
        roles: &[GW, GL, CS],
        to: "verified",
    },
    Row {
        action: "archive",
        setup: &[REPORT, ACCEPT, DISPATCH, DEPT_ACCEPT, COMPLETE, VERIFY, FEEDBACK],
        params: &[],
        roles: &[CS, SDS, DA],
        to: "archived",
    },
    Row {
        action: "supervise",
        setup: &[REPORT, ACCEPT],
        params: &[("card", "red")],
        roles: &[CS, SDS, DA],
        to: "accepted",
    },
    Row {
        action: "urge",
        setup: &[REPORT, ACCEPT],
        params: &[],
        roles: &[GW, GL, CS, SDS, DA],
        to: "accepted",
    },
];

#[test]
fn table_covers_every_action_of_the_default_definition() {
    let def = def();
    let in_table: Vec<&str> = TABLE.iter().map(|r| r.action).collect();
    for a in def.actions() {
        assert!(in_table.contains(&a.name.as_str()), "action {} has no row", a.name);
        assert!(!a.label_zh.is_empty());
    }
    assert_eq!(in_table.len(), def.actions().len());
}

#[test]
fn every_action_allowed_and_refused_per_role() {
    for row in TABLE {
        let case = Case::new().run(row.setup);
        let state = case.state();
        let p = params(row.params);
        for role in Role::ALL {
            let checked = check(&case.def, &state, row.action, role, role.level(), &p);
            let t = case.make(row.action, role, row.params, case.at + Duration::minutes(5));
            let full = check_transition(&case.def, &state, &t);
            if row.roles.contains(&role) {
                assert_eq!(checked.as_deref(), Ok(row.to), "{} by {}", row.action, role.as_str());
                assert_eq!(
                    full.as_deref(),
                    Ok(row.to),
                    "{} by {} (transition)",
                    row.action,
                    role.as_str()
                );
                // The fold applies it.
                let mut h = case.history.clone();
                h.push(t.clone());
                let folded = fold(&case.def, &h);
                assert_eq!(folded.state, row.to);
                assert_eq!(folded.applied.last(), Some(&t.id));
                assert!(folded.conflicts.is_empty());
            } else {
                let e = checked.expect_err("refused");
                assert_eq!(e.code(), "role_not_allowed", "{} by {}", row.action, role.as_str());
                assert_eq!(
                    e,
                    WorkflowError::RoleNotAllowed {
                        action: row.action.to_string(),
                        role
                    }
                );
                assert_eq!(full.map_err(|e| e.code()), Err("role_not_allowed"));
                // The fold keeps it as a conflict and changes nothing.
                let mut h = case.history.clone();
                h.push(t.clone());
                let folded = fold(&case.def, &h);
                assert_eq!(folded.state, state.state);
                assert_eq!(folded.conflicts.len(), 1);
                assert_eq!(folded.conflicts[0].reason_code, "role_not_allowed");
                assert_eq!(folded.conflicts[0].transition_id, t.id);
            }
        }
    }
}

#[test]
fn every_action_refused_in_a_wrong_state_and_on_closed_cases() {
    let def = def();
    let handled = Case::new().run(&[REPORT, ACCEPT, DISPATCH, DEPT_ACCEPT, COMPLETE]);
    let draft = Case::new();
    let archived = Case::new().run(&[
        REPORT,
        ACCEPT,
        DISPATCH,
        DEPT_ACCEPT,
        COMPLETE,
        VERIFY,
        FEEDBACK,
        ("archive", CS, &[]),
    ]);
    let rejected = Case::new().run(&[REPORT, ("reject", CS, &[])]);
    assert_eq!(archived.state().state, "archived");
    assert_eq!(rejected.state().state, "rejected");
    for row in TABLE {
        let role = row.roles[0];
        let p = params(row.params);
        let action = def.action(row.action).expect("action");
        let wrong = if action.from.iter().any(|s| s == "draft") {
            &handled
        } else {
            &draft
        };
        let e = check(&def, &wrong.state(), row.action, role, role.level(), &p).expect_err("wrong state");
        assert_eq!(e.code(), "action_not_allowed_in_state", "{}", row.action);
        for closed in [&archived, &rejected] {
            let e = check(&def, &closed.state(), row.action, role, role.level(), &p).expect_err("closed");
            assert_eq!(e.code(), "case_closed", "{}", row.action);
        }
    }
    let e = check(&def, &draft.state(), "teleport", GW, OrgLevel::Grid, &BTreeMap::new()).expect_err("unknown");
    assert_eq!(e, WorkflowError::UnknownAction("teleport".into()));
    assert_eq!(e.code(), "unknown_action");
}

#[test]
fn parameters_and_reasons_are_checked() {
    let def = def();
    let codes = |case: &Case, action: &str, role: Role, p: &[(&str, &str)]| {
        check(&def, &case.state(), action, role, role.level(), &params(p)).map_err(|e| e.code())
    };
    // Every required parameter, missing.
    for row in TABLE {
        let case = Case::new().run(row.setup);
        let action = def.action(row.action).expect("action");
        for spec in action.params.iter().filter(|s| s.required) {
            let without: Vec<(&str, &str)> = row.params.iter().filter(|(k, _)| *k != spec.name).copied().collect();
            let e = check(
                &def,
                &case.state(),
                row.action,
                row.roles[0],
                row.roles[0].level(),
                &params(&without),
            )
            .expect_err("missing");
            assert_eq!(
                e,
                WorkflowError::MissingParam {
                    action: row.action.into(),
                    param: spec.name.clone()
                }
            );
        }
        // A missing reason is seen on the transition.
        if action.reason_required {
            let mut t = case.make(row.action, row.roles[0], row.params, case.at);
            t.reason = Some("   ".into());
            let e = check_transition(&def, &case.state(), &t).expect_err("no reason");
            assert_eq!(
                e,
                WorkflowError::MissingParam {
                    action: row.action.into(),
                    param: "reason".into()
                }
            );
        }
    }
    let accepted = Case::new().run(&[REPORT, ACCEPT]);
    assert_eq!(
        codes(&accepted, "dispatch", CS, &[("department", "d"), ("colour", "red")]),
        Err("invalid_param")
    );
    let long = "长".repeat(65);
    assert_eq!(
        codes(&accepted, "dispatch", CS, &[("department", long.as_str())]),
        Err("invalid_param")
    );
    assert_eq!(
        codes(&accepted, "supervise", SDS, &[("card", "purple")]),
        Err("invalid_param")
    );
    assert_eq!(
        codes(&accepted, "supervise", SDS, &[("card", "yellow")]),
        Ok("accepted".into())
    );
    let handling = Case::new().run(&[REPORT, ACCEPT, DISPATCH, DEPT_ACCEPT]);
    for bad in ["0", "31", "three", "-1", "2.5"] {
        assert_eq!(
            codes(&handling, "request_extension", DEPT, &[("days", bad)]),
            Err("invalid_param"),
            "{bad}"
        );
    }
    assert_eq!(
        codes(&handling, "approve_extension", CS, &[]),
        Err("no_pending_extension")
    );
    assert_eq!(
        codes(&handling, "reject_extension", CS, &[]),
        Err("no_pending_extension")
    );
    let pending = Case::new().run(&[REPORT, ACCEPT, DISPATCH, DEPT_ACCEPT, ASK_EXT]);
    assert_eq!(
        codes(&pending, "request_extension", DEPT, &[("days", "2")]),
        Err("extension_pending")
    );
    assert_eq!(
        codes(&pending, "approve_extension", CS, &[("days", "4")]),
        Err("invalid_param")
    );
    assert_eq!(
        codes(&pending, "approve_extension", CS, &[("days", "2")]),
        Ok("handling".into())
    );
    let verified = Case::new().run(&[REPORT, ACCEPT, DISPATCH, DEPT_ACCEPT, COMPLETE, VERIFY]);
    assert_eq!(
        codes(&verified, "follow_up", GW, &[("satisfaction", "happy")]),
        Err("invalid_param")
    );
    let draft = Case::new();
    assert_eq!(
        codes(&draft, "intake", GW, &[("channel", "carrier_pigeon")]),
        Err("invalid_param")
    );
    assert_eq!(
        codes(&draft, "escalate", GW, &[("level", "community")]),
        Err("invalid_param")
    );
}

#[test]
fn org_levels_and_the_holder_are_checked() {
    let def = def();
    let draft = Case::new();
    let p = params(&[("level", "sub_district")]);
    // 越级上报 from a grid, a sub-grid (village 二级网格) or a community; not from a building.
    for (level, ok) in [
        (OrgLevel::Grid, true),
        (OrgLevel::SubGrid, true),
        (OrgLevel::Building, false),
    ] {
        let r = check(&def, &draft.state(), "escalate", GW, level, &p);
        assert_eq!(r.is_ok(), ok, "{level:?}");
        if !ok {
            assert_eq!(r.map_err(|e| e.code()), Err("level_not_allowed"));
        }
    }
    let dispatched = Case::new().run(&[REPORT, ACCEPT, DISPATCH]);
    assert_eq!(
        check(
            &def,
            &dispatched.state(),
            "department_accept",
            DEPT,
            OrgLevel::Community,
            &BTreeMap::new()
        )
        .map_err(|e| e.code()),
        Err("level_not_allowed")
    );

    // After 越级上报 to the sub-district, the community can no longer accept or reject it.
    let mut case = Case::new();
    case.act("escalate", GW, &[("level", "sub_district")])
        .expect("escalate");
    let state = case.state();
    assert_eq!(state.holder, Some(OrgLevel::SubDistrict));
    let e = check(&def, &state, "accept", CS, OrgLevel::Community, &BTreeMap::new()).expect_err("not holder");
    assert_eq!(
        e,
        WorkflowError::NotHolder {
            action: "accept".into(),
            level: OrgLevel::Community,
            holder: OrgLevel::SubDistrict
        }
    );
    assert_eq!(e.code(), "not_holder_level");
    assert_eq!(
        check(&def, &state, "reject", CS, OrgLevel::Community, &BTreeMap::new()).map_err(|e| e.code()),
        Err("not_holder_level")
    );
    assert!(check(&def, &state, "accept", SDS, OrgLevel::SubDistrict, &BTreeMap::new()).is_ok());
    assert!(check(&def, &state, "accept", DA, OrgLevel::District, &BTreeMap::new()).is_ok());
    // The fold refuses the community's acceptance the same way.
    let t = case.make("accept", CS, &[], case.at + Duration::minutes(1));
    case.history.push(t);
    let folded = case.state();
    assert_eq!(folded.state, "reported");
    assert_eq!(folded.conflicts[0].reason_code, "not_holder_level");
}

#[test]
fn available_actions_match_check() {
    let def = def();
    let accepted = Case::new().run(&[REPORT, ACCEPT]).state();
    let names = |role: Role| -> Vec<String> {
        workflow::available_actions(&def, &accepted, role, role.level())
            .iter()
            .map(|a| a.name.clone())
            .collect()
    };
    assert_eq!(
        names(CS),
        [
            "escalate",
            "publish_for_claim",
            "dispatch",
            "self_handle",
            "supervise",
            "urge"
        ]
    );
    assert_eq!(names(GW), ["escalate", "self_handle", "urge"]);
    assert_eq!(names(DEPT), Vec::<String>::new());
}

/// Found by the simulation (issue 16): `request_extension` was offered while an extension was
/// pending, and `approve_extension` / `reject_extension` with none pending, although `check`
/// refuses them whatever the parameters: a button that always fails.
#[test]
fn extension_buttons_follow_the_pending_extension() {
    let def = def();
    let names = |state: &workflow::CaseState, role: Role| -> Vec<String> {
        workflow::available_actions(&def, state, role, role.level())
            .iter()
            .map(|a| a.name.clone())
            .collect()
    };
    let has = |v: &[String], n: &str| v.iter().any(|x| x == n);
    let handling = Case::new().run(&[REPORT, ACCEPT, DISPATCH, DEPT_ACCEPT]).state();
    assert!(has(&names(&handling, DEPT), "request_extension"));
    assert!(!has(&names(&handling, CS), "approve_extension"));
    assert!(!has(&names(&handling, CS), "reject_extension"));
    let pending = Case::new()
        .run(&[REPORT, ACCEPT, DISPATCH, DEPT_ACCEPT, ASK_EXT])
        .state();
    assert!(!has(&names(&pending, DEPT), "request_extension"));
    assert!(has(&names(&pending, CS), "approve_extension"));
    assert!(has(&names(&pending, CS), "reject_extension"));
    // Every offered action is refused, if at all, only for its parameters.
    for (state, role) in [(&handling, DEPT), (&handling, CS), (&pending, DEPT), (&pending, CS)] {
        for a in workflow::available_actions(&def, state, role, role.level()) {
            let r = check(&def, state, &a.name, role, role.level(), &BTreeMap::new());
            assert!(
                matches!(
                    r,
                    Ok(_)
                        | Err(
                            workflow::WorkflowError::MissingParam { .. } | workflow::WorkflowError::InvalidParam { .. }
                        )
                ),
                "{} offered but refused: {r:?}",
                a.name
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// the fold

#[test]
fn full_loop_sets_times_assignment_and_clocks() {
    let mut c = Case::new();
    let t = |d: u32, h: u32, m: u32| cst(2026, 3, d, h, m, 0);
    c.act_at("report", GW, &[], t(2, 9, 0)).expect("report");
    c.act_at("accept", CS, &[], t(2, 10, 0)).expect("accept");
    c.act_at("dispatch", CS, &[("department", "dept-a")], t(2, 11, 0))
        .expect("dispatch");
    c.act_at("return_dispatch", DEPT, &[], t(2, 14, 0)).expect("return");
    let s = c.state();
    assert_eq!((s.state.as_str(), s.department.as_deref()), ("accepted", None));
    c.act_at("dispatch", CS, &[("department", "dept-b")], t(3, 9, 0))
        .expect("re-dispatch");
    c.act_at("department_accept", DEPT, &[], t(3, 10, 0)).expect("accept");
    c.act_at("supervise", SDS, &[("card", "yellow")], t(4, 9, 0))
        .expect("督办");
    c.act_at("urge", GW, &[], t(4, 10, 0)).expect("催办");
    c.act_at("urge", CS, &[], t(4, 11, 0)).expect("催办");
    c.act_at("complete", DEPT, &[], t(5, 15, 0)).expect("办结");
    c.act_at("verify_fail", CS, &[], t(6, 9, 0)).expect("验证不通过");
    let s = c.state();
    assert_eq!((s.state.as_str(), s.times.handled_at), ("handling", None));
    c.act_at("complete", DEPT, &[], t(6, 16, 0)).expect("办结");
    c.act_at("verify_pass", SDS, &[], t(9, 9, 0)).expect("verify");
    c.act_at("follow_up", GW, &[("satisfaction", "dissatisfied")], t(9, 10, 0))
        .expect("二次走访");
    c.act_at("feedback", GW, &[], t(9, 11, 0)).expect("反馈");
    c.act_at("follow_up", GW, &[("satisfaction", "satisfied")], t(10, 10, 0))
        .expect("二次走访");
    c.act_at("archive", CS, &[], t(10, 11, 0)).expect("归档");

    let s = c.state();
    assert_eq!(s.state, "archived");
    assert_eq!(s.stage, None);
    assert_eq!(s.applied.len(), c.history.len());
    assert!(s.conflicts.is_empty());
    assert_eq!(s.department.as_deref(), Some("dept-b"));
    assert_eq!(s.assignee.as_deref(), Some("department-1"));
    assert_eq!(s.supervision.len(), 1);
    assert_eq!(s.supervision[0].card, workflow::CardLevel::Yellow);
    assert_eq!(s.urge_count, 2);
    assert_eq!(s.satisfaction, Some(Satisfaction::Satisfied));
    assert_eq!(s.times.reported_at, Some(t(2, 9, 0)));
    assert_eq!(s.times.responded_at, Some(t(2, 10, 0)));
    assert_eq!(s.times.accepted_at, Some(t(2, 10, 0)));
    assert_eq!(s.times.dispatched_at, Some(t(3, 9, 0)));
    assert_eq!(s.times.handled_at, Some(t(6, 16, 0)));
    assert_eq!(s.times.verified_at, Some(t(9, 9, 0)));
    assert_eq!(s.times.feedback_at, Some(t(9, 11, 0)));
    assert_eq!(s.times.archived_at, Some(t(10, 11, 0)));
    assert_eq!(s.times.closed_at, Some(t(10, 11, 0)));
    // The handling clock restarted at the re-dispatch and resumed after the failed
    // verification, the wait for verification (5th 15:00 → 6th 09:00) not counting.
    let handle = &s.clocks["handle"];
    assert_eq!(handle.since, t(3, 9, 0));
    assert_eq!(handle.left_at, Some(t(6, 16, 0)));
    assert_eq!(handle.pauses.len(), 1);
    assert_eq!(handle.pauses[0].kind, workflow::PauseKind::OutOfStage);
    assert_eq!(
        (handle.pauses[0].from, handle.pauses[0].to),
        (t(5, 15, 0), Some(t(6, 9, 0)))
    );
    assert_eq!(s.clocks["accept"].left_at, Some(t(2, 10, 0)));
}

#[test]
fn concurrent_transitions_fold_to_one_state_with_conflicts() {
    // A worker completes the case while the department returns it, both offline from
    // `handling`. Whatever comes first in the merged list wins; the other is a conflict.
    let base = Case::new().run(&[("self_handle", GW, &[]), ("request_extension", GW, &[("days", "2")])]);
    assert_eq!(base.state().state, "handling");
    let mut complete = base.make("complete", GW, &[], base.at + Duration::minutes(5));
    complete.id = "complete".into();
    let mut dept_return = base.make("return_dispatch", DEPT, &[], base.at + Duration::minutes(6));
    dept_return.id = "return".into();
    let mut approve = base.make("approve_extension", CS, &[], base.at + Duration::minutes(7));
    approve.id = "approve".into();

    let mut h1 = base.history.clone();
    h1.extend([complete.clone(), dept_return.clone(), approve.clone()]);
    let s1 = fold(&base.def, &h1);
    assert_eq!(s1.state, "handled");
    let codes: Vec<(&str, &str)> = s1
        .conflicts
        .iter()
        .map(|c| (c.transition_id.as_str(), c.reason_code.as_str()))
        .collect();
    // Leaving the handle stage dropped the pending extension, so the approval finds none...
    // but it was made from `handling` and the case is `handled`: stale.
    assert_eq!(codes, [("return", "stale_from_state"), ("approve", "stale_from_state")]);
    assert_eq!(s1.pending_extension, None);

    let mut h2 = base.history.clone();
    h2.extend([approve.clone(), dept_return.clone(), complete.clone()]);
    let s2 = fold(&base.def, &h2);
    assert_eq!(s2.state, "accepted");
    assert_eq!(s2.approved_extension_days, 2);
    assert_eq!(s2.conflicts.len(), 1);
    assert_eq!(s2.conflicts[0].transition_id, "complete");
    assert_eq!(s2.conflicts[0].state, "accepted");
    // Nothing disappears: applied + conflicts = history.
    for s in [&s1, &s2] {
        assert_eq!(s.applied.len() + s.conflicts.len(), h1.len());
        assert_eq!(s.history_len, h1.len());
    }
}

#[test]
fn two_departments_accepting_and_odd_histories() {
    let base = Case::new().run(&[REPORT, ACCEPT, DISPATCH]);
    let mut a = base.make("department_accept", DEPT, &[], base.at + Duration::minutes(1));
    a.id = "a".into();
    a.actor = "dept-a".into();
    let mut b = a.clone();
    b.id = "b".into();
    b.actor = "dept-b".into();
    let mut h = base.history.clone();
    h.extend([a.clone(), b.clone()]);
    let s = fold(&base.def, &h);
    assert_eq!(s.assignee.as_deref(), Some("dept-a"));
    assert_eq!(s.conflicts[0].reason_code, "stale_from_state");

    // The same transition twice (a replayed append) is kept but not applied twice.
    let mut h = base.history.clone();
    h.extend([a.clone(), a.clone()]);
    let s = fold(&base.def, &h);
    assert_eq!(s.applied.len(), base.history.len() + 1);
    assert_eq!(s.conflicts[0].reason_code, "duplicate_transition");

    // A transition whose recorded target disagrees with the definition.
    let mut wrong = a.clone();
    wrong.to = "archived".into();
    let mut h = base.history.clone();
    h.push(wrong);
    assert_eq!(fold(&base.def, &h).conflicts[0].reason_code, "to_state_mismatch");

    // An action this definition does not know (newer app) is a conflict, not a panic.
    let mut unknown = a;
    unknown.action = "teleport".into();
    let mut h = base.history.clone();
    h.push(unknown);
    assert_eq!(fold(&base.def, &h).conflicts[0].reason_code, "unknown_action");
}

// ---------------------------------------------------------------------------------------------
// 抢单

#[test]
fn concurrent_claims_merged_both_ways_give_one_owner() {
    let base = Case::new().run(&[INTAKE, PUBLISH]);
    assert_eq!(base.state().state, "open_for_claim");
    assert_eq!(base.state().channel.as_deref(), Some("phone"));
    // Two workers claim offline on their own phones, each valid against its own fold.
    let mut claim_a = base.make("claim", GW, &[], base.at + Duration::minutes(3));
    claim_a.id = "claim-a".into();
    claim_a.actor = "worker-a".into();
    let mut claim_b = base.make("claim", GL, &[], base.at + Duration::minutes(2));
    claim_b.id = "claim-b".into();
    claim_b.actor = "leader-b".into();
    assert!(check_transition(&base.def, &base.state(), &claim_a).is_ok());
    assert!(check_transition(&base.def, &base.state(), &claim_b).is_ok());

    // Replica A merges B's change, replica B merges A's: the list order is the same on both
    // (the CRDT decides it); here both orders are tried.
    for (first, second) in [(&claim_a, &claim_b), (&claim_b, &claim_a)] {
        let mut on_a = base.history.clone();
        on_a.extend([first.clone(), second.clone()]);
        let on_b = on_a.clone();
        let (sa, sb) = (fold(&base.def, &on_a), fold(&base.def, &on_b));
        assert_eq!(sa, sb);
        assert_eq!(sa.claim_owner.as_deref(), Some(first.actor.as_str()));
        assert_eq!(sa.assignee.as_deref(), Some(first.actor.as_str()));
        assert_eq!(claim_outcome(&sa, &first.actor), ClaimOutcome::Won);
        assert_eq!(claim_outcome(&sa, &second.actor), ClaimOutcome::Lost);
        assert_eq!(claim_outcome(&sa, "someone-else"), ClaimOutcome::Lost);
        assert_eq!(sa.conflicts.len(), 1);
        assert_eq!(sa.conflicts[0].transition_id, second.id);
        assert_eq!(sa.conflicts[0].actor, second.actor);
        assert_eq!(sa.conflicts[0].reason_code, "claim_lost");
    }
    // Before any claim, nobody has it; a claim attempt after the win is refused up front.
    assert_eq!(claim_outcome(&base.state(), "worker-a"), ClaimOutcome::NotClaimed);
    let mut won = base.history.clone();
    won.push(claim_a.clone());
    let e = check(
        &base.def,
        &fold(&base.def, &won),
        "claim",
        GL,
        OrgLevel::Grid,
        &BTreeMap::new(),
    )
    .expect_err("taken");
    assert_eq!(
        e,
        WorkflowError::AlreadyClaimed {
            owner: "worker-a".into()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// convergence over simulated replicas

/// splitmix64: a small deterministic generator driven by the proptest seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A replica's copy of the case's transition list. Entries are keyed by (Lamport time,
/// replica id): a new append gets a time above everything the replica has seen, so it sorts
/// after them, and concurrent appends are ordered by replica id. The merged order is the same
/// whatever order replicas exchange changes in, like Automerge's list.
#[derive(Clone)]
struct Replica {
    id: u8,
    clock: u64,
    entries: BTreeMap<(u64, u8), Transition>,
}

impl Replica {
    fn list(&self) -> Vec<Transition> {
        self.entries.values().cloned().collect()
    }
    fn merge_from(&mut self, other: &Replica) {
        for (k, t) in &other.entries {
            self.entries.entry(*k).or_insert_with(|| t.clone());
        }
        self.clock = self.clock.max(other.clock);
    }
    /// Take a random action that is valid against this replica's own fold; `None` if there is
    /// nothing to do (closed case).
    fn act(&mut self, def: &WorkflowDefinition, rng: &mut Rng, made: &mut Vec<String>) -> Option<()> {
        let list = self.list();
        let state = fold(def, &list);
        let at =
            cst(2026, 3, 2, 9, 0, 0) + Duration::minutes(self.clock as i64 * 7) + Duration::seconds(i64::from(self.id));
        let mut options = Vec::new();
        for a in def.actions() {
            for &role in &a.roles {
                let mut p = BTreeMap::new();
                for spec in &a.params {
                    if !spec.required && rng.below(2) == 0 {
                        continue;
                    }
                    let v = match spec.kind {
                        workflow::ParamType::Text => format!("dept-{}", rng.below(3)),
                        workflow::ParamType::Int => {
                            let (lo, hi) = (spec.min.unwrap_or(1), spec.max.unwrap_or(5).min(5));
                            (lo + rng.below((hi - lo + 1) as usize) as i64).to_string()
                        }
                        workflow::ParamType::Choice => spec.values[rng.below(spec.values.len())].key.clone(),
                    };
                    p.insert(spec.name.clone(), v);
                }
                let to = match &a.to {
                    Target::State(s) => s.clone(),
                    Target::Stay => state.state.clone(),
                };
                let t = Transition {
                    id: format!("r{}-{}", self.id, made.len()),
                    action: a.name.clone(),
                    from: state.state.clone(),
                    to,
                    actor: format!("{}@r{}", role.as_str(), self.id),
                    role,
                    org_node: format!("node-r{}", self.id),
                    at,
                    device_time: at,
                    reason: a.reason_required.then(|| "理由".to_string()),
                    params: p,
                    attachments: vec![],
                };
                if check_transition(def, &state, &t).is_ok() {
                    options.push(t);
                }
            }
        }
        if options.is_empty() {
            return None;
        }
        let t = options.swap_remove(rng.below(options.len()));
        // Valid for them: their own fold applies it.
        let mut local = list;
        local.push(t.clone());
        let folded = fold(def, &local);
        assert_eq!(
            folded.applied.last(),
            Some(&t.id),
            "locally valid transition was not applied"
        );
        self.clock += 1;
        made.push(t.id.clone());
        self.entries.insert((self.clock, self.id), t);
        Some(())
    }
}

fn converge(
    def: &WorkflowDefinition,
    replicas: usize,
    prefix: usize,
    rounds: usize,
    seed: u64,
) -> Result<(), TestCaseError> {
    let mut rng = Rng(seed);
    let mut made = Vec::new();
    // A common prefix made on replica 0 and known to all.
    let mut origin = Replica {
        id: 0,
        clock: 0,
        entries: BTreeMap::new(),
    };
    for _ in 0..prefix {
        if origin.act(def, &mut rng, &mut made).is_none() {
            break;
        }
    }
    let mut reps: Vec<Replica> = (1..=replicas as u8)
        .map(|id| Replica { id, ..origin.clone() })
        .collect();
    for _ in 0..rounds {
        // Offline work.
        for r in reps.iter_mut() {
            for _ in 0..rng.below(5) {
                if r.act(def, &mut rng, &mut made).is_none() {
                    break;
                }
            }
        }
        // Some exchanges in a random order (partial sync).
        for _ in 0..rng.below(replicas * 2) {
            let (a, b) = (rng.below(replicas), rng.below(replicas));
            if a != b {
                let src = reps[b].clone();
                reps[a].merge_from(&src);
            }
        }
    }
    // Full sync, in a random order: everyone into one hub, the hub back to everyone.
    let mut order: Vec<usize> = (0..replicas).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let hub = order[0];
    for &i in &order[1..] {
        let src = reps[i].clone();
        reps[hub].merge_from(&src);
    }
    for &i in &order[1..] {
        let src = reps[hub].clone();
        reps[i].merge_from(&src);
    }

    // Reference: the union of every replica's changes, merged in another order.
    let mut reference = origin.clone();
    for r in reps.iter().rev() {
        reference.merge_from(r);
    }
    let reference_list = reference.list();
    let reference_state = fold(def, &reference_list);
    let ids: Vec<&str> = reference_list.iter().map(|t| t.id.as_str()).collect();
    for r in &reps {
        let list = r.list();
        prop_assert_eq!(&list, &reference_list);
        prop_assert_eq!(&fold(def, &list), &reference_state);
    }
    // Every transition made is in the history, once.
    prop_assert_eq!(ids.len(), made.len());
    for id in &made {
        prop_assert!(ids.contains(&id.as_str()));
    }
    // Applied and conflicts partition the history, in history order.
    let mut partition: Vec<&str> = reference_state.applied.iter().map(String::as_str).collect();
    partition.extend(reference_state.conflicts.iter().map(|c| c.transition_id.as_str()));
    partition.sort_unstable();
    let mut sorted_ids = ids.clone();
    sorted_ids.sort_unstable();
    prop_assert_eq!(partition, sorted_ids);
    // One claim owner at most, and it is the actor of an applied claim.
    if let Some(owner) = &reference_state.claim_owner {
        let claim_id = reference_state.claim_transition.clone().unwrap_or_default();
        let claim = reference_list.iter().find(|t| t.id == claim_id);
        prop_assert!(claim.is_some_and(|t| &t.actor == owner && t.action == "claim"));
        prop_assert_eq!(claim_outcome(&reference_state, owner), ClaimOutcome::Won);
    }
    // A lost claim lost to someone else at that point of the history. Judged on the history up to
    // the losing claim, not at the end: a later re-open (OpenClaim) legitimately clears the owner.
    for c in &reference_state.conflicts {
        if c.reason_code == "claim_lost" {
            let at = reference_list
                .iter()
                .position(|t| t.id == c.transition_id)
                .unwrap_or_default();
            let then = fold(def, &reference_list[..=at]);
            prop_assert_eq!(claim_outcome(&then, &c.actor), ClaimOutcome::Lost);
            prop_assert!(then.conflicts.iter().any(|k| k.transition_id == c.transition_id));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn replicas_converge_on_state_conflicts_and_history(
        replicas in 2usize..=5,
        prefix in 0usize..7,
        rounds in 1usize..=3,
        seed in any::<u64>(),
    ) {
        let def = def();
        converge(&def, replicas, prefix, rounds, seed)?;
    }
}

#[test]
fn convergence_model_produces_conflicts_and_claims() {
    // Make sure the property above exercises what it should: over a batch of seeds, merged
    // histories contain conflicts, including lost claims.
    let def = def();
    let (mut conflicts, mut claims_lost) = (0, 0);
    for seed in 0..200u64 {
        let mut rng = Rng(seed);
        let mut made = Vec::new();
        let mut origin = Replica {
            id: 0,
            clock: 0,
            entries: BTreeMap::new(),
        };
        // Steer the prefix to an open request.
        for step in [INTAKE, PUBLISH] {
            let state = fold(&def, &origin.list());
            let (action, role, p) = step;
            let at = cst(2026, 3, 2, 9, 0, 0);
            let t = Transition {
                id: format!("p-{action}"),
                action: action.into(),
                from: state.state.clone(),
                to: match &def.action(action).expect("action").to {
                    Target::State(s) => s.clone(),
                    Target::Stay => state.state.clone(),
                },
                actor: actor(role),
                role,
                org_node: "n".into(),
                at,
                device_time: at,
                reason: None,
                params: params(p),
                attachments: vec![],
            };
            origin.clock += 1;
            origin.entries.insert((origin.clock, 0), t);
        }
        let mut reps: Vec<Replica> = (1..=3u8).map(|id| Replica { id, ..origin.clone() }).collect();
        for r in reps.iter_mut() {
            for _ in 0..3 {
                r.act(&def, &mut rng, &mut made);
            }
        }
        let mut all = origin.clone();
        for r in &reps {
            all.merge_from(r);
        }
        let s = fold(&def, &all.list());
        conflicts += s.conflicts.len();
        claims_lost += s.conflicts.iter().filter(|c| c.reason_code == "claim_lost").count();
    }
    assert!(conflicts > 50, "only {conflicts} conflicts");
    assert!(claims_lost > 5, "only {claims_lost} lost claims");
}

// ---------------------------------------------------------------------------------------------
// calendar and time limits

#[test]
fn calendar_knows_2025_2026_and_flags_2027() {
    let cal = workflow::calendar_cn().expect("calendar");
    let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).expect("date");
    // 2026 春节: 2月15日–23日 off; 2月14日 (Sat) and 2月28日 (Sat) worked.
    assert!(!cal.is_working_day(d(2026, 2, 16)));
    assert!(!cal.is_working_day(d(2026, 2, 23)));
    assert_eq!(cal.holiday(d(2026, 2, 17)), Some("春节"));
    assert!(cal.is_working_day(d(2026, 2, 14)) && cal.is_makeup_workday(d(2026, 2, 14)));
    assert!(cal.is_working_day(d(2026, 2, 28)));
    assert!(cal.is_working_day(d(2026, 2, 24)));
    // 2025 国庆 + 中秋: 10月1日–8日 off; 9月28日 (Sun) and 10月11日 (Sat) worked.
    assert!(!cal.is_working_day(d(2025, 10, 8)));
    assert!(cal.is_working_day(d(2025, 9, 28)) && cal.is_working_day(d(2025, 10, 11)));
    // Plain weekends and weekdays.
    assert!(!cal.is_working_day(d(2026, 3, 7)));
    assert!(cal.is_working_day(d(2026, 3, 9)));
    assert!(cal.is_official(2025) && cal.is_official(2026) && !cal.is_official(2027));
    assert_eq!(cal.year(2027).map(|y| y.status.as_str()), Some("provisional"));
    assert!(!cal.is_working_day(d(2027, 2, 8)));
    assert!(cal.source().contains("国办发明电〔2024〕12号"));
    // Working time: Friday 16:00 → Monday 10:00 is 1.5 h (Fri) + 1.5 h (Mon).
    assert_eq!(
        cal.working_time_between(cst(2026, 3, 6, 16, 0, 0), cst(2026, 3, 9, 10, 0, 0)),
        Duration::hours(3)
    );
    // The lunch break does not count.
    assert_eq!(
        cal.add_working_hours(cst(2026, 3, 9, 11, 0, 0), 2),
        cst(2026, 3, 9, 14, 30, 0)
    );
    // Running out exactly at 17:30 stays on that day.
    assert_eq!(
        cal.add_working_hours(cst(2026, 3, 9, 13, 30, 0), 4),
        cst(2026, 3, 9, 17, 30, 0)
    );
}

#[test]
fn calendar_and_limits_errors_are_typed() {
    let cal: serde_json::Value = serde_json::from_str(workflow::CALENDAR_CN_JSON).expect("json");
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = cal.clone();
        f(&mut v);
        workflow::WorkCalendar::from_json(&v.to_string())
            .map(|_| ())
            .map_err(|e| e.code())
    };
    assert_eq!(with(&|_| {}), Ok(()));
    assert_eq!(
        with(&|v| v["years"][1]["workdays"][1]["date"] = "2026-02-16".into()),
        Err("invalid_calendar")
    );
    assert_eq!(
        with(&|v| v["work_periods"][1]["start"] = "11:00".into()),
        Err("invalid_calendar")
    );
    assert_eq!(with(&|v| v["utc_offset"] = "CST".into()), Err("invalid_calendar"));
    assert_eq!(
        with(&|v| v["years"][0]["holidays"][0]["from"] = "2025-13-01".into()),
        Err("invalid_calendar")
    );

    let lim: serde_json::Value = serde_json::from_str(workflow::DEFAULT_TIME_LIMITS_JSON).expect("json");
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = lim.clone();
        f(&mut v);
        workflow::TimeLimits::from_json(&v.to_string())
            .map(|_| ())
            .map_err(|e| e.code())
    };
    assert_eq!(with(&|_| {}), Ok(()));
    assert_eq!(
        with(&|v| v["rules"][0]["stage"] = "lunch".into()),
        Err("invalid_time_limits")
    );
    assert_eq!(
        with(&|v| v["rules"][1]["yellow_pct"] = 95.into()),
        Err("invalid_time_limits")
    );
    assert_eq!(
        with(&|v| v["rules"][1]["amount"] = 0.into()),
        Err("invalid_time_limits")
    );
    assert_eq!(
        with(&|v| v["rules"][1]["scale"] = "huge".into()),
        Err("invalid_time_limits")
    );
    assert_eq!(
        with(&|v| v["rules"][1]["unit"] = "fortnights".into()),
        Err("invalid_data_file")
    );
}

#[test]
fn limits_resolve_most_specific_rule() {
    let limits = workflow::default_time_limits().expect("limits");
    let class = |category, subcategory, scale| CaseClass {
        category,
        subcategory,
        scale,
    };
    let handle = |c: CaseClass<'_>| limits.rule("handle", &c).map(|r| (r.amount, r.unit));
    use workflow::LimitUnit::*;
    assert_eq!(handle(class("dispute", None, "individual")), Ok((5, WorkingDays)));
    assert_eq!(
        handle(class("dispute", Some("neighbour"), "group")),
        Ok((3, WorkingDays))
    );
    assert_eq!(
        handle(class("safety_hazard", Some("fire"), "individual")),
        Ok((2, WorkingDays))
    );
    assert_eq!(
        handle(class("safety_hazard", Some("gas"), "major_group")),
        Ok((1, WorkingDays))
    );
    assert_eq!(handle(class("emergency", None, "major_group")), Ok((4, NaturalHours)));
    assert_eq!(
        handle(class("unknown_category", None, "unknown_scale")),
        Ok((5, WorkingDays))
    );
    let e = limits
        .rule("lunch", &class("dispute", None, "individual"))
        .expect_err("no stage");
    assert_eq!(e.code(), "no_time_limit");
    // Every category × scale × stage of the file resolves.
    for stage in &limits.stages {
        for c in &limits.categories {
            for s in &limits.scales {
                assert!(limits.rule(&stage.key, &class(&c.key, None, &s.key)).is_ok());
            }
        }
    }
}

const DISPUTE: CaseClass<'static> = CaseClass {
    category: "dispute",
    subcategory: None,
    scale: "individual",
};

/// A case dispatched at `dispatched` (local) after report and acceptance an hour earlier.
fn dispatched_case(dispatched: DateTime<Utc>) -> Case {
    let mut c = Case::new();
    c.act_at("report", GW, &[], dispatched - Duration::hours(2))
        .expect("report");
    c.act_at("accept", CS, &[], dispatched - Duration::hours(1))
        .expect("accept");
    c.act_at("dispatch", CS, &[("department", "dept-a")], dispatched)
        .expect("dispatch");
    c
}

#[test]
fn handling_deadline_crosses_the_2026_spring_festival() {
    let limits = workflow::default_time_limits().expect("limits");
    let cal = workflow::calendar_cn().expect("calendar");
    // Dispatched Thu 2026-02-12 10:00; 矛盾纠纷/个体 has 5 working days to handle.
    // The start day does not count. Working days after it:
    //   Fri 02-13 (1), Sat 02-14 调休上班 (2), [02-15 … 02-23 春节 off], Tue 02-24 (3),
    //   Wed 02-25 (4), Thu 02-26 (5)  →  deadline Thu 02-26 17:30.
    let c = dispatched_case(cst(2026, 2, 12, 10, 0, 0));
    let s = c.state();
    let at = |now| {
        deadline_status(&limits, &cal, &s, &DISPUTE, now)
            .expect("rule")
            .expect("timed stage")
    };
    let st = at(cst(2026, 2, 20, 12, 0, 0));
    assert_eq!(st.stage, "handle");
    assert_eq!(st.deadline, cst(2026, 2, 26, 17, 30, 0));
    // Budget: 02-12 10:00–12:00 + 13:30–17:30 = 6 h, then 5 × 7.5 h = 37.5 h: 43.5 h.
    // Yellow at 75 % = 32.625 h: 6 + 7.5 (13th) + 7.5 (14th) + 7.5 (24th) = 28.5 h, then on the
    // 25th 3.5 h in the morning and 0.625 h = 37 min 30 s after 13:30 → 02-25 14:07:30.
    assert_eq!(st.yellow_at, cst(2026, 2, 25, 14, 7, 30));
    // Red at 90 % = 39.15 h = 39 h 9 min: 36 h by the end of the 25th, 3 h 9 min after 08:30
    // on the 26th → 02-26 11:39.
    assert_eq!(st.red_at, cst(2026, 2, 26, 11, 39, 0));
    assert_eq!(st.level, DeadlineLevel::OnTime); // in the middle of the holiday
    assert_eq!(at(cst(2026, 2, 25, 15, 0, 0)).level, DeadlineLevel::Yellow);
    assert_eq!(at(cst(2026, 2, 26, 12, 0, 0)).level, DeadlineLevel::Red);
    assert_eq!(at(cst(2026, 2, 26, 17, 30, 0)).level, DeadlineLevel::Red);
    let late = at(cst(2026, 2, 26, 17, 31, 0));
    assert_eq!((late.level, late.overdue), (DeadlineLevel::Overdue, true));

    // The response stage (4 working hours from the report at 08:00 on 02-12) finished on time:
    // 08:30–12:00 3.5 h + 0.5 h → 13:30 + 30 min = 14:00; accepted at 09:00.
    let resp = stage_deadline(&limits, &cal, &s, &DISPUTE, "accept", cst(2026, 3, 1, 0, 0, 0))
        .expect("rule")
        .expect("entered");
    assert_eq!(resp.deadline, cst(2026, 2, 12, 14, 0, 0));
    assert_eq!(resp.finished_at, Some(cst(2026, 2, 12, 9, 0, 0)));
    assert_eq!(resp.level, DeadlineLevel::OnTime);
}

#[test]
fn response_deadline_lands_on_a_tiaoxiu_saturday() {
    let limits = workflow::default_time_limits().expect("limits");
    let cal = workflow::calendar_cn().expect("calendar");
    let reported = |at| {
        let mut c = Case::new();
        c.act_at("report", GW, &[], at).expect("report");
        c.state()
    };
    // Reported Fri 2026-02-27 16:00; 4 working hours to accept. Fri 16:00–17:30 is 1.5 h;
    // Sat 02-28 is a 调休 working day: 08:30 + 2.5 h = 11:00.
    let s = reported(cst(2026, 2, 27, 16, 0, 0));
    let st = deadline_status(&limits, &cal, &s, &DISPUTE, cst(2026, 2, 27, 17, 0, 0))
        .expect("rule")
        .expect("stage");
    assert_eq!(st.stage, "accept");
    assert_eq!(st.deadline, cst(2026, 2, 28, 11, 0, 0));
    // Yellow at 3 h: 1.5 h Fri + 1.5 h Sat → 10:00; red at 3.6 h = 3 h 36 min → 10:36.
    assert_eq!(st.yellow_at, cst(2026, 2, 28, 10, 0, 0));
    assert_eq!(st.red_at, cst(2026, 2, 28, 10, 36, 0));
    // The same a week later: Sat 03-07 and Sun 03-08 are off → Mon 03-09 11:00.
    let s = reported(cst(2026, 3, 6, 16, 0, 0));
    let st = deadline_status(&limits, &cal, &s, &DISPUTE, cst(2026, 3, 6, 17, 0, 0))
        .expect("rule")
        .expect("stage");
    assert_eq!(st.deadline, cst(2026, 3, 9, 11, 0, 0));
}

#[test]
fn pending_extension_pauses_the_clock_and_approval_adds_days() {
    let limits = workflow::default_time_limits().expect("limits");
    let cal = workflow::calendar_cn().expect("calendar");
    // Dispatched Mon 2026-03-02 09:00, 5 working days: 03-03, 04, 05, 06, 09 → Mon 03-09 17:30.
    // Budget: 02nd 09:00–12:00 + 13:30–17:30 = 7 h, plus 5 × 7.5 h = 44.5 h.
    let mut c = dispatched_case(cst(2026, 3, 2, 9, 0, 0));
    c.act_at("department_accept", DEPT, &[], cst(2026, 3, 2, 11, 0, 0))
        .expect("接单");
    let st = |c: &Case, now| {
        deadline_status(&limits, &cal, &c.state(), &DISPUTE, now)
            .expect("rule")
            .expect("stage")
    };
    assert_eq!(st(&c, cst(2026, 3, 3, 9, 0, 0)).deadline, cst(2026, 3, 9, 17, 30, 0));

    // 申请延期 (3 days) Wed 03-04 10:00. By then 7 + 7.5 + 1.5 = 16 h were used; 28.5 h left.
    c.act_at("request_extension", DEPT, &[("days", "3")], cst(2026, 3, 4, 10, 0, 0))
        .expect("申请延期");
    // Still pending on Thu 03-05 10:00: the clock restarts from "now": 03-05 10:00–17:30 6 h
    // (22.5 left), 03-06 (15), 03-09 (7.5), 03-10 (0) → Tue 03-10 17:30.
    let pending = st(&c, cst(2026, 3, 5, 10, 0, 0));
    assert!(pending.paused);
    assert_eq!(pending.deadline, cst(2026, 3, 10, 17, 30, 0));
    // Pending until Fri 03-06 10:00: two working days paused → Wed 03-11 17:30.
    assert_eq!(st(&c, cst(2026, 3, 6, 10, 0, 0)).deadline, cst(2026, 3, 11, 17, 30, 0));

    // 批准延期 at Fri 03-06 10:00 (3 days as requested). Unpaused deadline: the 8th working day
    // after 03-02 = 03-12 17:30 (budget 7 + 8 × 7.5 = 67 h). The pause 03-04 10:00 → 03-06 10:00
    // used 15 working hours of the calendar, so the deadline moves two more working days:
    // 03-13, 03-16 → Mon 03-16 17:30.
    c.act_at("approve_extension", CS, &[], cst(2026, 3, 6, 10, 0, 0))
        .expect("批准延期");
    let s = c.state();
    assert_eq!(s.approved_extension_days, 3);
    assert_eq!(s.pending_extension, None);
    let approved = st(&c, cst(2026, 3, 9, 9, 0, 0));
    assert!(!approved.paused);
    assert_eq!(approved.extension_days, 3);
    assert_eq!(approved.deadline, cst(2026, 3, 16, 17, 30, 0));
    assert_eq!(approved.level, DeadlineLevel::OnTime);

    // A rule that does not pause (矛盾纠纷/重大群体: 1 working day): dispatched Mon 03-02 09:00
    // → Tue 03-03 17:30, pending request or not.
    let major = CaseClass {
        category: "dispute",
        subcategory: None,
        scale: "major_group",
    };
    let mut c = dispatched_case(cst(2026, 3, 2, 9, 0, 0));
    c.act_at("department_accept", DEPT, &[], cst(2026, 3, 2, 10, 0, 0))
        .expect("接单");
    c.act_at("request_extension", DEPT, &[("days", "2")], cst(2026, 3, 2, 14, 0, 0))
        .expect("申请延期");
    let st = deadline_status(&limits, &cal, &c.state(), &major, cst(2026, 3, 3, 16, 30, 0))
        .expect("rule")
        .expect("stage");
    assert!(!st.paused);
    assert_eq!(st.deadline, cst(2026, 3, 3, 17, 30, 0));
    // Budget 7 h + 7.5 h = 14.5 h; red at 90 % = 13 h 03 min → 03-03 16:03.
    assert_eq!(st.red_at, cst(2026, 3, 3, 16, 3, 0));
    assert_eq!(st.level, DeadlineLevel::Red);
}

#[test]
fn extension_across_the_spring_festival_and_both_tiaoxiu_saturdays() {
    let limits = workflow::default_time_limits().expect("limits");
    let cal = workflow::calendar_cn().expect("calendar");
    // Dispatched Thu 2026-02-12 10:00 (5 working days). The department accepts at 11:00 and asks
    // for 2 more days on Fri 02-13 10:00; approved after the holiday, Tue 02-24 10:00.
    let mut c = dispatched_case(cst(2026, 2, 12, 10, 0, 0));
    c.act_at("department_accept", DEPT, &[], cst(2026, 2, 12, 11, 0, 0))
        .expect("接单");
    c.act_at("request_extension", DEPT, &[("days", "2")], cst(2026, 2, 13, 10, 0, 0))
        .expect("申请延期");
    c.act_at("approve_extension", SDS, &[], cst(2026, 2, 24, 10, 0, 0))
        .expect("批准延期");
    // Unpaused: 7th working day after 02-12: 13 (1), Sat 14 (2), 24 (3), 25 (4), 26 (5), 27 (6),
    // Sat 28 调休 (7) → Sat 02-28 17:30.
    // Paused 02-13 10:00 → 02-24 10:00: 6 h (13th) + 7.5 h (Sat 14th) + 1.5 h (24th) = 15 h,
    // two working days: Mon 03-02, Tue 03-03 → Tue 03-03 17:30.
    let st = deadline_status(&limits, &cal, &c.state(), &DISPUTE, cst(2026, 2, 25, 9, 0, 0))
        .expect("rule")
        .expect("stage");
    assert_eq!(st.deadline, cst(2026, 3, 3, 17, 30, 0));
    // Completed Mon 03-02 16:00: on time, the deadline frozen.
    c.act_at("complete", DEPT, &[], cst(2026, 3, 2, 16, 0, 0))
        .expect("办结");
    let done = stage_deadline(&limits, &cal, &c.state(), &DISPUTE, "handle", cst(2026, 4, 1, 0, 0, 0))
        .expect("rule")
        .expect("entered");
    assert_eq!(done.finished_at, Some(cst(2026, 3, 2, 16, 0, 0)));
    assert!(!done.overdue);
    assert_eq!(done.deadline, cst(2026, 3, 3, 17, 30, 0));
    // And the case's query row carries it.
    let row = CaseRow::from_state(
        &CaseFacts {
            id: "c1",
            kind: CaseKind::Incident,
            category: "dispute",
            subcategory: None,
            scale: "individual",
            org_path: "d/s1/c1/g1",
            grid_id: "g1",
        },
        &c.state(),
        &limits,
        &cal,
        cst(2026, 4, 1, 0, 0, 0),
    )
    .expect("row");
    assert_eq!(row.deadline, Some(cst(2026, 3, 3, 17, 30, 0)));
    assert_eq!(row.handled_at, Some(cst(2026, 3, 2, 16, 0, 0)));
    assert_eq!(row.stage.as_deref(), Some("verify"));
    assert!(!row.rejected);
}

// ---------------------------------------------------------------------------------------------
// metrics

#[derive(Clone, Copy)]
enum Resp {
    /// Responded at 10:00 on the report day (deadline 13:00): on time.
    On,
    /// Responded at 15:00 on the report day: late.
    Late,
    /// Not responded.
    No,
}

struct Fx {
    id: &'static str,
    path: &'static str,
    kind: CaseKind,
    category: &'static str,
    /// Reported at 09:00 local on this (month, day) of 2026.
    reported: Option<(u32, u32)>,
    resp: Resp,
    /// Handled at 17:00 local on this (month, day).
    handled: Option<(u32, u32)>,
    /// Handling deadline 17:30 local on this (month, day).
    deadline: Option<(u32, u32)>,
    rejected: bool,
    satisfaction: Option<Satisfaction>,
    state: &'static str,
}

fn fx_row(f: &Fx) -> CaseRow {
    let day = |(m, d): (u32, u32), h, mi| cst(2026, m, d, h, mi, 0);
    let reported_at = f.reported.map(|md| day(md, 9, 0));
    let responded_at = match f.resp {
        Resp::On => f.reported.map(|md| day(md, 10, 0)),
        Resp::Late => f.reported.map(|md| day(md, 15, 0)),
        Resp::No => None,
    };
    let def = def();
    CaseRow {
        id: f.id.into(),
        kind: f.kind,
        category: f.category.into(),
        subcategory: None,
        scale: "individual".into(),
        org_path: f.path.into(),
        grid_id: f.path.rsplit('/').next().unwrap_or_default().into(),
        state: f.state.into(),
        stage: def.stage_of(f.state).map(str::to_string),
        reported_at,
        responded_at,
        accepted_at: if f.rejected { None } else { responded_at },
        handled_at: f.handled.map(|md| day(md, 17, 0)),
        closed_at: if f.rejected { responded_at } else { None },
        response_deadline: f.reported.map(|md| day(md, 13, 0)),
        deadline: f.deadline.map(|md| day(md, 17, 30)),
        rejected: f.rejected,
        satisfaction: f.satisfaction,
    }
}

const G1: &str = "d/s1/c1/g1";
const G2: &str = "d/s1/c1/g2";
const G3: &str = "d/s1/c2/g3";

fn fixture() -> Vec<CaseRow> {
    use CaseKind::{Incident as I, Request as R};
    use Resp::*;
    use Satisfaction::{BasicallySatisfied as B, Dissatisfied as D, Satisfied as S};
    let m = |d| Some((3, d));
    #[rustfmt::skip]
    let rows = [
        // id, path, kind, category, reported, resp, handled, deadline, rejected, satisfaction, state
        Fx { id: "r01", path: G1, kind: I, category: "dispute", reported: m(2), resp: On, handled: m(5), deadline: m(9), rejected: false, satisfaction: Some(S), state: "archived" },
        Fx { id: "r02", path: G1, kind: I, category: "dispute", reported: m(3), resp: On, handled: m(12), deadline: m(10), rejected: false, satisfaction: Some(D), state: "archived" },
        Fx { id: "r03", path: G1, kind: I, category: "livelihood", reported: m(4), resp: Late, handled: m(6), deadline: m(13), rejected: false, satisfaction: Some(B), state: "archived" },
        Fx { id: "r04", path: G1, kind: I, category: "livelihood", reported: m(5), resp: On, handled: None, deadline: m(12), rejected: false, satisfaction: None, state: "handling" },
        Fx { id: "r05", path: G1, kind: I, category: "safety_hazard", reported: m(6), resp: On, handled: m(9), deadline: m(11), rejected: false, satisfaction: None, state: "verified" },
        Fx { id: "r06", path: G1, kind: I, category: "city_appearance", reported: m(9), resp: No, handled: None, deadline: None, rejected: false, satisfaction: None, state: "reported" },
        Fx { id: "r07", path: G1, kind: I, category: "street_order", reported: m(10), resp: On, handled: None, deadline: None, rejected: true, satisfaction: None, state: "rejected" },
        Fx { id: "r08", path: G1, kind: I, category: "dispute", reported: m(11), resp: On, handled: m(13), deadline: m(18), rejected: false, satisfaction: Some(S), state: "archived" },
        Fx { id: "r09", path: G1, kind: I, category: "other", reported: m(12), resp: Late, handled: m(20), deadline: m(19), rejected: false, satisfaction: Some(S), state: "feedback" },
        Fx { id: "r10", path: G1, kind: R, category: "dispute", reported: m(16), resp: On, handled: m(17), deadline: m(23), rejected: false, satisfaction: Some(S), state: "archived" },
        Fx { id: "r11", path: G2, kind: I, category: "dispute", reported: m(2), resp: On, handled: m(4), deadline: m(9), rejected: false, satisfaction: Some(S), state: "archived" },
        Fx { id: "r12", path: G2, kind: I, category: "safety_hazard", reported: m(3), resp: Late, handled: None, deadline: m(6), rejected: false, satisfaction: None, state: "handling" },
        Fx { id: "r13", path: G2, kind: I, category: "safety_hazard", reported: m(9), resp: On, handled: m(11), deadline: m(12), rejected: false, satisfaction: Some(D), state: "archived" },
        Fx { id: "r14", path: G2, kind: R, category: "livelihood", reported: m(10), resp: On, handled: m(18), deadline: m(19), rejected: false, satisfaction: Some(B), state: "archived" },
        Fx { id: "r15", path: G2, kind: R, category: "city_appearance", reported: m(17), resp: On, handled: m(25), deadline: m(20), rejected: false, satisfaction: None, state: "handled" },
        Fx { id: "r16", path: G2, kind: I, category: "street_order", reported: m(18), resp: No, handled: None, deadline: None, rejected: false, satisfaction: None, state: "reported" },
        Fx { id: "r17", path: G2, kind: I, category: "emergency", reported: m(19), resp: On, handled: m(19), deadline: m(20), rejected: false, satisfaction: Some(S), state: "archived" },
        Fx { id: "r18", path: G2, kind: I, category: "dispute", reported: m(31), resp: On, handled: None, deadline: Some((4, 8)), rejected: false, satisfaction: None, state: "handling" },
        Fx { id: "r19", path: G3, kind: I, category: "dispute", reported: m(2), resp: On, handled: m(3), deadline: m(9), rejected: false, satisfaction: Some(S), state: "archived" },
        Fx { id: "r20", path: G3, kind: I, category: "dispute", reported: m(5), resp: On, handled: m(11), deadline: m(12), rejected: false, satisfaction: Some(S), state: "archived" },
        Fx { id: "r21", path: G3, kind: R, category: "livelihood", reported: m(6), resp: Late, handled: m(16), deadline: m(13), rejected: false, satisfaction: Some(D), state: "archived" },
        Fx { id: "r22", path: G3, kind: I, category: "livelihood", reported: m(10), resp: On, handled: None, deadline: None, rejected: true, satisfaction: None, state: "rejected" },
        Fx { id: "r23", path: G3, kind: I, category: "safety_hazard", reported: m(12), resp: On, handled: None, deadline: m(17), rejected: false, satisfaction: None, state: "dispatched" },
        Fx { id: "r24", path: G3, kind: I, category: "city_appearance", reported: m(13), resp: On, handled: m(16), deadline: m(18), rejected: false, satisfaction: Some(B), state: "archived" },
        Fx { id: "r25", path: G3, kind: R, category: "other", reported: m(20), resp: On, handled: m(27), deadline: m(27), rejected: false, satisfaction: Some(S), state: "archived" },
        Fx { id: "r26", path: G3, kind: I, category: "dispute", reported: m(23), resp: Late, handled: m(30), deadline: m(30), rejected: false, satisfaction: None, state: "verified" },
        Fx { id: "r27", path: G3, kind: I, category: "emergency", reported: m(24), resp: On, handled: Some((4, 6)), deadline: m(31), rejected: false, satisfaction: None, state: "handling" },
        Fx { id: "r28", path: G3, kind: I, category: "dispute", reported: m(31), resp: No, handled: None, deadline: None, rejected: false, satisfaction: None, state: "reported" },
        // Not in the March report of sub-district s1:
        Fx { id: "r29", path: "d/s2/c3/g4", kind: I, category: "dispute", reported: m(5), resp: On, handled: m(6), deadline: m(9), rejected: false, satisfaction: Some(S), state: "archived" },
        Fx { id: "r30", path: G1, kind: I, category: "dispute", reported: Some((2, 27)), resp: On, handled: m(2), deadline: m(6), rejected: false, satisfaction: Some(S), state: "archived" },
        Fx { id: "r32", path: G2, kind: I, category: "dispute", reported: None, resp: No, handled: None, deadline: None, rejected: false, satisfaction: None, state: "draft" },
        Fx { id: "r33", path: "d/s10/c1/g1", kind: I, category: "dispute", reported: m(5), resp: On, handled: m(6), deadline: m(9), rejected: false, satisfaction: Some(S), state: "archived" },
    ];
    let mut out: Vec<CaseRow> = rows.iter().map(fx_row).collect();
    // r31: reported 2026-04-01 00:00 local, the first instant after the period.
    let mut r31 = fx_row(&rows[0]);
    r31.id = "r31".into();
    r31.reported_at = Some(cst(2026, 4, 1, 0, 0, 0));
    out.push(r31);
    // r34: reported 2026-02-28 23:30 local, i.e. 15:30 UTC on the 28th: still February here.
    let mut r34 = fx_row(&rows[0]);
    r34.id = "r34".into();
    r34.reported_at = Some(cst(2026, 2, 28, 23, 30, 0));
    out.push(r34);
    out
}

fn march(org_path: &str, kind: Option<CaseKind>) -> MetricsQuery {
    MetricsQuery {
        org_path: org_path.into(),
        from: cst(2026, 3, 1, 0, 0, 0),
        to: cst(2026, 4, 1, 0, 0, 0),
        as_of: cst(2026, 4, 5, 0, 0, 0),
        kind,
    }
}

fn ratio(numerator: u32, denominator: u32) -> workflow::Ratio {
    workflow::Ratio { numerator, denominator }
}

#[test]
fn metrics_on_a_hand_computed_fixture() {
    let rows = fixture();
    assert!(rows.len() >= 30);
    let m = compute_metrics(&rows, &march("d/s1", None));
    // Cohort: r01–r28 (reported in March local time, under d/s1). Not r29 (d/s2), r30 and r34
    // (February), r31 (April), r32 (draft), r33 (d/s10 is not under d/s1).
    assert_eq!(m.total, 28);
    assert_eq!(m.rejected, 2); // r07, r22
    // 响应率: every cohort case responded or is past its 13:00 response deadline: 28.
    // Late: r03 r09 r12 r21 r26 (5); none: r06 r16 r28 (3) → 28 − 8 = 20 on time.
    assert_eq!(m.response, ratio(20, 28));
    // 办结率 over 28 − 2 rejected = 26. Handled by 04-05: r01 r02 r03 r05 r08 r09 r10 r11 r13
    // r14 r15 r17 r19 r20 r21 r24 r25 r26 = 18 (r27 was handled 04-06, after as_of).
    assert_eq!(m.completion, ratio(18, 26));
    // 按期处置率: the 18 handled + unhandled past their deadline: r04 (03-12), r12 (03-06),
    // r23 (03-17), r27 (03-31) = 22. Not r06 r16 r28 (no handling deadline), r18 (04-08 not due).
    // Late among the handled: r02 (12th > 10th), r09 (20 > 19), r15 (25 > 20), r21 (16 > 13);
    // r25 and r26 were handled 17:00 on their deadline day (17:30): on time. 18 − 4 = 14.
    assert_eq!(m.on_time_handling, ratio(14, 22));
    assert_eq!(m.overdue_open, 4);
    // 满意率: answers 满意 r01 r08 r09 r10 r11 r17 r19 r20 r25 (9), 基本满意 r03 r14 r24 (3),
    // 不满意 r02 r13 r21 (3) → (9 + 3) / 15.
    assert_eq!(m.satisfaction, ratio(12, 15));
    assert_eq!(
        (
            m.satisfaction_counts.satisfied,
            m.satisfaction_counts.basically_satisfied,
            m.satisfaction_counts.dissatisfied
        ),
        (9, 3, 3)
    );
    assert_eq!(m.satisfaction.rate(), Some(0.8));
    let expected_categories = [
        ("city_appearance", 3), // r06 r15 r24
        ("dispute", 10),        // r01 r02 r08 r10 r11 r18 r19 r20 r26 r28
        ("emergency", 2),       // r17 r27
        ("livelihood", 5),      // r03 r04 r14 r21 r22
        ("other", 2),           // r09 r25
        ("safety_hazard", 4),   // r05 r12 r13 r23
        ("street_order", 2),    // r07 r16
    ];
    assert_eq!(
        m.by_category,
        expected_categories
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<BTreeMap<_, _>>()
    );
    let expected_states = [
        ("archived", 14),
        ("dispatched", 1),
        ("feedback", 1),
        ("handled", 1),
        ("handling", 4),
        ("rejected", 2),
        ("reported", 3),
        ("verified", 2),
    ];
    assert_eq!(
        m.by_state,
        expected_states
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<BTreeMap<_, _>>()
    );
    // Stages: accept = reported (3); handle = handling + dispatched (5); verify = handled (1);
    // feedback = verified (2); none = archived + rejected + feedback (17).
    let expected_stages = [
        ("accept", 3),
        ("feedback", 2),
        ("handle", 5),
        ("none", 17),
        ("verify", 1),
    ];
    assert_eq!(
        m.by_stage,
        expected_stages
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<BTreeMap<_, _>>()
    );

    // Community c1 (grids g1, g2): r01–r18 = 18 cases. Late r03 r09 r12, none r06 r16 → 13/18.
    // 办结率: 18 − r07 = 17; handled r01 r02 r03 r05 r08 r09 r10 r11 r13 r14 r15 r17 = 12.
    let c1 = compute_metrics(&rows, &march("d/s1/c1", None));
    assert_eq!(
        (c1.total, c1.response, c1.completion),
        (18, ratio(13, 18), ratio(12, 17))
    );

    // Requests only in s1: r10 r14 r15 r21 r25. Responses: r21 late → 4/5. All handled → 5/5.
    // On time: r15 and r21 late → 3/5. Satisfaction: r10 满意, r14 基本满意, r21 不满意, r25 满意 → 3/4.
    let req = compute_metrics(&rows, &march("d/s1", Some(CaseKind::Request)));
    assert_eq!(req.total, 5);
    assert_eq!(req.response, ratio(4, 5));
    assert_eq!(req.completion, ratio(5, 5));
    assert_eq!(req.on_time_handling, ratio(3, 5));
    assert_eq!(req.satisfaction, ratio(3, 4));

    // The whole district: adds r29 (d/s2) and r33 (d/s10): 30 cases.
    assert_eq!(compute_metrics(&rows, &march("d", None)).total, 30);
    assert_eq!(compute_metrics(&rows, &march("", None)).total, 30);
    // An empty report has no rates rather than a division by zero.
    let none = compute_metrics(&rows, &march("d/s9", None));
    assert_eq!((none.total, none.response.rate()), (0, None));
}

#[test]
fn extreme_and_unordered_timestamps_do_not_panic() {
    // Forged or broken clocks: instants at the ends of the representable range, and steps
    // recorded out of order. Folding and deadlines must answer, not panic.
    let limits = workflow::default_time_limits().expect("limits");
    let cal = workflow::calendar_cn().expect("calendar");
    let extremes = [
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
        cst(2026, 2, 16, 3, 0, 0),
        cst(1970, 1, 1, 0, 0, 0),
    ];
    let steps: [Step; 6] = [
        REPORT,
        ACCEPT,
        DISPATCH,
        DEPT_ACCEPT,
        ASK_EXT,
        ("approve_extension", CS, &[]),
    ];
    for (i, first) in extremes.iter().enumerate() {
        for second in &extremes {
            let mut c = Case::new();
            for (n, (action, role, p)) in steps.iter().enumerate() {
                let at = if n % 2 == 0 { *first } else { *second };
                c.act_at(action, *role, p, at).expect("valid whatever the time");
            }
            let s = c.state();
            for category in ["dispute", "emergency"] {
                let class = CaseClass {
                    category,
                    subcategory: None,
                    scale: "individual",
                };
                for now in &extremes {
                    for stage in ["accept", "dispatch", "handle"] {
                        stage_deadline(&limits, &cal, &s, &class, stage, *now).expect("rule");
                    }
                    deadline_status(&limits, &cal, &s, &class, *now).expect("rule");
                }
            }
            let facts = CaseFacts {
                id: "x",
                kind: CaseKind::Incident,
                category: "dispute",
                subcategory: None,
                scale: "individual",
                org_path: "d",
                grid_id: "g",
            };
            CaseRow::from_state(&facts, &s, &limits, &cal, extremes[i]).expect("row");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Garbage histories (any action, any recorded from/to, any role, odd parameters and
    /// times): the fold never panics, and applied + conflicts is the whole history.
    #[test]
    fn fold_survives_arbitrary_histories(
        steps in proptest::collection::vec(
            (0usize..25, 0usize..14, 0usize..14, 0usize..6, 0usize..8, any::<bool>(), -100_000i64..100_000),
            0..60,
        )
    ) {
        let def = def();
        let names: Vec<String> = def.actions().iter().map(|a| a.name.clone()).chain(["bogus".to_string()]).collect();
        let states: Vec<String> =
            def.states().iter().map(|s| s.name.clone()).chain(["nowhere".to_string(), "stay".to_string()]).collect();
        let values = [
            ("department", "d"), ("days", "2"), ("days", "99"), ("card", "red"), ("satisfaction", "satisfied"),
            ("level", "district"), ("channel", "app"), ("nonsense", "x"),
        ];
        let limits = workflow::default_time_limits().expect("limits");
        let cal = workflow::calendar_cn().expect("calendar");
        let history: Vec<Transition> = steps
            .iter()
            .enumerate()
            .map(|(i, &(a, f, t, r, p, reason, minutes))| {
                let at = cst(2026, 3, 2, 9, 0, 0) + Duration::minutes(minutes);
                Transition {
                    id: format!("x{}", i % 50),
                    action: names[a % names.len()].clone(),
                    from: states[f % states.len()].clone(),
                    to: states[t % states.len()].clone(),
                    actor: format!("a{r}"),
                    role: Role::ALL[r],
                    org_node: "n".into(),
                    at,
                    device_time: at,
                    reason: reason.then(|| "r".into()),
                    params: params(&[values[p]]),
                    attachments: vec![],
                }
            })
            .collect();
        let s = fold(&def, &history);
        prop_assert_eq!(s.applied.len() + s.conflicts.len(), history.len());
        let class = CaseClass { category: "dispute", subcategory: None, scale: "group" };
        for stage in ["accept", "dispatch", "handle", "verify", "feedback"] {
            prop_assert!(stage_deadline(&limits, &cal, &s, &class, stage, cst(2026, 6, 1, 0, 0, 0)).is_ok());
        }
    }
}
