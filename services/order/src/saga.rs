//! The checkout saga: reserve stock → charge the card → commit the stock, and
//! the compensations when a step fails.
//!
//! Every step first persists the state naming the call it is about to make
//! (see [`SagaState`]), then makes the call, then persists the outcome. The
//! same [`Saga::drive`] serves a live PlaceOrder (which holds the card) and the
//! recovery worker (which never sees a card: without one, an order that has
//! not been charged is compensated rather than charged).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use bazaar_domain::Money;
use bazaar_mesh::Retrier;
use bazaar_proto::{
    payment::v1::{
        Card, ChargeRequest, LookupPaymentRequest, PaymentStatus, RefundRequest,
        payment_service_client::PaymentServiceClient,
    },
    product::v1::{
        CommitReservationRequest, ReleaseReservationRequest, ReserveStockRequest, StockItem,
        product_service_client::ProductServiceClient,
    },
};
use bazaar_runtime::{
    client::{TracedChannel, never_delivered},
    db::now_micros,
    service::{App, AppError},
    status::ServiceError,
};
use tonic::{Code, Status};
use tracing::{Instrument as _, Span, field::Empty};

#[cfg(feature = "testing")]
pub mod hooks;

#[cfg(feature = "testing")]
use self::hooks::Hooks;
use crate::{
    config::Settings,
    domain::{FailureKind, Order, OrderId, PaymentId, ProductId, SagaState},
    events::Events,
    metrics::{OrderMetrics, SagaStep},
    store::{Change, OrderStore},
};

/// What a step did.
enum Step {
    /// The order moved on.
    Moved(Order),
    /// The order cannot move now (an outcome is unknown, or a dependency is
    /// down); recovery will retry.
    Blocked(Order),
}

pub struct Saga<S> {
    store: Arc<S>,
    product: ProductServiceClient<TracedChannel>,
    payment: PaymentServiceClient<TracedChannel>,
    /// Retry state per dependency: every saga call is idempotent (keyed by
    /// the order id), and the policy's budget bounds the retries.
    product_retries: Retrier,
    payment_retries: Retrier,
    events: Events,
    metrics: OrderMetrics,
    #[cfg(feature = "testing")]
    hooks: Hooks,
}

/// How far a drive got, and what the caller of the request should hear.
pub struct Driven {
    pub order: Order,
    /// An error to report instead of the order (e.g. UNAVAILABLE once the
    /// compensation for an unreachable payment service is done).
    pub error: Option<Status>,
}

impl<S: OrderStore> Saga<S> {
    /// A saga over `store`, calling product and payment where `settings`
    /// say, through the mesh.
    pub fn connect(
        store: Arc<S>,
        app: &App,
        settings: &Settings,
        metrics: OrderMetrics,
    ) -> Result<Self, AppError> {
        let product = app.dependency("product", &settings.product)?;
        let payment = app.dependency("payment", &settings.payment)?;
        Ok(Self {
            store,
            product: ProductServiceClient::new(product.channel),
            payment: PaymentServiceClient::new(payment.channel),
            product_retries: product.retrier,
            payment_retries: payment.retrier,
            events: Events::new(),
            metrics,
            #[cfg(feature = "testing")]
            hooks: Hooks::default(),
        })
    }

    /// The saga halting where `hooks` say.
    #[cfg(feature = "testing")]
    pub fn with_hooks(self, hooks: Hooks) -> Self {
        Self { hooks, ..self }
    }

    /// Halts for good right after `state` is persisted, if a test hook says
    /// so; nothing at all without the `testing` feature.
    #[inline]
    async fn halt_after(&self, state: SagaState, order_id: OrderId) {
        #[cfg(feature = "testing")]
        self.hooks
            .check(hooks::HaltPoint::After(state), order_id)
            .await;
        #[cfg(not(feature = "testing"))]
        let _ = (state, order_id);
    }

    /// Halts for good once the call of `state` answered, before its outcome
    /// is persisted, if a test hook says so; nothing without `testing`.
    #[inline]
    async fn halt_before_leaving(&self, state: SagaState, order_id: OrderId) {
        #[cfg(feature = "testing")]
        self.hooks
            .check(hooks::HaltPoint::BeforeLeaving(state), order_id)
            .await;
        #[cfg(not(feature = "testing"))]
        let _ = (state, order_id);
    }

    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    pub fn events(&self) -> &Events {
        &self.events
    }

    pub fn metrics(&self) -> &OrderMetrics {
        &self.metrics
    }

