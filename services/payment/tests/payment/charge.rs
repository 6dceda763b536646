use bazaar_proto::payment::v1::{
    ChargeRequest, GetPaymentRequest, LookupPaymentRequest, PaymentStatus,
};
use bazaar_runtime::auth::Role;
use sqlx::Row;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::{Service, authorized, backends, charge, test_cards};

#[tokio::test]
async fn an_approved_charge_is_recorded_with_only_the_last_four_digits() {
    for backend in backends() {
        let service = Service::start(backend).await;
        let mut client = service.client().await;
        let payment = client
            .charge(charge("k1", 2_500, "4242 4242 4242 4242"))
            .await
            .unwrap()
            .into_inner()
            .payment
            .unwrap();
        assert_eq!(payment.status(), PaymentStatus::Succeeded, "{backend:?}");
        assert_eq!(payment.card_last4, "4242");
        assert_eq!(payment.card_brand, "visa");
        assert_eq!(payment.amount.unwrap().amount_minor, 2_500);

        // Nothing in the database holds the card number or the CVC.
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&service.database.config.url)
            .await
            .unwrap();
        let rows = sqlx::query("SELECT * FROM payments")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        for i in 0..rows[0].columns().len() {
            if let Ok(text) = rows[0].try_get::<String, _>(i) {
                assert!(
                    !text.contains("42424242"),
                    "{backend:?}: column {i} holds the number"
                );
                assert_ne!(text, "123", "{backend:?}: column {i} holds the CVC");
            }
        }
        pool.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_key_charges_once_even_when_sent_concurrently() {
    for backend in backends() {
        let service = Service::start(backend).await;
        let calls: Vec<_> = (0..20)
            .map(|_| {
                // A connection each, as separate order replicas would have.
                let mut client = service.client_as("order");
                tokio::spawn(async move {
                    client
                        .charge(charge("same", 1_000, test_cards::APPROVED))
                        .await
                        .map(|r| r.into_inner().payment.unwrap().id)
                })
            })
            .collect();
        let mut ids = Vec::new();
        for call in calls {
            ids.push(call.await.unwrap().unwrap());
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "{backend:?}: one payment for one key");

        let mut client = service.client().await;
        let other = client
            .charge(charge("other", 1_000, test_cards::APPROVED))
            .await
            .unwrap()
            .into_inner()
            .payment
            .unwrap();
        assert_ne!(other.id, ids[0], "a different key is a different charge");
    }
}

#[tokio::test]
async fn reusing_a_key_for_a_different_charge_is_refused() {
    for backend in backends() {
        let service = Service::start(backend).await;
        let mut client = service.client().await;
        client
            .charge(charge("k", 1_000, test_cards::APPROVED))
            .await
            .unwrap();
        let status = client
            .charge(charge("k", 9_999, test_cards::APPROVED))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "{backend:?}");
        assert_eq!(
            status.get_details_error_info().unwrap().reason,
            "IDEMPOTENCY_KEY_REUSED"
        );
    }
}

#[tokio::test]
async fn a_decline_is_failed_precondition_with_its_reason_and_repeats_the_same() {
    for backend in backends() {
        let service = Service::start(backend).await;
        let mut client = service.client().await;
        for _ in 0..2 {
            let status = client
                .charge(charge("poor", 1_000, test_cards::INSUFFICIENT_FUNDS))
                .await
                .unwrap_err();
            assert_eq!(status.code(), Code::FailedPrecondition, "{backend:?}");
            assert_eq!(
                status.get_details_error_info().unwrap().reason,
                "INSUFFICIENT_FUNDS"
            );
            assert!(
                status.message().contains("insufficient funds"),
                "{}",
                status.message()
            );
        }
        let recorded = client
            .lookup_payment(LookupPaymentRequest {
                idempotency_key: "poor".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .payment
            .unwrap();
        assert_eq!(recorded.status(), PaymentStatus::Declined);
        assert_eq!(recorded.decline_reason, "INSUFFICIENT_FUNDS");
    }
}

#[tokio::test]
async fn a_processor_error_is_unavailable_and_leaves_no_charge() {
    for backend in backends() {
        let service = Service::start(backend).await;
        let mut client = service.client().await;
        let status = client
            .charge(charge("flaky", 1_000, test_cards::PROCESSOR_ERROR))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{backend:?}");
        let lookup = client
            .lookup_payment(LookupPaymentRequest {
                idempotency_key: "flaky".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(
            lookup.code(),
            Code::NotFound,
            "nothing is recorded under the key"
        );
    }
}

#[tokio::test]
async fn a_charge_cut_off_mid_way_is_pending_and_a_retry_finishes_it() {
    for backend in backends() {
        let service = Service::start(backend).await;
        let mut client = service.client().await;
        // The slow card answers after 1.5 s; the caller gives up after 0.3 s,
        // leaving room for the pending charge to be recorded on a busy machine.
        let mut impatient = tonic::Request::new(charge("slow", 1_000, test_cards::SLOW));
        impatient.set_timeout(std::time::Duration::from_millis(300));
        let status = client.charge(impatient).await.unwrap_err();
        // tonic reports an expired client deadline as CANCELLED.
        assert!(
            matches!(status.code(), Code::Cancelled | Code::DeadlineExceeded),
            "{backend:?}: {status:?}"
        );

        let lookup = LookupPaymentRequest {
            idempotency_key: "slow".into(),
        };
        let pending = client
            .lookup_payment(lookup.clone())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(pending.payment.unwrap().status(), PaymentStatus::Pending);

        let finished = client
            .charge(charge("slow", 1_000, test_cards::SLOW))
            .await
            .unwrap()
            .into_inner()
            .payment
            .unwrap();
        assert_eq!(finished.status(), PaymentStatus::Succeeded);
        let after = client.lookup_payment(lookup).await.unwrap().into_inner();
        assert_eq!(after.payment.unwrap().id, finished.id, "still one payment");
    }
}

#[tokio::test]
async fn invalid_charges_name_every_bad_field() {
    let service = Service::start(bazaar_runtime::db::Backend::Sqlite).await;
    let mut client = service.client().await;
    let mut request = charge("", 0, "1234");
    request.amount.as_mut().unwrap().currency_code = "XXX".into();
    let status = client.charge(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<_> = status
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(
        fields,
        ["idempotency_key", "amount.currency_code", "card.number"]
    );

    let status = client.charge(ChargeRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = client
        .charge(charge("zero", 0, test_cards::APPROVED))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("amount.amount_minor"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn get_payment_is_for_admins_only() {
    let service = Service::start(bazaar_runtime::db::Backend::Sqlite).await;
    let payment = service
        .client()
        .await
        .charge(charge("k", 1_000, test_cards::APPROVED))
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    // GetPayment is the edge's (the REST gateway's) to call.
    let mut client = service.client_as("gateway");
    let get = || GetPaymentRequest {
        payment_id: payment.id.clone(),
    };
    assert_eq!(
        client.get_payment(get()).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let customer = authorized(get(), &service.token(Role::Customer));
    assert_eq!(
        client.get_payment(customer).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let admin = authorized(get(), &service.token(Role::Admin));
    let fetched = client
        .get_payment(admin)
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(fetched, payment);

    let missing = authorized(
        GetPaymentRequest {
            payment_id: uuid_like(),
        },
        &service.token(Role::Admin),
    );
    assert_eq!(
        client.get_payment(missing).await.unwrap_err().code(),
        Code::NotFound
    );
}

fn uuid_like() -> String {
    "00000000-0000-4000-8000-000000000000".into()
}
