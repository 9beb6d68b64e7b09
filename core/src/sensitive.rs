//! Sensitive personal information (PIPL art. 28): ID numbers, phones, special-group labels,
//! location tracks. Every read and write of such a field goes through this module, so that
//! encryption at rest and masking wrap them in one place. Validating an ID number or a phone
//! is no sealing matter: it lives with the record types (`domain::ids`).
//!
//! Rank 2 of the crate's layers (core/README.md): it uses `domain`.

use serde_json::Value as Json;

use crate::domain::RecordKind;

/// What kind of sensitive value a field holds, which decides how it is masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sensitivity {
    /// 身份证号
    IdNumber,
    /// 电话
    Phone,
    /// 姓名
    Name,
    /// 特殊人群 membership (a label of category `special`).
    SpecialGroup,
    /// 行踪轨迹: GPS track points.
    Track,
}

/// Every sensitive field of every record kind, as a path in the record's body (`*` = each
/// element of a list). The one list that masking, exports and encryption at rest go by.
pub const SENSITIVE_FIELDS: &[(RecordKind, &str, Sensitivity)] = &[
    (RecordKind::Person, "name", Sensitivity::Name),
    (RecordKind::Person, "id_number", Sensitivity::IdNumber),
    (RecordKind::Person, "phone", Sensitivity::Phone),
    (RecordKind::Person, "labels/*", Sensitivity::SpecialGroup),
    (RecordKind::Incident, "resident_name", Sensitivity::Name),
    (RecordKind::Incident, "resident_phone", Sensitivity::Phone),
    (RecordKind::Request, "resident_name", Sensitivity::Name),
    (RecordKind::Request, "resident_phone", Sensitivity::Phone),
    (RecordKind::Patrol, "track", Sensitivity::Track),
];

/// The sensitive fields of a kind.
pub fn fields_of(kind: RecordKind) -> impl Iterator<Item = (&'static str, Sensitivity)> {
    SENSITIVE_FIELDS
        .iter()
        .filter(move |(k, _, _)| *k == kind)
        .map(|(_, p, s)| (*p, *s))
}

/// Mask every sensitive field of a record body in place: what lists, exports and logs show
/// unless a reveal is permitted (and audited).
pub fn mask_body(kind: RecordKind, body: &mut Json) {
    for (path, how) in fields_of(kind) {
        let mut parts = path.split('/');
        let Some(first) = parts.next() else { continue };
        let Some(v) = body.get_mut(first) else { continue };
        match (parts.next(), how) {
            (Some("*"), Sensitivity::SpecialGroup) => {
                if let Some(list) = v.as_array_mut() {
                    for label in list
                        .iter_mut()
                        .filter(|l| l.get("category").and_then(Json::as_str) == Some("special"))
                    {
                        label["label"] = Json::String("***".into());
                    }
                }
            }
            (_, Sensitivity::Track) => {
                let n = v.as_array().map_or(0, Vec::len);
                *v = Json::String(format!("[{n} points hidden]"));
            }
            (_, how) => {
                if let Some(text) = v.as_str() {
                    *v = Json::String(mask_as(how, text));
                }
            }
        }
    }
}

/// Mask one value as `how` says.
pub fn mask_as(how: Sensitivity, value: &str) -> String {
    match how {
        Sensitivity::IdNumber => mask_id_number(value),
        Sensitivity::Phone => mask_phone(value),
        Sensitivity::Name => mask_name(value),
        Sensitivity::SpecialGroup | Sensitivity::Track => "***".into(),
    }
}

/// `110101199003071234` → `110101********1234`.
pub fn mask_id_number(id: &str) -> String {
    mask(id, 6, 4)
}

/// `13812345678` → `138****5678`.
pub fn mask_phone(phone: &str) -> String {
    mask(phone, 3, 4)
}

/// `王小明` → `王**`.
pub fn mask_name(name: &str) -> String {
    mask(name, 1, 0)
}

fn mask(value: &str, keep_start: usize, keep_end: usize) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= keep_start + keep_end {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..keep_start].iter().collect();
    out.extend(std::iter::repeat_n('*', chars.len() - keep_start - keep_end));
    out.extend(&chars[chars.len() - keep_end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_numbers() {
        assert_eq!(mask_id_number("11010519491231002X"), "110105********002X");
    }

    #[test]
    fn bodies_are_masked_by_the_one_list() {
        let mut person = serde_json::json!({
            "name": "王小明", "id_number": "11010519491231002X", "phone": "13812345678", "relation": "户主",
            "labels": [{"label": "community_correction", "category": "special"}, {"label": "low_income", "category": "care"}]
        });
        mask_body(RecordKind::Person, &mut person);
        assert_eq!(person["name"], "王**");
        assert_eq!(person["id_number"], "110105********002X");
        assert_eq!(person["phone"], "138****5678");
        assert_eq!(person["relation"], "户主");
        assert_eq!(person["labels"][0]["label"], "***");
        assert_eq!(person["labels"][1]["label"], "low_income");
        let mut patrol = serde_json::json!({"track": [{"at": "x"}, {"at": "y"}], "worker": "w"});
        mask_body(RecordKind::Patrol, &mut patrol);
        assert_eq!(patrol["track"], "[2 points hidden]");
        let text = serde_json::json!({"resident_phone": "13812345678"}).to_string();
        let mut case: Json = serde_json::from_str(&text).unwrap();
        mask_body(RecordKind::Request, &mut case);
        assert_eq!(case["resident_phone"], "138****5678");
    }

    #[test]
    fn phones() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_name("王小明"), "王**");
    }
}
