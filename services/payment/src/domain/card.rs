//! A card as far as Bazaar may know it. The full number and the CVC live only
//! in memory for the length of one charge; only brand, last four digits and
//! expiry are kept.

use std::fmt;

use bazaar_proto::payment::v1 as pb;
use bazaar_runtime::status::FieldViolations;

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
}

/// A card that passed every check: a Luhn-valid number of 12 to 19 digits,
/// an expiry not in the past, a 3 or 4 digit CVC.
pub struct Card {
    digits: String,
    brand: CardBrand,
    exp_month: u8,
    exp_year: u16,
}

impl fmt::Debug for Card {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Card")
            .field("brand", &self.brand)
            .field("last4", &self.last4())
            .finish_non_exhaustive()
    }
}

impl Card {
    /// Parses `card` (at `field`), recording every problem; `today` is
    /// (year, month), for the expiry check.
    pub fn parse(
        card: Option<&pb::Card>,
        field: &str,
        today: (u16, u8),
        violations: &mut FieldViolations,
    ) -> Option<Self> {
        let Some(card) = card else {
            violations.add(field, "is required");
            return None;
        };
        let digits: String = card.number.chars().filter(|c| *c != ' ').collect();
        let number_ok = if digits.is_empty() {
            violations.add(format!("{field}.number"), "is required");
            false
        } else if !digits.chars().all(|c| c.is_ascii_digit()) || !(12..=19).contains(&digits.len())
        {
            violations.add(format!("{field}.number"), "must be 12 to 19 digits");
            false
        } else if !luhn_valid(&digits) {
            violations.add(format!("{field}.number"), "is not a valid card number");
            false
        } else {
            true
        };
        let month = u8::try_from(card.exp_month)
            .ok()
            .filter(|m| (1..=12).contains(m));
        if month.is_none() {
            violations.add(format!("{field}.exp_month"), "must be 1 to 12");
        }
        let year = u16::try_from(card.exp_year)
            .ok()
            .filter(|y| (1000..=9999).contains(y));
        if year.is_none() {
            violations.add(format!("{field}.exp_year"), "must be a four-digit year");
        }
        let expired = matches!((year, month), (Some(y), Some(m)) if (y, m) < today);
        if expired {
            violations.add(format!("{field}.exp_year"), "the card has expired");
        }
        let cvc_ok =
            (3..=4).contains(&card.cvc.len()) && card.cvc.chars().all(|c| c.is_ascii_digit());
        if !cvc_ok {
            violations.add(format!("{field}.cvc"), "must be 3 or 4 digits");
        }
        if card.holder_name.chars().count() > 100 {
            violations.add(
                format!("{field}.holder_name"),
                "must be at most 100 characters",
            );
        }
        match (number_ok && cvc_ok && !expired, month, year) {
            (true, Some(exp_month), Some(exp_year)) => Some(Self {
                brand: CardBrand::of(&digits),
                digits,
                exp_month,
                exp_year,
            }),
            _ => None,
        }
    }

    pub fn brand(&self) -> CardBrand {
        self.brand
    }

    pub fn last4(&self) -> &str {
        &self.digits[self.digits.len() - 4..]
    }

    /// `MM/YYYY`.
    pub fn expiry(&self) -> String {
        format!("{:02}/{}", self.exp_month, self.exp_year)
    }

    /// The full number, for the processor only.
    pub(crate) fn digits(&self) -> &str {
        &self.digits
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

#[cfg(test)]
mod tests {
    use super::*;

    fn card(number: &str, month: i32, year: i32, cvc: &str) -> pb::Card {
        pb::Card {
            number: number.into(),
            exp_month: month,
            exp_year: year,
            cvc: cvc.into(),
            holder_name: "Ada Lovelace".into(),
        }
    }

    fn parse(card: &pb::Card) -> (Option<Card>, Vec<String>) {
        let mut violations = FieldViolations::default();
        let parsed = Card::parse(Some(card), "card", (2026, 11), &mut violations);
        let fields = violations
            .violations()
            .iter()
            .map(|v| v.field.clone())
            .collect();
        (parsed, fields)
    }

    #[test]
    fn a_good_card_keeps_only_what_may_be_stored() {
        let (parsed, fields) = parse(&card("4242 4242 4242 4242", 12, 2030, "123"));
        let parsed = parsed.unwrap();
        assert!(fields.is_empty());
        assert_eq!(parsed.brand(), CardBrand::Visa);
        assert_eq!(parsed.last4(), "4242");
        assert_eq!(parsed.expiry(), "12/2030");
        let printed = format!("{parsed:?}");
        assert!(!printed.contains("42424242"), "{printed}");
    }

    #[test]
    fn brands_come_from_the_prefix() {
        for (number, brand) in [
            ("5555555555554444", CardBrand::Mastercard),
            ("378282246310005", CardBrand::Amex),
        ] {
            assert_eq!(
                parse(&card(number, 1, 2030, "1234")).0.unwrap().brand(),
                brand
            );
        }
    }

    #[test]
    fn every_bad_field_is_reported() {
        let (parsed, fields) = parse(&card("4242 4242 4242 4241", 13, 99, "12"));
        assert!(parsed.is_none());
        assert_eq!(
            fields,
            ["card.number", "card.exp_month", "card.exp_year", "card.cvc"]
        );
    }

    #[test]
    fn an_expired_card_is_refused_and_this_month_is_fine() {
        assert_eq!(
            parse(&card("4242424242424242", 10, 2026, "123")).1,
            ["card.exp_year"]
        );
        assert!(
            parse(&card("4242424242424242", 11, 2026, "123"))
                .0
                .is_some()
        );
    }

    #[test]
    fn letters_are_not_digits() {
        assert_eq!(
            parse(&card("4242-4242-4242-4242", 1, 2030, "123")).1,
            ["card.number"]
        );
    }
}

/// Today's (year, month) in UTC, for expiry checks.
pub fn current_month() -> (u16, u8) {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400);
    month_of_day(i64::try_from(days).unwrap_or(0))
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
mod calendar_tests {
    #[test]
    fn days_map_to_the_right_month() {
        assert_eq!(super::month_of_day(0), (1970, 1));
        assert_eq!(super::month_of_day(59), (1970, 3)); // 1970-03-01
        assert_eq!(super::month_of_day(20_415), (2025, 11)); // 2025-11-23
        assert_eq!(super::month_of_day(19_782), (2024, 2)); // 2024-02-29
    }
}
