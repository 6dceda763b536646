//! A payment card as any service may check it: the number's shape and
//! checksum, the expiry, the CVC and holder name. Checking a card needs no
//! secret, so the order service refuses a malformed one at checkout and the
//! payment service again before charging; keeping or fingerprinting it is
//! the payment service's alone.

use std::fmt;

use bazaar_proto::payment::v1::Card as WireCard;

/// Why a card, or one of its parts, is refused. The texts are the field
/// violations callers see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("is required")]
    MissingNumber,
    #[error("must be 12 to 19 digits")]
    NotDigits,
    #[error("is not a valid card number")]
    FailsChecksum,
    #[error("must be 1 to 12")]
    BadMonth,
    #[error("must be a four-digit year")]
    BadYear,
    #[error("the card has expired")]
    Expired,
    #[error("must be 3 or 4 digits")]
    BadCvc,
    #[error("must be at most 100 characters")]
    HolderNameTooLong,
}

/// The card network, from the number's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardBrand {
    Visa,
    Mastercard,
    Amex,
    Other,
}

impl CardBrand {
    fn of(digits: &str) -> Self {
        let prefix2: u32 = digits.get(..2).and_then(|p| p.parse().ok()).unwrap_or(0);
        let prefix4: u32 = digits.get(..4).and_then(|p| p.parse().ok()).unwrap_or(0);
        match () {
            () if digits.starts_with('4') => Self::Visa,
            () if (51..=55).contains(&prefix2) || (2221..=2720).contains(&prefix4) => {
                Self::Mastercard
            }
            () if prefix2 == 34 || prefix2 == 37 => Self::Amex,
            () => Self::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Visa => "visa",
            Self::Mastercard => "mastercard",
            Self::Amex => "amex",
            Self::Other => "other",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "visa" => Some(Self::Visa),
            "mastercard" => Some(Self::Mastercard),
            "amex" => Some(Self::Amex),
            "other" => Some(Self::Other),
            _ => None,
        }
    }
}

/// A Luhn-valid number of 12 to 19 digits; spaces between digit groups are
/// dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct CardNumber(String);

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber(…{})", self.last4())
    }
}

impl CardNumber {
    pub fn parse(raw: &str) -> Result<Self, CardError> {
        let digits: String = raw.chars().filter(|c| *c != ' ').collect();
        if digits.is_empty() {
            Err(CardError::MissingNumber)
        } else if !digits.chars().all(|c| c.is_ascii_digit()) || !(12..=19).contains(&digits.len())
        {
            Err(CardError::NotDigits)
        } else if !luhn_valid(&digits) {
            Err(CardError::FailsChecksum)
        } else {
            Ok(Self(digits))
        }
    }

    pub fn brand(&self) -> CardBrand {
        CardBrand::of(&self.0)
    }

    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }

    /// The full number without spaces: for a processor, never for a log.
    pub fn digits(&self) -> &str {
        &self.0
    }
}

/// A calendar month (year, then month, so the order is the calendar's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct YearMonth {
    year: u16,
    month: u8,
}

impl YearMonth {
    /// An expiry month: 1 to 12.
    pub fn parse_month(raw: i32) -> Result<u8, CardError> {
        u8::try_from(raw)
            .ok()
            .filter(|m| (1..=12).contains(m))
            .ok_or(CardError::BadMonth)
    }

    /// An expiry year: four digits.
    pub fn parse_year(raw: i32) -> Result<u16, CardError> {
        u16::try_from(raw)
            .ok()
            .filter(|y| (1000..=9999).contains(y))
            .ok_or(CardError::BadYear)
    }

    /// The expiry of a card still valid in `today`'s month; `month` and
    /// `year` come from [`Self::parse_month`] and [`Self::parse_year`].
    pub fn expiry(year: u16, month: u8, today: Self) -> Result<Self, CardError> {
        let expiry = Self { year, month };
        if expiry < today {
            Err(CardError::Expired)
        } else {
            Ok(expiry)
        }
    }

    /// A given month, for tests and fixed clocks.
    pub fn of(year: u16, month: u8) -> Self {
        Self { year, month }
    }

