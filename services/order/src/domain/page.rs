//! Paging through orders, newest first.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

use super::OrderId;

/// Where the next page starts: after the order with this (created_at, id),
/// for the same customer filter. Opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken {
    pub created_at: i64,
    pub id: OrderId,
    pub filter: String,
}

impl PageToken {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}|{}|{}", self.created_at, self.id, self.filter))
    }

    /// Decodes a token issued for `filter`; anything else is invalid.
    pub fn decode(raw: &str, filter: &str) -> Result<Self, &'static str> {
        const INVALID: &str = "is not a token this service issued for this query";
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| INVALID)?;
        let text = String::from_utf8(bytes).map_err(|_| INVALID)?;
        let mut parts = text.splitn(3, '|');
        let (Some(created_at), Some(id), Some(token_filter)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(INVALID);
        };
        if token_filter != filter {
            return Err(INVALID);
        }
        Ok(Self {
            created_at: created_at.parse().map_err(|_| INVALID)?,
            id: OrderId::parse(id).map_err(|_| INVALID)?,
            filter: filter.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_only_for_their_filter() {
        let token = PageToken {
            created_at: 42,
            id: OrderId::parse("0190e5a4-0000-7000-8000-000000000001").unwrap(),
            filter: "customer-1".into(),
        };
        assert_eq!(
            PageToken::decode(&token.encode(), "customer-1"),
            Ok(token.clone())
        );
        assert!(PageToken::decode(&token.encode(), "customer-2").is_err());
        assert!(PageToken::decode("garbage!", "customer-1").is_err());
    }
}
