//! A card as far as Bazaar may know it. The full number and the CVC live only
//! in memory for the length of one charge; only brand, last four digits and
//! expiry are kept, and a keyed fingerprint that tells cards apart.

use std::fmt;

pub use bazaar_domain::card::{
    CardBrand, CardError, CardNumber, YearMonth, check_cvc, check_holder_name,
};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A card that passed every check: a valid number and an expiry not in the
/// past. Only built once its CVC passed [`check_cvc`] too.
#[derive(Clone)]
pub struct Card {
    number: CardNumber,
    expiry: YearMonth,
}

impl fmt::Debug for Card {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Card")
            .field("brand", &self.brand())
            .field("last4", &self.last4())
            .finish_non_exhaustive()
    }
}

impl Card {
    pub fn new(number: CardNumber, expiry: YearMonth) -> Self {
        Self { number, expiry }
    }

    pub fn brand(&self) -> CardBrand {
        self.number.brand()
    }

    pub fn last4(&self) -> &str {
        self.number.last4()
    }

    /// `MM/YYYY`.
    pub fn expiry(&self) -> String {
        self.expiry.to_string()
    }

    /// The full number, for the processor only.
    pub(crate) fn digits(&self) -> &str {
        self.number.digits()
    }

    /// The card's keyed fingerprint: the same for the same number under one
    /// key, and useless for finding the number without the key.
    pub fn fingerprint(&self, key: &FingerprintKey) -> String {
        let mut mac = key.0.clone();
        mac.update(self.digits().as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The secret key of card fingerprints (HMAC-SHA256 of the full number), so
/// that two cards are told apart without the number being kept.
#[derive(Clone)]
pub struct FingerprintKey(Hmac<Sha256>);

impl FingerprintKey {
    pub fn new(secret: &str) -> Result<Self, hmac::digest::InvalidLength> {
        Ok(Self(Hmac::new_from_slice(secret.as_bytes())?))
    }
}

impl fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FingerprintKey(..)")
    }
}

#[cfg(test)]
mod fingerprint_tests {
    #[test]
    fn fingerprints_tell_cards_with_the_same_last_four_apart() {
        let key = super::FingerprintKey::new("secret").unwrap();
        let expiry = super::YearMonth::of(2099, 12);
        let card = |n: &str| super::Card::new(super::CardNumber::parse(n).unwrap(), expiry);
        let (a, b) = (card("4242424242424242"), card("4000000000024242"));
        assert_eq!(a.last4(), b.last4());
        assert_ne!(a.fingerprint(&key), b.fingerprint(&key));
        assert_eq!(
            a.fingerprint(&key),
            card("4242 4242 4242 4242").fingerprint(&key)
        );
        let other_key = super::FingerprintKey::new("other").unwrap();
        assert_ne!(a.fingerprint(&key), a.fingerprint(&other_key));
        assert!(!a.fingerprint(&key).contains("4242424242"));
    }
}