    /// Today's month in UTC, for expiry checks.
    pub fn current() -> Self {
        let days = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 86_400);
        let (year, month) = month_of_day(i64::try_from(days).unwrap_or(0));
        Self { year, month }
    }
}

/// `MM/YYYY`.
impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}/{}", self.month, self.year)
    }
}

/// A 3 or 4 digit CVC: checked, never kept (the simulated processor does
/// not ask for it).
pub fn check_cvc(raw: &str) -> Result<(), CardError> {
    if (3..=4).contains(&raw.len()) && raw.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(CardError::BadCvc)
    }
}

/// At most 100 characters: checked, never kept.
pub fn check_holder_name(raw: &str) -> Result<(), CardError> {
    if raw.chars().count() > 100 {
        Err(CardError::HolderNameTooLong)
    } else {
        Ok(())
    }
}

/// The parts of a card that passed every check.
#[derive(Debug, Clone)]
pub struct CheckedCard {
    pub number: CardNumber,
    pub expiry: YearMonth,
}

/// Checks every part of a wire card against `today`'s month; each refusal
/// names its field (`number`, `exp_month`, `exp_year`, `cvc`,
/// `holder_name`), so a caller can prefix the path the card has in its own
/// request.
pub fn check_card(
    card: &WireCard,
    today: YearMonth,
) -> Result<CheckedCard, Vec<(&'static str, CardError)>> {
    let mut refused = Vec::new();
    let mut keep = |field: &'static str, error: Option<CardError>| {
        if let Some(error) = error {
            refused.push((field, error));
        }
    };
    let number = CardNumber::parse(&card.number);
    keep("number", number.as_ref().err().copied());
    let month = YearMonth::parse_month(card.exp_month);
    keep("exp_month", month.err());
    let year = YearMonth::parse_year(card.exp_year);
    keep("exp_year", year.err());
    // Expired is only worth saying of an expiry that is otherwise valid.
    let expiry = match (year, month) {
        (Ok(year), Ok(month)) => {
            let expiry = YearMonth::expiry(year, month, today);
            keep("exp_year", expiry.err());
            expiry.ok()
        }
        _ => None,
    };
    keep("cvc", check_cvc(&card.cvc).err());
    keep("holder_name", check_holder_name(&card.holder_name).err());
    match (number, expiry) {
        (Ok(number), Some(expiry)) if refused.is_empty() => Ok(CheckedCard { number, expiry }),
        _ => Err(refused),
    }
}

fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The (year, month) of a day counted from 1970-01-01 (Howard Hinnant's
/// civil-from-days algorithm).
fn month_of_day(days: i64) -> (u16, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        u16::try_from(year).unwrap_or(u16::MAX),
        u8::try_from(month).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_part_of_a_card_is_named() {
        let card = WireCard {
            number: "4242 4242 4242 4241".into(),
            exp_month: 13,
            exp_year: 2030,
            cvc: "12a".into(),
            holder_name: "x".repeat(101),
        };
        let refused = check_card(&card, YearMonth::of(2026, 11)).unwrap_err();
        let fields: Vec<_> = refused.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["number", "exp_month", "cvc", "holder_name"]);
        let expired = WireCard {
            number: "4242424242424242".into(),
            exp_month: 10,
            exp_year: 2026,
            cvc: "123".into(),
            holder_name: String::new(),
        };
        let refused = check_card(&expired, YearMonth::of(2026, 11)).unwrap_err();
        assert_eq!(refused, [("exp_year", CardError::Expired)]);
        assert!(check_card(&expired, YearMonth::of(2026, 10)).is_ok());
    }

    #[test]
    fn days_map_to_the_right_month() {
        assert_eq!(super::month_of_day(0), (1970, 1));
        assert_eq!(super::month_of_day(59), (1970, 3)); // 1970-03-01
        assert_eq!(super::month_of_day(20_415), (2025, 11)); // 2025-11-23
        assert_eq!(super::month_of_day(19_782), (2024, 2)); // 2024-02-29
    }
}
