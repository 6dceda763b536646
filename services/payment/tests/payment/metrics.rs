//! `bazaar_payments_total` on the admin port: each outcome counted once,
//! however often a key is replayed.

use bazaar_proto::payment::v1::RefundRequest;
use bazaar_runtime::testing::{sample, scrape};
use tonic::Code;

use crate::support::{Service, backends, charge, test_cards};

#[tokio::test]
async fn captures_declines_failures_and_refunds_are_counted_once_each() {
    for backend in backends() {
        let service = Service::start(backend).await;
        let mut client = service.client().await;
        let mut payment = None;
        // The replay answers from the record and counts nothing.
        for _ in 0..2 {
            payment = client
                .charge(charge("ok", 1_000, test_cards::APPROVED))
                .await
                .unwrap()
                .into_inner()
                .payment;
        }
        for _ in 0..2 {
            let declined = client
                .charge(charge("no", 1_000, test_cards::DECLINED))
                .await
                .unwrap_err();
            assert_eq!(declined.code(), Code::FailedPrecondition, "{backend:?}");
        }
        let failed = client
            .charge(charge("down", 1_000, test_cards::PROCESSOR_ERROR))
            .await
            .unwrap_err();
        assert_eq!(failed.code(), Code::Unavailable, "{backend:?}");
        let refund = RefundRequest {
            payment_id: payment.unwrap().id,
            amount: None,
            idempotency_key: "r".into(),
            reason: String::new(),
        };
        for _ in 0..2 {
            client.refund(refund.clone()).await.unwrap();
        }

        let text = scrape(service.admin).await;
        let payments = |outcome: &str| {
            sample(
                &text,
                &format!("bazaar_payments_total{{outcome=\"{outcome}\"}}"),
            )
        };
        assert_eq!(payments("captured"), Some(1.0), "{backend:?}");
        assert_eq!(payments("declined"), Some(1.0), "{backend:?}");
        assert_eq!(payments("failed"), Some(1.0), "{backend:?}");
        assert_eq!(payments("refunded"), Some(1.0), "{backend:?}");
    }
}
