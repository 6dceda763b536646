//! The gRPC face of the payment service: parse, act, map errors.

use std::sync::Arc;

use bazaar_proto::payment::v1::{
    ChargeRequest, ChargeResponse, GetPaymentRequest, GetPaymentResponse, LookupPaymentRequest,
    LookupPaymentResponse, RefundRequest, RefundResponse, payment_service_server::PaymentService,
};
use bazaar_runtime::{auth::principal, status::ServiceError};
use tonic::{Request, Response, Status};

use crate::{
    domain::{
        ChargeCommand, IdempotencyKey, Payment, PaymentId, PaymentStatus, RefundCommand,
        current_month,
    },
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
            self.store.abandon_charge(&pending.id).await?;
            return Err(ServiceError::Unavailable(
                "the card processor is unavailable; nothing was charged, retry later".into(),
            ));
        }
        let payment = self.store.finish_charge(&pending.id, &outcome).await?;
        settled(payment)
    }
}

/// A recorded charge as the caller sees it: a decline is an error.
fn settled(payment: Payment) -> Result<Payment, ServiceError> {
    match payment.status {
        PaymentStatus::Succeeded => Ok(payment),
        PaymentStatus::Declined => Err(ServiceError::failed_precondition(
            payment.decline_reason.clone(),
            format!(
                "card declined: {}",
                payment.decline_reason.to_lowercase().replace('_', " ")
            ),
        )),
        PaymentStatus::Pending => Err(ServiceError::internal("a settled payment is pending")),
    }
}

#[tonic::async_trait]
impl<S: PaymentStore> PaymentService for PaymentApi<S> {
    async fn charge(
        &self,
        request: Request<ChargeRequest>,
    ) -> Result<Response<ChargeResponse>, Status> {
        let command = ChargeCommand::parse(request.get_ref(), current_month())
            .map_err(ServiceError::InvalidArgument)?;
        let payment = self.charge_once(&command).await?;
        tracing::info!(
            payment_id = %payment.id,
            order_id = %payment.order_id,
            amount = %payment.amount,
            "charged"
        );
        Ok(Response::new(ChargeResponse {
            payment: Some(payment.to_proto()),
        }))
    }

    async fn refund(
        &self,
        request: Request<RefundRequest>,
    ) -> Result<Response<RefundResponse>, Status> {
        let command =
            RefundCommand::parse(request.get_ref()).map_err(ServiceError::InvalidArgument)?;
        let (payment, refund) = self.store.refund(&command).await?;
        tracing::info!(payment_id = %payment.id, amount = %refund.amount, "refunded");
        Ok(Response::new(RefundResponse {
            payment: Some(payment.to_proto()),
            refund: Some(refund.to_proto()),
        }))
    }

    async fn get_payment(
        &self,
        request: Request<GetPaymentRequest>,
    ) -> Result<Response<GetPaymentResponse>, Status> {
        principal(&request)?.require_admin()?;
        let id = PaymentId::parse(&request.get_ref().payment_id)
            .map_err(|e| ServiceError::invalid("payment_id", e))?;
        let payment = self
            .store
            .get(&id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("payment {}", id.as_string())))?;
        Ok(Response::new(GetPaymentResponse {
            payment: Some(payment.to_proto()),
        }))
    }

    async fn lookup_payment(
        &self,
        request: Request<LookupPaymentRequest>,
    ) -> Result<Response<LookupPaymentResponse>, Status> {
        let key = IdempotencyKey::parse(&request.get_ref().idempotency_key)
            .map_err(|e| ServiceError::invalid("idempotency_key", e))?;
        let payment = self
            .store
            .lookup(&key)
            .await?
            .ok_or_else(|| ServiceError::NotFound("payment for this idempotency key".into()))?;
        Ok(Response::new(LookupPaymentResponse {
            payment: Some(payment.to_proto()),
        }))
    }
}
