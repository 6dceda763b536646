//! Charges, refunds, and the requests that make them.

pub use bazaar_domain::IdempotencyKey;
use bazaar_domain::Money;
use bazaar_proto::payment::v1 as pb;
use bazaar_runtime::{db::timestamp, status::FieldViolations};

use super::card::Card;

/// A payment's id: a UUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentId(uuid::Uuid);

impl PaymentId {
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        uuid::Uuid::parse_str(raw)
            .map(Self)
            .map_err(|_| "must be a UUID")
    }

    pub fn as_string(&self) -> String {
        self.0.to_string()
    }
}

impl Default for PaymentId {
    fn default() -> Self {
        Self::new()
    }
}

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
    pub id: String,
    pub idempotency_key: String,
    pub order_id: String,
    pub amount: Money,
    pub refunded: Money,
    pub status: PaymentStatus,
    pub card_brand: String,
    pub card_last4: String,
    pub card_exp: String,
    pub decline_reason: String,
    pub refunds: Vec<Refund>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Payment {
    /// True when `command` is the request this payment was first made for.
    pub fn matches(&self, command: &ChargeCommand) -> bool {
        self.order_id == command.order_id
            && self.amount == command.amount
            && self.card_last4 == command.card.last4()
            && self.card_exp == command.card.expiry()
    }

    /// What is left to refund.
    pub fn refundable(&self) -> i64 {
        self.amount.minor() - self.refunded.minor()
    }

    pub fn to_proto(&self) -> pb::Payment {
        let status = match self.status {
            PaymentStatus::Pending => pb::PaymentStatus::Pending,
            PaymentStatus::Declined => pb::PaymentStatus::Declined,
            PaymentStatus::Succeeded if self.refunded == self.amount => pb::PaymentStatus::Refunded,
            PaymentStatus::Succeeded if !self.refunded.is_zero() => {
                pb::PaymentStatus::PartiallyRefunded
            }
            PaymentStatus::Succeeded => pb::PaymentStatus::Succeeded,
        };
        pb::Payment {
            id: self.id.clone(),
            order_id: self.order_id.clone(),
            idempotency_key: self.idempotency_key.clone(),
            amount: Some(self.amount.to_wire()),
            refunded_amount: Some(self.refunded.to_wire()),
            status: status.into(),
            card_brand: self.card_brand.clone(),
            card_last4: self.card_last4.clone(),
            decline_reason: self.decline_reason.clone(),
            refunds: self.refunds.iter().map(Refund::to_proto).collect(),
            create_time: Some(timestamp(self.created_at)),
            update_time: Some(timestamp(self.updated_at)),
        }
    }
}

/// Money given back from a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: String,
    pub payment_id: String,
    pub idempotency_key: String,
    pub amount: Money,
    pub reason: String,
    pub created_at: i64,
}

impl Refund {
    pub fn to_proto(&self) -> pb::Refund {
        pb::Refund {
            id: self.id.clone(),
            amount: Some(self.amount.to_wire()),
            reason: self.reason.clone(),
            idempotency_key: self.idempotency_key.clone(),
            create_time: Some(timestamp(self.created_at)),
        }
    }
}

/// A valid Charge request.
#[derive(Debug)]
pub struct ChargeCommand {
    pub idempotency_key: IdempotencyKey,
    pub order_id: String,
    pub amount: Money,
    pub card: Card,
}

impl ChargeCommand {
    /// Parses a request, reporting every bad field at once. `today` is
    /// (year, month) for the card expiry.
    pub fn parse(request: &pb::ChargeRequest, today: (u16, u8)) -> Result<Self, FieldViolations> {
        let mut violations = FieldViolations::default();
        let key = violations.check(
            "idempotency_key",
            IdempotencyKey::parse(&request.idempotency_key),
        );
        if request.order_id.is_empty() || request.order_id.len() > 128 {
            violations.add("order_id", "must be 1 to 128 characters");
        }
        let amount = violations
            .check("amount", Money::from_wire(request.amount.as_ref()))
            .filter(|amount| {
                let positive = !amount.is_zero();
                if !positive {
                    violations.add("amount.amount_minor", "must be more than zero");
                }
                positive
            });
        let card = Card::parse(request.card.as_ref(), "card", today, &mut violations);
        match (key, amount, card) {
            (Some(idempotency_key), Some(amount), Some(card)) if violations.is_empty() => {
                Ok(Self {
                    idempotency_key,
                    order_id: request.order_id.clone(),
                    amount,
                    card,
                })
            }
            _ => Err(violations),
        }
    }
}

/// A valid Refund request.
#[derive(Debug)]
pub struct RefundCommand {
    pub payment_id: PaymentId,
    /// `None`: whatever is left.
    pub amount: Option<Money>,
    pub idempotency_key: IdempotencyKey,
    pub reason: String,
}

impl RefundCommand {
    pub fn parse(request: &pb::RefundRequest) -> Result<Self, FieldViolations> {
        let mut violations = FieldViolations::default();
        let payment_id = violations.check("payment_id", PaymentId::parse(&request.payment_id));
        let amount = match request.amount.as_ref() {
            None => Some(None),
            Some(wire) => violations
                .check("amount", Money::from_wire(Some(wire)))
                .filter(|amount| {
                    let positive = !amount.is_zero();
                    if !positive {
                        violations.add("amount.amount_minor", "must be more than zero");
                    }
                    positive
                })
                .map(Some),
        };
        let key = violations.check(
            "idempotency_key",
            IdempotencyKey::parse(&request.idempotency_key),
        );
        if request.reason.chars().count() > 500 {
            violations.add("reason", "must be at most 500 characters");
        }
        match (payment_id, amount, key) {
            (Some(payment_id), Some(amount), Some(idempotency_key)) if violations.is_empty() => {
                Ok(Self {
                    payment_id,
                    amount,
                    idempotency_key,
                    reason: request.reason.clone(),
                })
            }
            _ => Err(violations),
        }
    }
}
