//! Where orders and their saga states are kept: one trait, implemented over
//! SQL for both PostgreSQL and SQLite.

pub mod sql;

use std::future::Future;

use bazaar_domain::Money;
use bazaar_runtime::status::ServiceError;

use crate::domain::{FailureKind, Order, OrderId, PageToken, PaymentId, ProductId, SagaState};

/// The outcome of recording a new order under an idempotency key.
#[derive(Debug)]
pub enum Created {
    New(Order),
    /// The customer used the key before; this is that order.
    Existing(Order),
}

/// A new order, before its saga starts.
#[derive(Debug)]
pub struct NewOrder<'a> {
    pub id: OrderId,
    pub customer_id: &'a str,
    pub idempotency_key: &'a str,
    pub fingerprint: &'a str,
    pub items: &'a [(ProductId, u32)],
    pub lease_until: i64,
}

/// What a transition changes besides the state.
#[derive(Debug, Default, Clone)]
pub struct Change {
    pub failure_reason: Option<String>,
    pub failure_kind: Option<FailureKind>,
    pub payment_id: Option<PaymentId>,
    /// Per line (in order): the product's name and unit price, and the total.
    pub priced: Option<(Vec<(String, Money)>, Money)>,
}

impl Change {
    /// Records why the checkout failed.
    pub fn failure(kind: FailureKind, reason: &str) -> Self {
        Self {
            failure_reason: Some(reason.to_owned()),
            failure_kind: Some(kind),
            ..Self::default()
        }
    }

    /// Records why the order was cancelled (the caller's words, no kind).
    pub fn cancellation(reason: &str) -> Self {
        Self {
            failure_reason: Some(reason.to_owned()),
            ..Self::default()
        }
    }
}

/// The orders whose saga has not settled yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unfinished {
    pub count: u64,
    /// When the oldest of them was placed (µs since the epoch), if any.
    pub oldest_created_at: Option<i64>,
}

pub trait OrderStore: Send + Sync + 'static {
    fn create(
        &self,
        order: NewOrder<'_>,
    ) -> impl Future<Output = Result<Created, ServiceError>> + Send;

    fn get(&self, id: OrderId) -> impl Future<Output = Result<Option<Order>, ServiceError>> + Send;

    /// Moves `order` from its state to `to` if it is still in it, and returns
    /// it as moved; `None` when something else moved it first.
    fn transition(
        &self,
        order: &Order,
        to: SagaState,
        change: Change,
    ) -> impl Future<Output = Result<Option<Order>, ServiceError>> + Send;

    /// Takes over in-flight orders whose lease ran out, leasing them until
    /// `lease_until`.
    fn claim_stranded(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Order>, ServiceError>> + Send;

    /// Extends the lease of an in-flight order that this process is driving,
    /// so the recovery worker leaves it alone while the drive lasts.
    fn renew_lease(
        &self,
        id: OrderId,
        lease_until: i64,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// How many orders are in flight, and the oldest of them: one cheap
    /// query, for the recovery worker's gauges.
    fn unfinished(&self) -> impl Future<Output = Result<Unfinished, ServiceError>> + Send;

    /// Newest first, after `after`, of one customer or of everyone.
    fn list(
        &self,
        customer_id: Option<&str>,
        after: Option<&PageToken>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Order>, ServiceError>> + Send;
}