    /// Drives `order` from its current state until it settles or blocks.
    /// `reserve_by` is the deadline of the request that placed the order:
    /// reserving stock (when nothing is held yet) gets at most what is left
    /// of it, so no stock is taken for a caller that gave up (a reservation
    /// cut short is released, never left half-done). No later step carries
    /// it: the saga outlives the request.
    pub async fn drive(
        &self,
        mut order: Order,
        card: Option<&Card>,
        reserve_by: Option<std::time::Instant>,
    ) -> Result<Driven, ServiceError> {
        let mut error = None;
        self.halt_after(order.state, order.id).await;
        loop {
            let step = match order.state {
                SagaState::Reserving => match card {
                    Some(_) => {
                        let reserve = self.reserve(&order, &mut error);
                        let reserve = async {
                            match reserve_by {
                                Some(deadline) => {
                                    bazaar_mesh::deadline::scope(deadline, reserve).await
                                }
                                None => reserve.await,
                            }
                        };
                        self.timed(SagaStep::Reserve, SagaState::Charging, reserve)
                            .await?
                    }
                    // Without the card there is no paying: hand back whatever
                    // the interrupted request may have reserved.
                    None => {
                        self.fail(
                            &order,
                            FailureKind::Interrupted,
                            "checkout was interrupted before payment",
                        )
                        .await?
                    }
                },
                SagaState::Charging => {
                    let charge = self.charge(&order, card, &mut error);
                    self.timed(SagaStep::Charge, SagaState::Committing, charge)
                        .await?
                }
                SagaState::Committing => {
                    self.timed(SagaStep::Commit, SagaState::Confirmed, self.commit(&order))
                        .await?
                }
                SagaState::Releasing => {
                    let release = self.release(&order, SagaState::Failed);
                    self.timed(SagaStep::Release, SagaState::Failed, release)
                        .await?
                }
                SagaState::Refunding => {
                    let refund = self.refund(&order, "refund", SagaState::Releasing);
                    self.timed(SagaStep::Refund, SagaState::Releasing, refund)
                        .await?
                }
                SagaState::Cancelling => self.cancel(&order).await?,
                SagaState::Confirmed
                | SagaState::Shipped
                | SagaState::Failed
                | SagaState::Cancelled => return Ok(Driven { order, error }),
            };
            match step {
                Step::Moved(next) => {
                    self.halt_after(next.state, next.id).await;
                    order = next;
                }
                Step::Blocked(order) => return Ok(Driven { order, error }),
            }
        }
    }

    /// [`Self::drive`], renewing the order's lease for `lease` at a time
    /// while it runs, so that recovery never takes over an order that is
    /// being driven however long its steps take.
    pub async fn drive_leased(
        &self,
        order: Order,
        card: Option<&Card>,
        reserve_by: Option<std::time::Instant>,
        lease: Duration,
    ) -> Result<Driven, ServiceError> {
        let id = order.id;
        // A child of whatever span is current: the request's for a live
        // checkout or cancellation (see `Drives::spawn`), none for recovery.
        let span = tracing::info_span!(
            "saga",
            order.id = %id,
            order.state = Empty,
            order.failure_reason = Empty,
            otel.status_code = Empty,
            otel.status_description = Empty,
        );
        let lease_micros = i64::try_from(lease.as_micros()).unwrap_or(i64::MAX);
        let period = (lease / 3).max(Duration::from_millis(10));
        let leased = async {
            let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            let drive = self.drive(order, card, reserve_by);
            tokio::pin!(drive);
            loop {
                tokio::select! {
                    driven = &mut drive => return driven,
                    _ = renew.tick() => {
                        let until = now_micros().saturating_add(lease_micros);
                        if let Err(error) = self.store.renew_lease(id, until).await {
                            tracing::warn!(order_id = %id, %error, "cannot renew the order's lease");
                        }
                    }
                }
            }
        };
        let driven = leased.instrument(span.clone()).await;
        record_outcome(&span, &driven);
        driven
    }

    /// Runs `work`, the step `step`, and records how long it took and
    /// whether it got the order to `success`.
    async fn timed(
        &self,
        step: SagaStep,
        success: SagaState,
        work: impl Future<Output = Result<Step, ServiceError>>,
    ) -> Result<Step, ServiceError> {
        let started = Instant::now();
        let outcome = work.await;
        let ok = matches!(&outcome, Ok(Step::Moved(next)) if next.state == success);
        self.metrics.step(step, ok, started.elapsed());
        outcome
    }

