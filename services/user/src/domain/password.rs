use std::fmt;

use super::{Invalid, check_length};

/// A plain-text password on its way to the hasher. It is never printed, not
/// even by `{:?}`, so it cannot end up in a log by accident.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_LEN: usize = 8;
    pub const MAX_LEN: usize = 128;

    /// A new password: 8 to 128 characters. Not trimmed; spaces are
    /// characters like any other.
    pub fn parse(value: String) -> Result<Self, Invalid> {
        check_length(&value, Self::MAX_LEN, "must be at most 128 characters")?;
        if value.chars().count() < Self::MIN_LEN {
            return Err(Invalid("must be at least 8 characters"));
        }
        Ok(Self(value))
    }

    /// A password offered at login: empty or longer than any password can
    /// be (the same maximum as [`Self::parse`]) is an input error. The
    /// minimum is not applied, so a short wrong guess is a wrong password
    /// (`UNAUTHENTICATED`); the maximum is, so nobody can make the hasher
    /// chew on megabytes per attempt, and it is public anyway.
    pub fn candidate(value: String) -> Result<Self, Invalid> {
        check_length(&value, Self::MAX_LEN, "must be at most 128 characters")?;
        Ok(Self(value))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A password hash in PHC string form (`$argon2id$v=19$m=...`): what the
/// store keeps instead of the password.
#[derive(Clone, PartialEq, Eq)]
pub struct HashedPassword(String);

impl HashedPassword {
    /// Wraps a PHC string produced by the hasher or read from the store.
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for HashedPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hashes are offline-crackable; keep them out of logs too.
        f.write_str("HashedPassword(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn must_be_8_to_128_characters() {
        assert!(Password::parse("1234567".into()).is_err());
        assert!(Password::parse("12345678".into()).is_ok());
        assert!(Password::parse("x".repeat(128)).is_ok());
        assert!(Password::parse("x".repeat(129)).is_err());
        assert_eq!(
            Password::parse(String::new()).unwrap_err().0,
            "must not be empty"
        );
    }

    #[test]
    fn a_login_candidate_needs_only_to_be_non_empty() {
        assert!(Password::candidate("short".into()).is_ok());
        assert!(Password::candidate(String::new()).is_err());
    }

    #[test]
    fn a_login_candidate_is_bounded_like_a_new_password() {
        assert!(Password::candidate("x".repeat(128)).is_ok());
        assert_eq!(
            Password::candidate("x".repeat(129)).unwrap_err().0,
            "must be at most 128 characters"
        );
    }

    #[test]
    fn is_never_printed() {
        let password = Password::parse("hunter2hunter2".into()).unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
        let hash = HashedPassword::from_phc("$argon2id$secret".into());
        assert!(!format!("{hash:?}").contains("secret"));
    }
}
