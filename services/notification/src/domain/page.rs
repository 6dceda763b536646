//! Paging through a customer's notifications, newest first.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

use super::EventId;

/// Where the next page starts: after the notification with this
/// (occurred_at, id). Opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken {
    pub occurred_at: i64,
    pub id: EventId,
}

impl PageToken {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}|{}", self.occurred_at, self.id))
    }

    pub fn decode(raw: &str) -> Result<Self, &'static str> {
        const INVALID: &str = "is not a token this service issued";
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| INVALID)?;
        let text = String::from_utf8(bytes).map_err(|_| INVALID)?;
        let (occurred_at, id) = text.split_once('|').ok_or(INVALID)?;
        Ok(Self {
            occurred_at: occurred_at.parse().map_err(|_| INVALID)?,
            id: EventId::parse(id).map_err(|_| INVALID)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let token = PageToken {
            occurred_at: 42,
            id: EventId::parse("0190e5a4-0000-7000-8000-000000000001").unwrap(),
        };
        assert_eq!(PageToken::decode(&token.encode()), Ok(token));
        assert!(PageToken::decode("garbage!").is_err());
        assert!(PageToken::decode(&URL_SAFE_NO_PAD.encode("x|y")).is_err());
    }
}
