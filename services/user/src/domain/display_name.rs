use super::{Invalid, check_length};

/// The name shown to people: 1 to 100 characters after trimming, no control
/// characters (they would break every screen it is printed on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_LEN: usize = 100;

    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let name = value.trim();
        check_length(name, Self::MAX_LEN, "must be at most 100 characters")?;
        if name.chars().any(char::is_control) {
            return Err(Invalid("must not contain control characters"));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_trimmed() {
        assert_eq!(DisplayName::parse("  Ada  ").unwrap().as_str(), "Ada");
    }

    #[test]
    fn counts_characters_not_bytes() {
        assert!(DisplayName::parse(&"é".repeat(100)).is_ok());
        assert!(DisplayName::parse(&"é".repeat(101)).is_err());
    }

    #[test]
    fn refuses_empty_and_control_characters() {
        assert!(DisplayName::parse(" \t ").is_err());
        assert!(DisplayName::parse("Ada\u{7}").is_err());
        assert!(DisplayName::parse("Ada\nLovelace").is_err());
    }
}
