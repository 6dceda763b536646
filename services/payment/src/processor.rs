//! A simulated card processor with deterministic test cards, standing in for
//! a real acquirer. Like a real one, it answers the same for the same card,
//! so repeating a charge is safe.

use std::time::Duration;

use crate::domain::Card;

/// Test card numbers and what the processor does with them. Any other
/// Luhn-valid number is approved.
pub mod test_cards {
    /// Approved.
    pub const APPROVED: &str = "4242424242424242";
    /// Declined: insufficient funds.
    pub const INSUFFICIENT_FUNDS: &str = "4000000000009995";
    /// Declined: generic decline.
    pub const DECLINED: &str = "4000000000000002";
    /// The processor fails: nothing is charged, the caller may retry.
    pub const PROCESSOR_ERROR: &str = "4000000000000119";
    /// Approved after the configured `processor.slow_latency`.
    pub const SLOW: &str = "4000000000003220";
}

/// The processor's answer to a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Approved,
    /// A stable reason code, e.g. `INSUFFICIENT_FUNDS`.
    Declined(&'static str),
    /// The processor could not decide; nothing was charged.
    Unavailable,
}

#[derive(Debug, Clone)]
pub struct SimulatedProcessor {
    slow_latency: Duration,
}

impl SimulatedProcessor {
    pub fn new(slow_latency: Duration) -> Self {
        Self { slow_latency }
    }

    pub async fn charge(&self, card: &Card) -> Outcome {
        match card.digits() {
            test_cards::INSUFFICIENT_FUNDS => Outcome::Declined("INSUFFICIENT_FUNDS"),
            test_cards::DECLINED => Outcome::Declined("CARD_DECLINED"),
            test_cards::PROCESSOR_ERROR => Outcome::Unavailable,
            test_cards::SLOW => {
                tokio::time::sleep(self.slow_latency).await;
                Outcome::Approved
            }
            _ => Outcome::Approved,
        }
    }
}
