//! Money as the services hold it: a non-negative count of minor units of a
//! currency Bazaar knows. Parsed once from the wire type at the gRPC edge, so
//! arithmetic inside never meets an unknown currency or a negative price.

use std::fmt;

use bazaar_proto::common::v1::Money as WireMoney;

/// A currency Bazaar accepts, with its ISO 4217 code and minor-unit exponent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: &'static str,
    exponent: u8,
}

/// The currencies Bazaar accepts: code and digits after the decimal point.
const CURRENCIES: &[(&str, u8)] = &[
    ("AUD", 2),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CNY", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("INR", 2),
    ("ISK", 0),
    ("JPY", 0),
    ("KRW", 0),
    ("MXN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("PLN", 2),
    ("RON", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("USD", 2),
    ("ZAR", 2),
];

impl Currency {
    /// Parses an upper-case ISO 4217 code.
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        CURRENCIES
            .iter()
            .find(|(known, _)| *known == code)
            .map(|&(code, exponent)| Self { code, exponent })
            .ok_or_else(|| {
                if code.is_empty() {
                    MoneyError::MissingCurrency
                } else {
                    MoneyError::UnknownCurrency(code.chars().take(8).collect())
                }
            })
    }

    pub fn code(self) -> &'static str {
        self.code
    }

    /// Digits after the decimal point (2 for EUR, 0 for JPY).
    pub fn exponent(self) -> u8 {
        self.exponent
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

/// Why a wire amount is not money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("is required")]
    Missing,
    #[error("currency_code is required")]
    MissingCurrency,
    #[error("unknown ISO 4217 currency code {0:?}")]
    UnknownCurrency(String),
    #[error("amount_minor must not be negative")]
    Negative,
    #[error("amounts in {0} and {1} cannot be combined")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount too large")]
    Overflow,
}

impl MoneyError {
    /// The part of a wire `Money` the error is about (`currency_code`,
    /// `amount_minor`), so a violation can name the exact field.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::MissingCurrency | Self::UnknownCurrency(_) => Some("currency_code"),
            Self::Negative | Self::Overflow => Some("amount_minor"),
            Self::Missing | Self::CurrencyMismatch(..) => None,
        }
    }
}

/// A non-negative amount in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    currency: Currency,
    minor: i64,
}

impl Money {
    pub fn new(currency: Currency, minor: i64) -> Result<Self, MoneyError> {
        if minor < 0 {
            return Err(MoneyError::Negative);
        }
        Ok(Self { currency, minor })
    }

    pub fn zero(currency: Currency) -> Self {
        Self { currency, minor: 0 }
    }

    /// Parses the wire form; an absent message is [`MoneyError::Missing`].
    pub fn from_wire(wire: Option<&WireMoney>) -> Result<Self, MoneyError> {
        let wire = wire.ok_or(MoneyError::Missing)?;
        Self::new(Currency::parse(&wire.currency_code)?, wire.amount_minor)
    }

    /// Rebuilds stored money (code and minor units as a store wrote them).
    pub fn from_parts(code: &str, minor: i64) -> Result<Self, MoneyError> {
        Self::new(Currency::parse(code)?, minor)
    }

    pub fn currency(self) -> Currency {
        self.currency
    }

    pub fn minor(self) -> i64 {
        self.minor
    }

    pub fn is_zero(self) -> bool {
        self.minor == 0
    }

    pub fn checked_add(self, other: Self) -> Result<Self, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Self { minor, ..self })
    }

    /// `self - other`, or `None` if it would be negative.
    pub fn checked_sub(self, other: Self) -> Result<Option<Self>, MoneyError> {
        self.same_currency(other)?;
        Ok((other.minor <= self.minor).then(|| Self {
            minor: self.minor - other.minor,
            ..self
        }))
    }

    pub fn times(self, quantity: u32) -> Result<Self, MoneyError> {
        let minor = self
            .minor
            .checked_mul(i64::from(quantity))
            .ok_or(MoneyError::Overflow)?;
        Ok(Self { minor, ..self })
    }

    fn same_currency(self, other: Self) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(self.currency, other.currency))
        }
    }

    pub fn to_wire(self) -> WireMoney {
        WireMoney {
            currency_code: self.currency.code.to_owned(),
            amount_minor: self.minor,
        }
    }
}

impl fmt::Display for Money {
    /// `12.34 EUR`, `500 JPY`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exponent = u32::from(self.currency.exponent);
        if exponent == 0 {
            return write!(f, "{} {}", self.minor, self.currency);
        }
        let unit = 10_i64.pow(exponent);
        write!(
            f,
            "{}.{:0width$} {}",
            self.minor / unit,
            self.minor % unit,
            self.currency,
            width = exponent as usize
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(minor: i64) -> Money {
        Money::from_parts("EUR", minor).unwrap()
    }

    #[test]
    fn parses_known_currencies_and_rejects_the_rest() {
        let wire = WireMoney {
            currency_code: "JPY".into(),
            amount_minor: 500,
        };
        assert_eq!(
            Money::from_wire(Some(&wire)).unwrap().to_string(),
            "500 JPY"
        );
        for (code, error) in [
            ("", MoneyError::MissingCurrency),
            ("eur", MoneyError::UnknownCurrency("eur".into())),
            ("XXX", MoneyError::UnknownCurrency("XXX".into())),
        ] {
            let wire = WireMoney {
                currency_code: code.into(),
                amount_minor: 1,
            };
            assert_eq!(Money::from_wire(Some(&wire)), Err(error));
        }
        assert_eq!(Money::from_wire(None), Err(MoneyError::Missing));
    }

    #[test]
    fn negative_amounts_are_not_money() {
        assert_eq!(Money::from_parts("EUR", -1), Err(MoneyError::Negative));
    }

    #[test]
    fn arithmetic_stays_in_one_currency_and_never_goes_negative() {
        assert_eq!(eur(1999).times(3).unwrap(), eur(5997));
        assert_eq!(eur(100).checked_add(eur(5)).unwrap(), eur(105));
        assert_eq!(eur(100).checked_sub(eur(30)).unwrap(), Some(eur(70)));
        assert_eq!(eur(100).checked_sub(eur(101)).unwrap(), None);
        let usd = Money::from_parts("USD", 1).unwrap();
        assert!(matches!(
            eur(1).checked_add(usd),
            Err(MoneyError::CurrencyMismatch(..))
        ));
        assert_eq!(eur(i64::MAX).times(2), Err(MoneyError::Overflow));
    }

    #[test]
    fn displays_with_the_currency_exponent() {
        assert_eq!(eur(1205).to_string(), "12.05 EUR");
        assert_eq!(eur(7).to_string(), "0.07 EUR");
    }
}
