use super::{Invalid, check_length};

/// A normalised email address: trimmed and lower-cased, so one mailbox is one
/// account however it is typed.
///
/// The check is deliberately loose (one `@`, a dotted domain, no spaces):
/// only sending mail proves an address, and rejecting real ones is worse than
/// accepting odd ones.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// RFC 5321's limit on a forward path.
    pub const MAX_LEN: usize = 254;

    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let email = value.trim().to_lowercase();
        check_length(&email, Self::MAX_LEN, "must be at most 254 characters")?;
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Invalid("must not contain spaces or control characters"));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(Invalid("must contain an @"));
        };
        if domain.contains('@') {
            return Err(Invalid("must contain exactly one @"));
        }
        if local.is_empty() {
            return Err(Invalid("must have a name before the @"));
        }
        let labels_ok = domain.split('.').all(|label| !label.is_empty());
        if !domain.contains('.') || !labels_ok {
            return Err(Invalid("must have a domain like example.com after the @"));
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_trimmed_and_lower_cased() {
        let email = Email::parse("  Ada.Lovelace@Example.COM \n").unwrap();
        assert_eq!(email.as_str(), "ada.lovelace@example.com");
    }

    #[test]
    fn refuses_malformed_addresses() {
        for bad in [
            "",
            "   ",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "ada@@example.com",
            "ada@b@example.com",
            "ada@example..com",
            "ada@.example.com",
            "ada@example.com.",
            "ada lovelace@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn is_at_most_254_characters() {
        let domain = "@example.com";
        let fits = format!("{}{domain}", "a".repeat(Email::MAX_LEN - domain.len()));
        assert!(Email::parse(&fits).is_ok());
        let long = format!("a{fits}");
        assert!(Email::parse(&long).is_err());
    }
}
