//! Prices: an ISO 4217 currency and a non-negative count of its minor unit.

use std::fmt;

use super::Invalid;

/// The currencies the shop accepts: common ISO 4217 codes. A typo such as
/// `EUD` is refused instead of becoming a price nobody can pay.
const KNOWN_CURRENCIES: [&str; 36] = [
    "AED", "ARS", "AUD", "BGN", "BRL", "CAD", "CHF", "CLP", "CNY", "COP", "CZK", "DKK", "EUR",
    "GBP", "HKD", "HUF", "IDR", "ILS", "INR", "ISK", "JPY", "KRW", "MXN", "MYR", "NOK", "NZD",
    "PHP", "PLN", "RON", "SAR", "SEK", "SGD", "THB", "TRY", "USD", "ZAR",
];

/// An ISO 4217 alphabetic code from [`KNOWN_CURRENCIES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(&'static str);

impl Currency {
    pub fn parse(code: &str) -> Result<Self, Invalid> {
        if code.is_empty() {
            return Err(Invalid("is required"));
        }
        if code.len() != 3 || !code.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(Invalid("must be an upper-case ISO 4217 code, e.g. EUR"));
        }
        KNOWN_CURRENCIES
            .iter()
            .find(|known| **known == code)
            .map(|known| Self(known))
            .ok_or(Invalid("is not a supported ISO 4217 currency"))
    }

    pub fn code(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A non-negative amount of minor units (cents for EUR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AmountMinor(i64);

impl AmountMinor {
    pub fn parse(amount: i64) -> Result<Self, Invalid> {
        if amount < 0 {
            return Err(Invalid("must not be negative"));
        }
        Ok(Self(amount))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// A price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    pub currency: Currency,
    pub amount: AmountMinor,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_upper_case_codes_only() {
        assert_eq!(Currency::parse("EUR").map(Currency::code), Ok("EUR"));
        assert!(Currency::parse("eur").is_err());
        assert!(Currency::parse("EURO").is_err());
        assert!(Currency::parse("XYZ").is_err());
        assert!(Currency::parse("").is_err());
    }

    #[test]
    fn known_currencies_are_sorted_and_well_formed() {
        assert!(KNOWN_CURRENCIES.windows(2).all(|w| w[0] < w[1]));
        assert!(
            KNOWN_CURRENCIES
                .iter()
                .all(|c| c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase()))
        );
    }

    #[test]
    fn amounts_are_never_negative() {
        assert!(AmountMinor::parse(0).is_ok());
        assert!(AmountMinor::parse(-1).is_err());
    }
}
