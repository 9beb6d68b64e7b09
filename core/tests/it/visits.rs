//! 应访清单: visits due on a fixture grid, worked out by hand.

use gridbook_core::Store;
use gridbook_core::domain::{AttentionLevel, LabelCategory, Person, PersonLabel};

use crate::common::*;

fn person(grid: &str, hh: &str, labels: Vec<PersonLabel>) -> Person {
    Person {
        household_id: hh.into(),
        grid_id: grid.into(),
        name: "李桂兰".into(),
        id_number: None,
        phone: None,
        relation: "户主".into(),
        birth_date: None,
        labels,
    }
}

fn label(key: &str, start: chrono::NaiveDate, end: Option<chrono::NaiveDate>) -> PersonLabel {
    PersonLabel {
        label: key.into(),
        category: LabelCategory::Care,
        start,
        end,
        attention: AttentionLevel::Attention,
        responsible: None,
    }
}

#[test]
fn visits_due_match_a_list_worked_out_by_hand() {
    let mut s = Store::open_in_memory(admin()).unwrap();
    let org = seed_org(&mut s);
    let g = org.grid_a.as_str();
    // All households registered 2026-01-01; ordinary visits every 182 days (default template);
    // 空巢独居老人 every 7 days; 困难家庭 every 30 days.
    let h1 = s.create(&household(g, "101")).unwrap(); // never visited
    let h2 = s.create(&household(g, "102")).unwrap();
    let h3 = s.create(&household(g, "103")).unwrap();
    let h4 = s.create(&household(g, "104")).unwrap();
    let h5 = s.create(&household(&org.grid_b, "105")).unwrap(); // other grid
    s.create(&house_call(g, &h2, cst(2026, 11, 20, 10, 0))).unwrap();
    s.create(&house_call(g, &h3, cst(2026, 11, 1, 10, 0))).unwrap();
    // Started 2026-05-01 00:30 China time = 2026-04-30 16:30 UTC: counts as 05-01.
    s.create(&house_call(g, &h4, cst(2026, 5, 1, 0, 30))).unwrap();
    s.create(&house_call(&org.grid_b, &h5, cst(2026, 11, 26, 10, 0)))
        .unwrap();
    let p2 = s
        .create(&person(
            g,
            &h2,
            vec![label("living_alone_elderly", day(2025, 1, 1), None)],
        ))
        .unwrap();
    let p3 = s
        .create(&person(
            g,
            &h3,
            vec![
                // Began after the last visit (11-01): due on its first day.
                label("low_income", day(2026, 11, 10), None),
                // Ended: no longer due.
                label("living_alone_elderly", day(2025, 1, 1), Some(day(2026, 11, 1))),
            ],
        ))
        .unwrap();
    // A label no 六访 item covers makes nothing due.
    s.create(&person(g, &h4, vec![label("left_behind_child", day(2025, 1, 1), None)]))
        .unwrap();

    let due = s.visits_due(day(2026, 11, 27), Some(g)).unwrap();
    let got: Vec<(String, String, String, String, i64)> = due
        .iter()
        .map(|v| {
            (
                v.household_id.clone(),
                v.person_id.clone(),
                v.item_id.clone(),
                v.due.to_string(),
                v.days_overdue,
            )
        })
        .collect();
    let expected = vec![
        // H1: never visited, due on registration 2026-01-01: 330 days before 11-27.
        (
            h1.clone(),
            String::new(),
            "household".to_string(),
            "2026-01-01".to_string(),
            330,
        ),
        // H4: visited 05-01, + 182 days = 10-30: 28 days overdue.
        (
            h4.clone(),
            String::new(),
            "household".to_string(),
            "2026-10-30".to_string(),
            28,
        ),
        // H3 / P3 困难家庭: label from 11-10, after the 11-01 visit: 17 days overdue.
        (
            h3.clone(),
            p3.clone(),
            "visit.hardship_family".to_string(),
            "2026-11-10".to_string(),
            17,
        ),
        // H2 / P2 独居老人: visited 11-20, + 7 = 11-27: due today.
        (
            h2.clone(),
            p2.clone(),
            "visit.living_alone".to_string(),
            "2026-11-27".to_string(),
            0,
        ),
    ];
    assert_eq!(got, expected);
    // The whole district view adds grid B's household only when due (it was visited yesterday).
    assert_eq!(s.visits_due(day(2026, 11, 27), None).unwrap().len(), 4);
    // A visit today clears P2's and nothing else.
    s.create(&house_call(g, &h2, cst(2026, 11, 27, 9, 0))).unwrap();
    assert_eq!(s.visits_due(day(2026, 11, 27), Some(g)).unwrap().len(), 3);
}
