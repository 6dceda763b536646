//! Payment rules and the types that can only hold valid values.

pub mod card;
pub mod payment;

pub use card::{Card, CardBrand, CardError, CardNumber, FingerprintKey, YearMonth};
pub use payment::{
    ChargeCommand, IdempotencyKey, Payment, PaymentId, PaymentStatus, Refund, RefundCommand,
    RefundId,
};
