//! `bazaar.payment.v1.PaymentService` over a [`PaymentStore`] and the
//! simulated processor.
//!
//! Each handler parses the request into a domain command (`parse`), acts,
//! and converts the result back (`convert`). Every error is a
//! `ServiceError`, turned into a status by the runtime's one mapping.

mod convert;
mod parse;

#[cfg(test)]
mod contract;

use std::{sync::Arc, time::Duration};

use bazaar_proto::payment::v1::{
    ChargeRequest, ChargeResponse, GetPaymentRequest, GetPaymentResponse, LookupPaymentRequest,
    LookupPaymentResponse, RefundRequest, RefundResponse, payment_service_server::PaymentService,
};
use bazaar_runtime::{auth::principal, db::now_micros, status::ServiceError};
use tonic::{Request, Response, Status};

use crate::{
    domain::{ChargeCommand, FingerprintKey, Payment, PaymentStatus, YearMonth},
    metrics::{PaymentMetrics, PaymentOutcome},
    processor::{Outcome, Recorded, SimulatedProcessor, Submission},
    store::{Claim, PaymentStore, Written},
};

pub struct PaymentApi<S> {
    store: Arc<S>,
    processor: SimulatedProcessor,
    fingerprints: FingerprintKey,
    /// How long a pending charge the processor never saw is left to its
    /// caller before a lookup voids it.
    pending_grace: Duration,
    metrics: PaymentMetrics,
}

/// How often a charge retries claiming a key whose pending payment vanished
/// under it (forgotten by a caller whose charge failed).
const CLAIM_ATTEMPTS: usize = 3;

impl<S: PaymentStore> PaymentApi<S> {
    pub fn new(
        store: Arc<S>,
        processor: SimulatedProcessor,
        fingerprints: FingerprintKey,
        pending_grace: Duration,
        metrics: PaymentMetrics,
    ) -> Self {
        Self {
            store,
            processor,
            fingerprints,
            pending_grace,
            metrics,
        }
    }

    /// Counts a recorded charge answer, once: only the call that recorded it.
    fn count_charge(&self, finished: Written<Payment>) -> Payment {
        if finished.first
            && let Some(outcome) = PaymentOutcome::of_charge(finished.value.status)
        {
            self.metrics.count(outcome);
        }
        finished.value
    }

    /// Charges at most once per idempotency key.
    async fn charge_once(&self, command: &ChargeCommand) -> Result<Payment, ServiceError> {
        let fingerprint = command.card.fingerprint(&self.fingerprints);
        // This call's claim: only it may forget the pending payment, until
        // another caller takes it over.
        let token = uuid::Uuid::new_v4().to_string();
        let mut pending = None;
        for _ in 0..CLAIM_ATTEMPTS {
            match self
                .store
                .claim_charge(command, &fingerprint, &token)
                .await?
            {
                Claim::Existing(payment) if !payment.matches(command, &fingerprint) => {
                    return Err(ServiceError::failed_precondition(
                        "IDEMPOTENCY_KEY_REUSED",
                        "this idempotency key was used for a different charge",
                    ));
                }
                Claim::Existing(payment) if payment.status != PaymentStatus::Pending => {
                    return settled(payment);
                }
                // A pending payment under the key is a charge whose answer was
                // never recorded (a concurrent call, or one cut off). Taking
                // it over and submitting under the same key is safe: the
                // processor answers a key it saw with its first outcome and
                // never captures twice.
                Claim::Existing(payment) => {
                    if self.store.take_over(payment.id, &token).await? {
                        pending = Some(payment);
                        break;
                    }
                }
                Claim::New(payment) => {
                    pending = Some(payment);
                    break;
                }
            }
        }
        let pending = pending.ok_or_else(|| {
            ServiceError::Aborted("a charge under this key is being undone; retry".into())
        })?;
        let outcome = self
            .processor
            .charge(&Submission {
                key: &command.idempotency_key,
                card: &command.card,
                fingerprint: &fingerprint,
                amount: command.amount,
            })
            .await;
        match outcome {
            Outcome::Unavailable => {
                // Forgotten only if the processor holds nothing under the key;
                // otherwise (or if it cannot say) the pending payment stays
                // for a retry or a lookup to settle from its ledger.
                if self.processor.recorded(&command.idempotency_key).await? == Recorded::Nothing {
                    self.store.abandon_charge(pending.id, &token).await?;
                }
                self.metrics.count(PaymentOutcome::Failed);
                Err(ServiceError::Unavailable(
                    "the card processor is unavailable; nothing was charged, retry later".into(),
                ))
            }
            Outcome::Voided => {
                self.store.abandon_charge(pending.id, &token).await?;
                self.metrics.count(PaymentOutcome::Failed);
                Err(voided())
            }
            outcome => {
                let finished = self.store.finish_charge(pending.id, &outcome).await?;
                settled(self.count_charge(finished))
            }
        }
    }

