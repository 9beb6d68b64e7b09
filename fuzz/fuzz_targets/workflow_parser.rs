//! Workflow definitions, time limits and working calendars published by a district.
#![no_main]
use gridbook_core::workflow::{TimeLimits, WorkCalendar, WorkflowDefinition};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(def) = WorkflowDefinition::from_json(text) {
        let state = gridbook_core::workflow::fold(&def, &[]);
        for role in gridbook_core::domain::Role::ALL {
            let _ = gridbook_core::workflow::available_actions(&def, &state, role, role.level());
        }
    }
    let _ = TimeLimits::from_json(text);
    if let Ok(cal) = WorkCalendar::from_json(text) {
        let start = chrono::DateTime::<chrono::Utc>::from_timestamp(1_767_225_600, 0).unwrap_or_default();
        let _ = cal.add_working_days(start, 30);
        let _ = cal.add_working_hours(start, 40);
    }
});
