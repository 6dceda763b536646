//! `bazaar.payment.v1.PaymentService` over a [`PaymentStore`] and the
//! simulated processor.
//!
//! Each handler parses the request into a domain command (`parse`), acts,
//! and converts the result back (`convert`). Every error is a
//! `ServiceError`, turned into a status by the runtime's one mapping.

mod convert;
mod parse;

use std::sync::Arc;

use bazaar_proto::payment::v1::{
    ChargeRequest, ChargeResponse, GetPaymentRequest, GetPaymentResponse, LookupPaymentRequest,
    LookupPaymentResponse, RefundRequest, RefundResponse, payment_service_server::PaymentService,
};
use bazaar_runtime::{auth::principal, status::ServiceError};
use tonic::{Request, Response, Status};

use crate::{
    domain::{ChargeCommand, Payment, PaymentStatus, YearMonth},
    processor::{Outcome, SimulatedProcessor},
    store::{Claim, PaymentStore},
};

pub struct PaymentApi<S> {
    store: Arc<S>,
    processor: SimulatedProcessor,
}

impl<S: PaymentStore> PaymentApi<S> {
    pub fn new(store: Arc<S>, processor: SimulatedProcessor) -> Self {
        Self { store, processor }
    }

    /// Charges at most once per idempotency key.
    async fn charge_once(&self, command: &ChargeCommand) -> Result<Payment, ServiceError> {
        let pending = match self.store.claim_charge(command).await? {
            Claim::Existing(payment) if !payment.matches(command) => {
                return Err(ServiceError::failed_precondition(
                    "IDEMPOTENCY_KEY_REUSED",
                    "this idempotency key was used for a different charge",
                ));
            }
            Claim::Existing(payment) if payment.status != PaymentStatus::Pending => {
                return settled(payment);
            }
            // A pending payment found under the key is a charge whose answer
            // was never recorded (a concurrent call, or a crash): asking the
            // processor again is safe, it answers the same for the same key.
            Claim::New(payment) | Claim::Existing(payment) => payment,
        };
        let outcome = self.processor.charge(&command.card).await;
        if outcome == Outcome::Unavailable {
            self.store.abandon_charge(pending.id).await?;
            return Err(ServiceError::Unavailable(
                "the card processor is unavailable; nothing was charged, retry later".into(),
            ));
        }
        let payment = self.store.finish_charge(pending.id, &outcome).await?;
        settled(payment)
    }
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
        let (payment, refund) = self.store.refund(&command).await?;
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
        let payment = self
            .store
            .lookup(&key)
            .await?
            .ok_or_else(|| ServiceError::NotFound("payment for this idempotency key".into()))?;
        Ok(Response::new(LookupPaymentResponse {
            payment: Some(payment.into()),
        }))
    }
}