    /// Persists a transition and announces it; if something else moved the
    /// order first, continues from where it is now.
    async fn go(&self, order: &Order, to: SagaState, change: Change) -> Result<Step, ServiceError> {
        self.halt_before_leaving(order.state, order.id).await;
        match self.store.transition(order, to, change).await? {
            Some(moved) => {
                tracing::info!(order_id = %moved.id, from = order.state.as_str(), to = to.as_str(), "order moved");
                // This call's conditional write moved it: counted once.
                self.metrics.moved(&moved);
                self.events.publish(&moved);
                Ok(Step::Moved(moved))
            }
            None => {
                let current = self
                    .store
                    .get(order.id)
                    .await?
                    .ok_or_else(|| ServiceError::internal("an order vanished"))?;
                Ok(Step::Moved(current))
            }
        }
    }

    /// Starts compensating: hand the stock back, then FAILED with `reason`.
    async fn fail(
        &self,
        order: &Order,
        kind: FailureKind,
        reason: &str,
    ) -> Result<Step, ServiceError> {
        self.go(order, SagaState::Releasing, Change::failure(kind, reason))
            .await
    }

    async fn reserve(
        &self,
        order: &Order,
        error: &mut Option<Status>,
    ) -> Result<Step, ServiceError> {
        let request = ReserveStockRequest {
            order_id: order.id.to_string(),
            items: order
                .items
                .iter()
                .map(|item| StockItem {
                    product_id: item.product_id.to_string(),
                    quantity: i32::try_from(item.quantity).unwrap_or(i32::MAX),
                })
                .collect(),
        };
        let reserved = self
            .try_call(
                (&self.product, &self.product_retries),
                request,
                |mut c, r| async move { c.reserve_stock(r).await },
            )
            .await;
        let reservation = match reserved {
            Ok(response) => response.reservation.unwrap_or_default(),
            // Refusals hold no stock (reservations are all-or-nothing).
            Err(Failed { status, .. }) if status.code() == Code::FailedPrecondition => {
                return self
                    .finish_failed(order, FailureKind::OutOfStock, status.message())
                    .await;
            }
            Err(Failed { status, .. })
                if matches!(status.code(), Code::NotFound | Code::InvalidArgument) =>
            {
                let step = self
                    .finish_failed(order, FailureKind::Invalid, status.message())
                    .await?;
                *error = Some(status);
                return Ok(step);
            }
            Err(Failed {
                never_sent: true, ..
            }) => {
                let step = self
                    .finish_failed(
                        order,
                        FailureKind::ProductUnavailable,
                        "the product service is unavailable",
                    )
                    .await?;
                *error = Some(Status::unavailable(
                    "the product service is unavailable; retry later",
                ));
                return Ok(step);
            }
            Err(Failed { status, .. }) => {
                // The reservation may or may not exist: release it to be sure.
                tracing::warn!(order_id = %order.id, %status, "stock reservation outcome unknown");
                *error = Some(Status::unavailable(
                    "the product service did not answer; retry later",
                ));
                return self
                    .fail(
                        order,
                        FailureKind::ProductUnavailable,
                        "the product service did not answer",
                    )
                    .await;
            }
        };
        match price(order, &reservation) {
            Ok(priced) => {
                let change = Change {
                    priced: Some(priced),
                    ..Change::default()
                };
                self.go(order, SagaState::Charging, change).await
            }
            Err(reason) => self.fail(order, FailureKind::Invalid, &reason).await,
        }
    }

    /// FAILED directly: nothing is held and nothing was charged.
    async fn finish_failed(
        &self,
        order: &Order,
        kind: FailureKind,
        reason: &str,
    ) -> Result<Step, ServiceError> {
        self.go(order, SagaState::Failed, Change::failure(kind, reason))
            .await
    }

