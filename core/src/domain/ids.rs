//! 身份证号 and phone numbers: their format, checked when a person or a case is validated.
//!
//! Part of `domain` (rank 1): pure, it uses only `error`. Masking and sealing these values is
//! `sensitive`'s and `shred`'s business.

use crate::error::{Error, Result};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_numbers() {
        // The GB 11643 standard's own example.
        assert!(validate_id_number("11010519491231002X").is_ok());
        assert!(validate_id_number("110105194912310021").is_err());
        assert!(validate_id_number("11010519491331002X").is_err());
        assert_eq!(id_check_char("11010519491231002"), Some('X'));
    }

    #[test]
    fn phones() {
        assert!(validate_phone("13812345678").is_ok());
        assert!(validate_phone("0537-5212345").is_ok());
        assert!(validate_phone("23812345678x").is_err());
    }
}
