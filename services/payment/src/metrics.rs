//! The payment service's domain metrics: what became of charges and
//! refunds, beside the per-RPC metrics the runtime keeps.

use bazaar_observe::{
    Metrics,
    prometheus_client::metrics::{counter::Counter, family::Family},
};

use crate::domain::PaymentStatus;

/// What a payment operation achieved: the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// The card was charged.
    Captured,
    /// The processor declined the card.
    Declined,
    /// Nothing was charged: the processor was unavailable, or the key had
    /// been voided first.
    Failed,
    /// Money was given back.
    Refunded,
}

impl PaymentOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Captured => "captured",
            Self::Declined => "declined",
            Self::Failed => "failed",
            Self::Refunded => "refunded",
        }
    }

    /// The outcome a settled charge records; `None` while pending.
    pub fn of_charge(status: PaymentStatus) -> Option<Self> {
        match status {
            PaymentStatus::Succeeded => Some(Self::Captured),
            PaymentStatus::Declined => Some(Self::Declined),
            PaymentStatus::Pending => None,
        }
    }
}

type Outcome = [(&'static str, &'static str); 1];

/// Handles registered once per service instance.
#[derive(Clone, Debug)]
pub struct PaymentMetrics {
    payments: Family<Outcome, Counter>,
}

impl PaymentMetrics {
    pub fn register(metrics: &Metrics) -> Self {
        Self {
            payments: metrics.family(
                "bazaar_payments",
                "Charges and refunds by outcome (captured, declined, failed, refunded), each counted once",
            ),
        }
    }

    /// Counts one `bazaar_payments_total{outcome}`.
    pub fn count(&self, outcome: PaymentOutcome) {
        self.payments
            .get_or_create(&[("outcome", outcome.as_str())])
            .inc();
    }
}