    async fn charge(
        &self,
        order: &Order,
        card: Option<&Card>,
        error: &mut Option<Status>,
    ) -> Result<Step, ServiceError> {
        let Some(card) = card else {
            // Recovery: the charge may have happened before the crash.
            return self.settle_charge_by_lookup(order, None).await;
        };
        let Some(total) = order.total else {
            return Err(ServiceError::internal("a priced order has no total"));
        };
        let request = ChargeRequest {
            idempotency_key: order.id.to_string(),
            order_id: order.id.to_string(),
            amount: Some(total.to_wire()),
            card: Some(card.clone()),
        };
        let charged = self
            .try_call(
                (&self.payment, &self.payment_retries),
                request,
                |mut c, r| async move { c.charge(r).await },
            )
            .await;
        match charged {
            Ok(response) => {
                let payment_id = match response.payment {
                    Some(payment) => Some(payment_id(&payment.id)?),
                    None => None,
                };
                self.paid(order, payment_id).await
            }
            Err(Failed { status, .. }) if status.code() == Code::FailedPrecondition => {
                self.fail(order, charge_refusal(&status), status.message())
                    .await
            }
            Err(Failed { status, .. }) if status.code() == Code::InvalidArgument => {
                let step = self
                    .fail(
                        order,
                        FailureKind::Invalid,
                        "the card was refused as invalid",
                    )
                    .await?;
                *error = Some(status);
                Ok(step)
            }
            Err(Failed {
                never_sent: true, ..
            }) => {
                *error = Some(Status::unavailable(
                    "the payment service is unavailable; nothing was charged, retry later",
                ));
                self.fail(
                    order,
                    FailureKind::PaymentUnavailable,
                    "the payment service is unavailable",
                )
                .await
            }
            Err(Failed { status, .. }) => {
                tracing::warn!(order_id = %order.id, %status, "charge failed; checking whether it happened");
                let step = self.settle_charge_by_lookup(order, Some(&status)).await?;
                if let Step::Moved(moved) = &step
                    && moved.state == SagaState::Releasing
                {
                    *error = Some(Status::unavailable(
                        "the payment service is unavailable; nothing was charged, retry later",
                    ));
                }
                Ok(step)
            }
        }
    }

    /// Learns from payment whether the order's charge happened, and moves on
    /// accordingly. Blocks if payment cannot say yet.
    async fn settle_charge_by_lookup(
        &self,
        order: &Order,
        charge_error: Option<&Status>,
    ) -> Result<Step, ServiceError> {
        let found = self.lookup_payment(order).await;
        match found {
            Ok(response) => {
                let payment = response.payment.unwrap_or_default();
                match payment.status() {
                    PaymentStatus::Succeeded
                    | PaymentStatus::PartiallyRefunded
                    | PaymentStatus::Refunded => {
                        self.paid(order, Some(payment_id(&payment.id)?)).await
                    }
                    PaymentStatus::Declined => {
                        let reason = format!(
                            "card declined: {}",
                            payment.decline_reason.to_lowercase().replace('_', " ")
                        );
                        self.fail(order, FailureKind::PaymentDeclined, &reason)
                            .await
                    }
                    PaymentStatus::Pending | PaymentStatus::Unspecified => {
                        Ok(Step::Blocked(order.clone()))
                    }
                }
            }
            Err(status) if status.code() == Code::NotFound => {
                let (kind, reason) = match charge_error {
                    Some(_) => (
                        FailureKind::PaymentUnavailable,
                        "the payment service is unavailable",
                    ),
                    None => (
                        FailureKind::Interrupted,
                        "checkout was interrupted before payment",
                    ),
                };
                self.fail(order, kind, reason).await
            }
            Err(status) => {
                tracing::warn!(order_id = %order.id, %status, "cannot learn the charge's outcome yet");
                Ok(Step::Blocked(order.clone()))
            }
        }
    }

    async fn paid(
        &self,
        order: &Order,
        payment_id: Option<PaymentId>,
    ) -> Result<Step, ServiceError> {
        let change = Change {
            payment_id,
            ..Change::default()
        };
        self.go(order, SagaState::Committing, change).await
    }

    async fn commit(&self, order: &Order) -> Result<Step, ServiceError> {
        let request = CommitReservationRequest {
            order_id: order.id.to_string(),
        };
        let committed = self
            .call(
                (&self.product, &self.product_retries),
                request,
                |mut c, r| async move { c.commit_reservation(r).await },
            )
            .await;
        match committed {
            Ok(_) => {
                self.go(order, SagaState::Confirmed, Change::default())
                    .await
            }
            // The reservation lapsed while the card was charged: the stock
            // cannot be sold, so the money goes back.
            Err(status) if matches!(status.code(), Code::FailedPrecondition | Code::NotFound) => {
                let reason = format!("the stock could not be kept: {}", status.message());
                let change = Change::failure(FailureKind::ReservationExpired, &reason);
                self.go(order, SagaState::Refunding, change).await
            }
            Err(status) => {
                tracing::warn!(order_id = %order.id, %status, "commit failed; will retry");
                Ok(Step::Blocked(order.clone()))
            }
        }
    }

