use std::fmt;

use uuid::Uuid;

use super::Invalid;

/// An account's server-assigned id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(Uuid);

impl UserId {
    /// A fresh id; v7 UUIDs sort by creation time, which keeps index inserts
    /// local.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn parse(value: &str) -> Result<Self, Invalid> {
        if value.trim().is_empty() {
            return Err(Invalid("must not be empty"));
        }
        Uuid::parse_str(value.trim())
            .map(Self)
            .map_err(|_| Invalid("must be a UUID"))
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hyphenated lower case: one spelling, so ids compare as strings.
        self.0.hyphenated().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_one_canonical_form() {
        let id = UserId::parse(" 0191F3C4-7A2B-7C3D-8E4F-0123456789AB ").unwrap();
        assert_eq!(id.to_string(), "0191f3c4-7a2b-7c3d-8e4f-0123456789ab");
    }

    #[test]
    fn refuses_what_is_not_a_uuid() {
        assert_eq!(UserId::parse("").unwrap_err().0, "must not be empty");
        assert_eq!(UserId::parse("42").unwrap_err().0, "must be a UUID");
    }
}
