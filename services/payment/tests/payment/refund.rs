use bazaar_proto::payment::v1::{LookupPaymentRequest, PaymentStatus, RefundRequest};
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::{Service, backends, charge, eur, test_cards};

fn refund(payment_id: &str, key: &str, minor: Option<i64>) -> RefundRequest {
    RefundRequest {
        payment_id: payment_id.into(),
        amount: minor.and_then(eur),
        idempotency_key: key.into(),
        reason: "customer asked".into(),
    }
}

#[tokio::test]
async fn partial_then_full_refunds_add_up_and_repeat_safely() {
    for backend in backends() {
        let service = Service::start(backend).await;
        let mut client = service.client().await;
        let payment = client
            .charge(charge("k", 1_000, test_cards::APPROVED))
            .await
            .unwrap()
            .into_inner()
            .payment
            .unwrap();

        let first = client
            .refund(refund(&payment.id, "r1", Some(300)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            first.payment.as_ref().unwrap().status(),
            PaymentStatus::PartiallyRefunded
        );
        // The same key again: the same refund, no more money back.
        let again = client
            .refund(refund(&payment.id, "r1", Some(300)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(again.refund.unwrap().id, first.refund.unwrap().id);
        assert_eq!(
            again.payment.unwrap().refunded_amount.unwrap().amount_minor,
            300
        );

        // No amount: whatever is left.
        let rest = client
            .refund(refund(&payment.id, "r2", None))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(rest.refund.unwrap().amount.unwrap().amount_minor, 700);
        let payment = rest.payment.unwrap();
        assert_eq!(payment.status(), PaymentStatus::Refunded, "{backend:?}");
        assert_eq!(payment.refunds.len(), 2);

        let more = client
            .refund(refund(&payment.id, "r3", Some(1)))
            .await
            .unwrap_err();
        assert_eq!(more.code(), Code::FailedPrecondition);
        assert_eq!(
            more.get_details_error_info().unwrap().reason,
            "EXCEEDS_REFUNDABLE"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refunds_never_return_more_than_was_taken() {
    for backend in backends() {
        let service = Service::start(backend).await;
        let mut client = service.client().await;
        let payment = client
            .charge(charge("k", 1_000, test_cards::APPROVED))
            .await
            .unwrap()
            .into_inner()
            .payment
            .unwrap();
        let calls: Vec<_> = (0..10)
            .map(|i| {
                let mut client = client.clone();
                let request = refund(&payment.id, &format!("r{i}"), Some(300));
                tokio::spawn(async move { client.refund(request).await })
            })
            .collect();
        let mut succeeded = 0;
        for call in calls {
            match call.await.unwrap() {
                Ok(_) => succeeded += 1,
                Err(status) => assert!(
                    matches!(status.code(), Code::FailedPrecondition | Code::Aborted),
                    "{backend:?}: {status:?}"
                ),
            }
        }
        assert_eq!(
            succeeded, 3,
            "{backend:?}: 3 × 300 fit in 1000, a 4th does not"
        );
    }
}

#[tokio::test]
async fn declined_payments_and_other_currencies_cannot_be_refunded() {
    for backend in backends() {
        let service = Service::start(backend).await;
        let mut client = service.client().await;
        client
            .charge(charge("d", 1_000, test_cards::DECLINED))
            .await
            .unwrap_err();
        let declined = client
            .lookup_payment(bazaar_proto::payment::v1::LookupPaymentRequest {
                idempotency_key: "d".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .payment
            .unwrap();
        let status = client
            .refund(refund(&declined.id, "r", None))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "{backend:?}");
        assert_eq!(
            status.get_details_error_info().unwrap().reason,
            "NOT_REFUNDABLE"
        );

        let paid = client
            .charge(charge("p", 1_000, test_cards::APPROVED))
            .await
            .unwrap()
            .into_inner()
            .payment
            .unwrap();
        let mut in_dollars = refund(&paid.id, "r", Some(100));
        in_dollars.amount.as_mut().unwrap().currency_code = "USD".into();
        let status = client.refund(in_dollars).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);

        let unknown = refund("00000000-0000-4000-8000-000000000000", "r", None);
        assert_eq!(
            client.refund(unknown).await.unwrap_err().code(),
            Code::NotFound
        );
    }
}

/// The contract the order service converges on: a full refund (no amount)
/// of a payment already refunded in full, under a new key, is
/// FAILED_PRECONDITION `NOTHING_TO_REFUND`, and the payment reads REFUNDED.
#[tokio::test]
async fn a_full_refund_of_a_fully_refunded_payment_is_nothing_to_refund() {
    for backend in backends() {
        let service = Service::start(backend).await;
        let mut client = service.client().await;
        let payment = client
            .charge(charge("done", 1_000, test_cards::APPROVED))
            .await
            .unwrap()
            .into_inner()
            .payment
            .unwrap();
        client
            .refund(refund(&payment.id, "by-hand", None))
            .await
            .unwrap();
        let status = client
            .refund(refund(&payment.id, "saga-cancel", None))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "{backend:?}");
        assert_eq!(
            status.get_details_error_info().unwrap().reason,
            "NOTHING_TO_REFUND"
        );
        let looked_up = client
            .lookup_payment(LookupPaymentRequest {
                idempotency_key: "done".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .payment
            .unwrap();
        assert_eq!(looked_up.status(), PaymentStatus::Refunded);
    }
}
