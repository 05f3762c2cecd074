//! Users of the API. A [`Password`] is only ever a login or create input and
//! is masked in `Debug`; what is stored is a [`PasswordHash`] (argon2id PHC
//! string, produced by the api crate), never returned by any endpoint.

use crate::{Role, UserId};
use std::fmt;
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// 3–64 characters of `A-Z a-z 0-9 . _ - @`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok_len = (3..=64).contains(&raw.chars().count());
        let ok_chars = raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
        if ok_len && ok_chars {
            Ok(Self(raw.to_owned()))
        } else {
            Err(
                "username must be 3 to 64 characters of letters, digits, '.', '_', '-' or '@'"
                    .into(),
            )
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Username {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A clear-text password on its way to be hashed or verified.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_LEN: usize = 8;
    /// argon2 accepts more, but hashing megabytes per login is a DoS vector.
    pub const MAX_LEN: usize = 1024;

    pub fn parse(raw: String) -> Result<Self, String> {
        let n = raw.chars().count();
        if (Self::MIN_LEN..=Self::MAX_LEN).contains(&n) {
            Ok(Self(raw))
        } else {
            Err(format!(
                "password must be {} to {} characters",
                Self::MIN_LEN,
                Self::MAX_LEN
            ))
        }
    }

    /// For verification at login, where length rules must not leak which
    /// accounts exist: anything up to MAX_LEN is checked against the hash.
    pub fn for_login(raw: String) -> Result<Self, String> {
        if raw.len() > Self::MAX_LEN * 4 {
            Err("password is too long".into())
        } else {
            Ok(Self(raw))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A PHC-format password hash.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub role: Role,
    pub password_hash: PasswordHash,
    /// Tokens carry the version they were issued under; a password or role
    /// change and an explicit revocation bump it, so older tokens stop working.
    pub token_version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub role: Role,
    pub password_hash: PasswordHash,
}

#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub username: Option<Username>,
    pub role: Option<Role>,
    pub password_hash: Option<PasswordHash>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_checked() {
        assert!(Username::parse("operator-1").is_ok());
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("has space").is_err());
        assert!(Username::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn passwords_have_bounds_and_hide_in_debug() {
        assert!(Password::parse("short".into()).is_err());
        let p = Password::parse("correct horse".into()).unwrap();
        assert_eq!(format!("{p:?}"), "Password(***)");
        assert!(Password::parse("x".repeat(1025)).is_err());
    }
}
