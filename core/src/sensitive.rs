//! Sensitive personal information (PIPL art. 28): ID numbers, phones, special-group labels,
//! location tracks. Every read and write of such a field goes through this module, so that
//! encryption at rest and masking wrap them in one place.

use serde_json::Value as Json;

use crate::domain::RecordKind;
use crate::error::{Error, Result};

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

/// GB 11643-1999 weights of the first 17 digits.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check characters by (sum mod 11).
const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// The GB 11643 check character for the first 17 digits.
pub fn id_check_char(first17: &str) -> Option<char> {
    if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = first17.bytes().zip(WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
    Some(CHECK[(sum % 11) as usize])
}

/// 身份证号: 18 characters, a valid birth date, the GB 11643 check character.
pub fn validate_id_number(id: &str) -> Result<()> {
    let bad = |reason: &str| Err(Error::invalid("invalid_id_number", "id_number", reason));
    if id.len() != 18 || !id.is_ascii() {
        return bad("an ID number has 18 characters");
    }
    let Some(expected) = id_check_char(&id[..17]) else {
        return bad("the first 17 characters must be digits");
    };
    if chrono::NaiveDate::parse_from_str(&id[6..14], "%Y%m%d").is_err() {
        return bad("the birth date is not a date");
    }
    if id[17..].to_ascii_uppercase() != expected.to_string() {
        return bad("the check digit does not match");
    }
    Ok(())
}

/// Mainland mobile (11 digits from 1) or a landline (digits and one dash, 7–13 digits).
pub fn validate_phone(phone: &str) -> Result<()> {
    let digits = phone.chars().filter(|c| c.is_ascii_digit()).count();
    let mobile = phone.len() == 11 && phone.starts_with('1') && digits == 11;
    let landline = (7..=13).contains(&digits)
        && phone.chars().all(|c| c.is_ascii_digit() || c == '-')
        && phone.matches('-').count() <= 1;
    if mobile || landline {
        Ok(())
    } else {
        Err(Error::invalid("invalid_phone", "phone", "not a phone number"))
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
        // The GB 11643 standard's own example.
        assert!(validate_id_number("11010519491231002X").is_ok());
        assert!(validate_id_number("110105194912310021").is_err());
        assert!(validate_id_number("11010519491331002X").is_err());
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
        assert!(validate_phone("13812345678").is_ok());
        assert!(validate_phone("0537-5212345").is_ok());
        assert!(validate_phone("23812345678x").is_err());
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_name("王小明"), "王**");
    }
}