    /// Settles a pending payment from the processor's ledger, without the
    /// card: how a charge that was cut off is finished by a lookup. `None`:
    /// nothing was charged and the payment is forgotten.
    async fn resolve(&self, payment: Payment) -> Result<Option<Payment>, ServiceError> {
        if payment.status != PaymentStatus::Pending {
            return Ok(Some(payment));
        }
        let recorded = match self.processor.recorded(&payment.idempotency_key).await? {
            Recorded::Nothing if self.is_stale(&payment) => {
                // The processor never saw it, and its caller has had time to
                // submit it: void the key at the processor first, so a caller
                // still about to submit gets "voided", never a capture the
                // payment no longer records.
                let token = uuid::Uuid::new_v4().to_string();
                if !self.store.take_over(payment.id, &token).await? {
                    return self.store.lookup(&payment.idempotency_key).await;
                }
                match self.processor.void(&payment.idempotency_key).await? {
                    Recorded::Settled(Outcome::Voided) => {
                        self.store.abandon_charge(payment.id, &token).await?;
                        tracing::info!(payment_id = %payment.id, "voided a charge the processor never saw");
                        return self.store.lookup(&payment.idempotency_key).await;
                    }
                    recorded => recorded,
                }
            }
            recorded => recorded,
        };
        match recorded {
            Recorded::Settled(Outcome::Voided) => {
                // Voided by an earlier lookup whose forgetting was cut off.
                let token = uuid::Uuid::new_v4().to_string();
                if self.store.take_over(payment.id, &token).await? {
                    self.store.abandon_charge(payment.id, &token).await?;
                }
                self.store.lookup(&payment.idempotency_key).await
            }
            Recorded::Settled(outcome) => {
                let finished = self.store.finish_charge(payment.id, &outcome).await?;
                let finished = self.count_charge(finished);
                tracing::info!(payment_id = %finished.id, status = finished.status.as_str(), "settled a pending charge from the processor's ledger");
                Ok(Some(finished))
            }
            Recorded::Nothing | Recorded::InFlight => Ok(Some(payment)),
        }
    }

    fn is_stale(&self, payment: &Payment) -> bool {
        let grace = i64::try_from(self.pending_grace.as_micros()).unwrap_or(i64::MAX);
        now_micros().saturating_sub(payment.updated_at) >= grace
    }
}

fn voided() -> ServiceError {
    ServiceError::failed_precondition(
        "CHARGE_VOIDED",
        "this charge was voided before the processor took it; nothing was charged",
    )
}

/// A recorded charge as the caller sees it: a decline is an error.
fn settled(payment: Payment) -> Result<Payment, ServiceError> {
    match (payment.status, payment.decline_reason.as_deref()) {
        (PaymentStatus::Succeeded, _) => Ok(payment),
        (PaymentStatus::Declined, Some(reason)) => Err(ServiceError::failed_precondition(
            reason,
            format!("card declined: {}", reason.to_lowercase().replace('_', " ")),
        )),
        (PaymentStatus::Declined, None) => Err(ServiceError::internal(
            "a declined payment has no decline reason",
        )),
        (PaymentStatus::Pending, _) => Err(ServiceError::internal("a settled payment is pending")),
    }
}

#[tonic::async_trait]
impl<S: PaymentStore> PaymentService for PaymentApi<S> {
    async fn charge(
        &self,
        request: Request<ChargeRequest>,
    ) -> Result<Response<ChargeResponse>, Status> {
        let command = parse::charge(request.into_inner(), YearMonth::current())?;
        let payment = self.charge_once(&command).await?;
        tracing::info!(
            payment_id = %payment.id,
            order_id = %payment.order_id,
            amount = %payment.amount,
            "charged"
        );
        Ok(Response::new(ChargeResponse {
            payment: Some(payment.into()),
        }))
    }

    async fn refund(
        &self,
        request: Request<RefundRequest>,
    ) -> Result<Response<RefundResponse>, Status> {
        let command = parse::refund(request.into_inner())?;
        let refunded = self.store.refund(&command).await?;
        if refunded.first {
            self.metrics.count(PaymentOutcome::Refunded);
        }
        let (payment, refund) = refunded.value;
        tracing::info!(payment_id = %payment.id, amount = %refund.amount, "refunded");
        Ok(Response::new(RefundResponse {
            payment: Some(payment.into()),
            refund: Some(refund.into()),
        }))
    }

    async fn get_payment(
        &self,
        request: Request<GetPaymentRequest>,
    ) -> Result<Response<GetPaymentResponse>, Status> {
        principal(&request)?.require_admin()?;
        let id = parse::payment_id(&request.get_ref().payment_id)?;
        let payment = self
            .store
            .get(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("payment {id}")))?;
        Ok(Response::new(GetPaymentResponse {
            payment: Some(payment.into()),
        }))
    }

    async fn lookup_payment(
        &self,
        request: Request<LookupPaymentRequest>,
    ) -> Result<Response<LookupPaymentResponse>, Status> {
        let key = parse::idempotency_key(&request.get_ref().idempotency_key)?;
        let found = match self.store.lookup(&key).await? {
            Some(payment) => self.resolve(payment).await?,
            None => None,
        };
        let payment = found
            .ok_or_else(|| ServiceError::NotFound("payment for this idempotency key".into()))?;
        Ok(Response::new(LookupPaymentResponse {
            payment: Some(payment.into()),
        }))
    }
}
