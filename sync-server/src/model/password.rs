//! 密码规则: the password policy (rank 0, `model`): which rule a new password breaks
//! ([`PasswordRule`]; its code, e.g. `password_too_short`, is the API's answer through
//! `ApiError::WeakPassword`) and the check itself ([`check_password`]). Pure: no storage, no
//! hashing (that is [`crate::password`] and [`crate::auth`]).

/// Which rule of the password policy a password breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordRule {
    /// Shorter than the minimum length.
    TooShort {
        /// The minimum, characters.
        min: usize,
    },
    /// The user name, or the user name with a few characters around it.
    IsUsername,
    /// On the list of common passwords.
    TooCommon,
}

impl PasswordRule {
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            PasswordRule::TooShort { .. } => "password_too_short",
            PasswordRule::IsUsername => "password_is_username",
            PasswordRule::TooCommon => "password_too_common",
        }
    }

    /// Message in zh-CN.
    pub fn message_zh(self) -> &'static str {
        match self {
            PasswordRule::TooShort { .. } => "密码太短（至少 10 个字符）",
            PasswordRule::IsUsername => "密码不能是用户名或用户名加几个字符",
            PasswordRule::TooCommon => "密码过于常见，请换一个",
        }
    }
}

impl std::fmt::Display for PasswordRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PasswordRule::TooShort { min } => write!(f, "shorter than {min} characters"),
            PasswordRule::IsUsername => f.write_str("the user name with a few characters around it"),
            PasswordRule::TooCommon => f.write_str("a common password"),
        }
    }
}

/// Minimum password length, characters.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Common passwords (lower case) refused whatever their length: the top of public leak lists,
/// plus common Chinese patterns.
const COMMON_PASSWORDS: &[&str] = &[
    "1234567890",
    "12345678910",
    "123456789a",
    "0123456789",
    "9876543210",
    "1111111111",
    "0000000000",
    "1234567890a",
    "qwertyuiop",
    "1q2w3e4r5t",
    "1qaz2wsx3edc",
    "qwerty1234",
    "qwerty12345",
    "password12",
    "password123",
    "password1234",
    "passw0rd12",
    "iloveyou12",
    "abcd123456",
    "abc1234567",
    "a123456789",
    "aa12345678",
    "woaini1314",
    "woaini520",
    "5201314520",
    "1314520520",
    "admin12345",
    "admin123456",
    "administrator",
    "p@ssw0rd123",
    "zxcvbnm123",
    "asdfghjkl1",
    "1q2w3e4r5t6y",
    "123qweasdzxc",
];

/// Check a new password: at least [`MIN_PASSWORD_CHARS`] characters, not the user name
/// (nor the user name with fewer than 4 other characters), not a common password.
pub fn check_password(username: &str, password: &str) -> Result<(), PasswordRule> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordRule::TooShort {
            min: MIN_PASSWORD_CHARS,
        });
    }
    let p = password.to_lowercase();
    let u = username.trim().to_lowercase();
    if !u.is_empty() && (p == u || (p.contains(&u) && p.replacen(&u, "", 1).chars().count() < 4)) {
        return Err(PasswordRule::IsUsername);
    }
    if COMMON_PASSWORDS.contains(&p.as_str()) {
        return Err(PasswordRule::TooCommon);
    }
    Ok(())
}
