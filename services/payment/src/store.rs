//! Where payments are recorded: one trait, implemented over SQL for both
//! PostgreSQL and SQLite.

pub mod sql;

use std::future::Future;

use bazaar_runtime::status::ServiceError;

use crate::{
    domain::{ChargeCommand, IdempotencyKey, Payment, PaymentId, Refund, RefundCommand},
    processor::Outcome,
};

/// The result of claiming an idempotency key for a charge.
#[derive(Debug)]
pub enum Claim {
    /// A new pending payment: this caller asks the processor.
    New(Payment),
    /// The key was used before; this is what it recorded.
    Existing(Payment),
}

/// What a write returned, and whether this call made it: false when an
/// earlier or concurrent call under the same key had (a replay).
#[derive(Debug)]
pub struct Written<T> {
    pub value: T,
    pub first: bool,
}

pub trait PaymentStore: Send + Sync + 'static {
    /// Records a pending payment under the command's key, claimed by `token`,
    /// or returns the payment already recorded under it.
    fn claim_charge(
        &self,
        command: &ChargeCommand,
        fingerprint: &str,
        token: &str,
    ) -> impl Future<Output = Result<Claim, ServiceError>> + Send;

    /// Claims a pending payment for `token`, so that the caller who claimed
    /// it before can no longer forget it. False when it is no longer pending
    /// (settled, or forgotten).
    fn take_over(
        &self,
        id: PaymentId,
        token: &str,
    ) -> impl Future<Output = Result<bool, ServiceError>> + Send;

    /// Records the processor's answer for a pending payment and returns the
    /// payment as stored (a concurrent caller's answer may have won: then
    /// not `first`).
    fn finish_charge(
        &self,
        id: PaymentId,
        outcome: &Outcome,
    ) -> impl Future<Output = Result<Written<Payment>, ServiceError>> + Send;

    /// Forgets a pending payment the processor did not take money for, so the
    /// key can be used again, only while `token` still holds its claim: a
    /// caller that took it over may be finishing it. True when forgotten.
    fn abandon_charge(
        &self,
        id: PaymentId,
        token: &str,
    ) -> impl Future<Output = Result<bool, ServiceError>> + Send;

    fn get(
        &self,
        id: PaymentId,
    ) -> impl Future<Output = Result<Option<Payment>, ServiceError>> + Send;

    fn lookup(
        &self,
        key: &IdempotencyKey,
    ) -> impl Future<Output = Result<Option<Payment>, ServiceError>> + Send;

    /// Refunds once per (payment, key); the same key returns the first refund
    /// (not `first`).
    fn refund(
        &self,
        command: &RefundCommand,
    ) -> impl Future<Output = Result<Written<(Payment, Refund)>, ServiceError>> + Send;
}
