//! Checklist templates published by a district: parse and validate, then check answers.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(t) = gridbook_core::domain::ChecklistTemplate::from_json(text)
    {
        let answers = t.items().map(|i| (i.id.clone(), serde_json::Value::Bool(true))).collect();
        let _ = t.check_answers(&answers);
    }
});