    /// Hands the stock back, then moves to `then`.
    async fn release(&self, order: &Order, then: SagaState) -> Result<Step, ServiceError> {
        let request = ReleaseReservationRequest {
            order_id: order.id.to_string(),
        };
        let released = self
            .call(
                (&self.product, &self.product_retries),
                request,
                |mut c, r| async move { c.release_reservation(r).await },
            )
            .await;
        match released {
            // NOT_FOUND: no reservation was ever made; nothing to hand back.
            Ok(_) => self.go(order, then, Change::default()).await,
            Err(status) if status.code() == Code::NotFound => {
                self.go(order, then, Change::default()).await
            }
            Err(status) => {
                tracing::warn!(order_id = %order.id, %status, "release failed; will retry");
                Ok(Step::Blocked(order.clone()))
            }
        }
    }

    /// Gives the whole payment back under a key derived from the order, then
    /// moves to `then`.
    async fn refund(
        &self,
        order: &Order,
        purpose: &str,
        then: SagaState,
    ) -> Result<Step, ServiceError> {
        match self.refund_payment(order, purpose).await {
            Ok(()) => self.go(order, then, Change::default()).await,
            Err(status) => {
                tracing::warn!(order_id = %order.id, %status, "refund failed; will retry");
                Ok(Step::Blocked(order.clone()))
            }
        }
    }

    /// Refund, then restock, then CANCELLED. Each half is idempotent, so a
    /// retry after a crash between them is safe.
    async fn cancel(&self, order: &Order) -> Result<Step, ServiceError> {
        let started = Instant::now();
        let refunded = self.refund_payment(order, "cancel").await;
        self.metrics
            .step(SagaStep::Refund, refunded.is_ok(), started.elapsed());
        if let Err(status) = refunded {
            tracing::warn!(order_id = %order.id, %status, "cancellation refund failed; will retry");
            return Ok(Step::Blocked(order.clone()));
        }
        let release = self.release(order, SagaState::Cancelled);
        self.timed(SagaStep::Release, SagaState::Cancelled, release)
            .await
    }

    /// Refunds whatever is left of the order's payment (if it has one), once
    /// per `purpose`.
    async fn refund_payment(&self, order: &Order, purpose: &str) -> Result<(), Status> {
        let Some(payment_id) = order.payment_id else {
            return Ok(());
        };
        let request = RefundRequest {
            payment_id: payment_id.to_string(),
            amount: None,
            idempotency_key: format!("{purpose}-{}", order.id),
            reason: order.failure_reason.clone().unwrap_or_default(),
        };
        match self
            .call(
                (&self.payment, &self.payment_retries),
                request,
                |mut c, r| async move { c.refund(r).await },
            )
            .await
        {
            Ok(_) => Ok(()),
            // A refund made by other means (support, a chargeback) can
            // leave nothing to give back; the target state is reached, so
            // the saga moves on instead of blocking for good.
            Err(status) if status.code() == Code::FailedPrecondition => {
                if self.fully_refunded(order).await? {
                    tracing::info!(order_id = %order.id, "the payment was already fully refunded");
                    Ok(())
                } else {
                    Err(status)
                }
            }
            Err(status) => Err(status),
        }
    }

    /// What payment recorded for the order's charge (its key is the order id).
    async fn lookup_payment(
        &self,
        order: &Order,
    ) -> Result<bazaar_proto::payment::v1::LookupPaymentResponse, Status> {
        let request = LookupPaymentRequest {
            idempotency_key: order.id.to_string(),
        };
        self.call(
            (&self.payment, &self.payment_retries),
            request,
            |mut c, r| async move { c.lookup_payment(r).await },
        )
        .await
    }

    /// Whether payment holds nothing more to give back for the order.
    async fn fully_refunded(&self, order: &Order) -> Result<bool, Status> {
        let found = self.lookup_payment(order).await?;
        let Some(payment) = found.payment else {
            return Ok(false);
        };
        let minor = |money: Option<&bazaar_proto::common::v1::Money>| {
            money.map_or(0, |money| money.amount_minor)
        };
        Ok(payment.status() == PaymentStatus::Refunded
            || (minor(payment.amount.as_ref()) > 0
                && minor(payment.refunded_amount.as_ref()) >= minor(payment.amount.as_ref())))
    }

