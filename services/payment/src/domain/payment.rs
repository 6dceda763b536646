//! Charges, refunds, and the commands that make them.

pub use bazaar_domain::IdempotencyKey;
use bazaar_domain::Money;

use super::card::{Card, CardBrand};

bazaar_domain::uuid_id!(
    /// A payment's id.
    PaymentId
);

bazaar_domain::uuid_id!(
    /// A refund's id.
    RefundId
);

/// What the processor said, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    /// The processor was asked; no answer recorded yet.
    Pending,
    Succeeded,
    Declined,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Declined => "declined",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(Self::Pending),
            "succeeded" => Some(Self::Succeeded),
            "declined" => Some(Self::Declined),
            _ => None,
        }
    }
}

/// A charge as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: PaymentId,
    pub idempotency_key: IdempotencyKey,
    /// The order service's id for the order; opaque here.
    pub order_id: String,
    pub amount: Money,
    pub refunded: Money,
    pub status: PaymentStatus,
    pub card_brand: CardBrand,
    pub card_last4: String,
    /// `MM/YYYY`.
    pub card_exp: String,
    /// The card's keyed fingerprint; `''` for payments recorded before
    /// fingerprints were.
    pub card_fingerprint: String,
    /// The processor's reason code, for a declined payment only.
    pub decline_reason: Option<String>,
    pub refunds: Vec<Refund>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Payment {
    /// True when `command`, whose card has `fingerprint`, is the request
    /// this payment was first made for. The card is told by its fingerprint:
    /// two cards may share last four digits and expiry.
    pub fn matches(&self, command: &ChargeCommand, fingerprint: &str) -> bool {
        let same_card = if self.card_fingerprint.is_empty() {
            // Recorded before fingerprints: the best that was kept.
            self.card_last4 == command.card.last4()
        } else {
            self.card_fingerprint == fingerprint
        };
        self.order_id == command.order_id
            && self.amount == command.amount
            && same_card
            && self.card_exp == command.card.expiry()
    }

    /// What is left to refund.
    pub fn refundable(&self) -> i64 {
        self.amount.minor() - self.refunded.minor()
    }
}

/// Money given back from a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: RefundId,
    pub payment_id: PaymentId,
    pub idempotency_key: IdempotencyKey,
    pub amount: Money,
    pub reason: Option<String>,
    pub created_at: i64,
}

/// A valid Charge request.
#[derive(Debug)]
pub struct ChargeCommand {
    pub idempotency_key: IdempotencyKey,
    /// 1 to 128 characters.
    pub order_id: String,
    /// More than zero.
    pub amount: Money,
    pub card: Card,
}

/// A valid Refund request.
#[derive(Debug)]
pub struct RefundCommand {
    pub payment_id: PaymentId,
    /// More than zero; `None`: whatever is left.
    pub amount: Option<Money>,
    pub idempotency_key: IdempotencyKey,
    /// At most 500 characters.
    pub reason: Option<String>,
}
