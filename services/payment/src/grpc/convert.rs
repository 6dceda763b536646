//! Domain types → wire messages.

use bazaar_proto::payment::v1 as pb;
use bazaar_runtime::db::timestamp;

use crate::domain::{Payment, PaymentStatus, Refund};

/// The wire status tells refunds apart; the stored one need not, the
/// refunded amount says it.
fn wire_status(payment: &Payment) -> pb::PaymentStatus {
    match payment.status {
        PaymentStatus::Pending => pb::PaymentStatus::Pending,
        PaymentStatus::Declined => pb::PaymentStatus::Declined,
        PaymentStatus::Succeeded if payment.refunded == payment.amount => {
            pb::PaymentStatus::Refunded
        }
        PaymentStatus::Succeeded if !payment.refunded.is_zero() => {
            pb::PaymentStatus::PartiallyRefunded
        }
        PaymentStatus::Succeeded => pb::PaymentStatus::Succeeded,
    }
}

impl From<Payment> for pb::Payment {
    fn from(payment: Payment) -> Self {
        Self {
            status: wire_status(&payment).into(),
            id: payment.id.to_string(),
            order_id: payment.order_id,
            idempotency_key: payment.idempotency_key.as_str().to_owned(),
            amount: Some(payment.amount.to_wire()),
            refunded_amount: Some(payment.refunded.to_wire()),
            card_brand: payment.card_brand.as_str().to_owned(),
            card_last4: payment.card_last4,
            decline_reason: payment.decline_reason.unwrap_or_default(),
            refunds: payment.refunds.into_iter().map(Into::into).collect(),
            create_time: Some(timestamp(payment.created_at)),
            update_time: Some(timestamp(payment.updated_at)),
        }
    }
}

impl From<Refund> for pb::Refund {
    fn from(refund: Refund) -> Self {
        Self {
            id: refund.id.to_string(),
            amount: Some(refund.amount.to_wire()),
            reason: refund.reason.unwrap_or_default(),
            idempotency_key: refund.idempotency_key.as_str().to_owned(),
            create_time: Some(timestamp(refund.created_at)),
        }
    }
}