    /// One call to a dependency, retried within its budget. Every call the
    /// saga makes is idempotent (keyed by the order id), so retrying is safe.
    async fn call<C, Req, Resp, F, Fut>(
        &self,
        dependency: (&C, &Retrier),
        request: Req,
        rpc: F,
    ) -> Result<Resp, Status>
    where
        C: Clone,
        Req: Clone,
        F: Fn(C, Req) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<Resp>, Status>>,
    {
        self.try_call(dependency, request, rpc)
            .await
            .map_err(|failed| failed.status)
    }

    /// [`Self::call`], also telling whether no try can have reached the
    /// callee: only then did the call certainly have no effect there.
    async fn try_call<C, Req, Resp, F, Fut>(
        &self,
        (client, retrier): (&C, &Retrier),
        request: Req,
        rpc: F,
    ) -> Result<Resp, Failed>
    where
        C: Clone,
        Req: Clone,
        F: Fn(C, Req) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<Resp>, Status>>,
    {
        // The last try's status alone would hide an earlier try that got
        // through before the breaker opened or the connection went away.
        let maybe_sent = AtomicBool::new(false);
        let outcome = retrier
            .call(|| {
                let attempt = rpc(client.clone(), request.clone());
                let maybe_sent = &maybe_sent;
                async move {
                    let outcome = attempt.await;
                    if !matches!(&outcome, Err(status) if never_delivered(status)) {
                        maybe_sent.store(true, Ordering::Relaxed);
                    }
                    outcome
                }
            })
            .await;
        outcome
            .map(tonic::Response::into_inner)
            .map_err(|status| Failed {
                never_sent: !maybe_sent.load(Ordering::Relaxed),
                status,
            })
    }
}

/// Records on the saga's span how the drive ended: the state reached and,
/// for a failed order, the kind of failure and, as the span's error, its
/// reason.
fn record_outcome(span: &Span, driven: &Result<Driven, ServiceError>) {
    match driven {
        Ok(Driven { order, .. }) => {
            span.record("order.state", order.state.as_str());
            if order.state == SagaState::Failed {
                let kind = order.failure_kind.unwrap_or(FailureKind::Other);
                span.record("order.failure_reason", kind.as_str());
                // The code first: a description alone sets the status too.
                span.record("otel.status_code", "ERROR");
                span.record(
                    "otel.status_description",
                    order.failure_reason.as_deref().unwrap_or(kind.as_str()),
                );
            }
        }
        Err(error) => {
            span.record("otel.status_code", "ERROR");
            span.record("otel.status_description", error.to_string().as_str());
        }
    }
}

/// The kind of a charge payment refused with FAILED_PRECONDITION: a decline
/// (`card declined: ...`, see payment's `settled`), or something else, such
/// as a key voided before the processor took it.
fn charge_refusal(status: &Status) -> FailureKind {
    if status.message().starts_with("card declined") {
        FailureKind::PaymentDeclined
    } else {
        FailureKind::Other
    }
}

/// A failed call to a dependency.
struct Failed {
    /// The last try's.
    status: Status,
    /// No try can have reached the callee.
    never_sent: bool,
}

/// The id payment gave a charge: always one of its UUIDs, so anything else
/// is a fault to report rather than an id to keep.
fn payment_id(raw: &str) -> Result<PaymentId, ServiceError> {
    PaymentId::parse(raw).map_err(|e| {
        ServiceError::internal(format!("the payment service sent a payment id that {e}"))
    })
}

/// Each line's name and price from the reservation, and the order's total.
fn price(
    order: &Order,
    reservation: &bazaar_proto::product::v1::Reservation,
) -> Result<(Vec<(String, Money)>, Money), String> {
    let mut lines = Vec::with_capacity(order.items.len());
    let mut total: Option<Money> = None;
    for item in &order.items {
        let reserved = reservation
            .items
            .iter()
            .find(|r| ProductId::parse(&r.product_id) == Ok(item.product_id))
            .ok_or_else(|| format!("product {} was not reserved", item.product_id))?;
        let unit = Money::from_wire(reserved.unit_price.as_ref())
            .map_err(|e| format!("product {} has no usable price: {e}", item.product_id))?;
        let line = unit
            .times(item.quantity)
            .map_err(|e| format!("line total of {}: {e}", item.product_id))?;
        total = Some(match total {
            None => line,
            Some(sum) => sum
                .checked_add(line)
                .map_err(|e| format!("the products cannot be bought together: {e}"))?,
        });
        lines.push((reserved.product_name.clone(), unit));
    }
    let total = total.ok_or("an order needs at least one line")?;
    Ok((lines, total))
}
