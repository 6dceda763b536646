//! Payment in the mesh: only a mesh certificate gets a connection, and only
//! the order service's identity may move money. Every refused call must leave
//! the payment exactly as it was.

use std::{sync::Arc, time::Duration};

use bazaar_mesh::{CertPaths, Credentials, Upstream, devcerts::DevCa};
use bazaar_proto::payment::v1::{
    GetPaymentRequest, LookupPaymentRequest, Payment, PaymentStatus, RefundRequest,
    payment_service_client::PaymentServiceClient,
};
use bazaar_runtime::{auth::Role, testing::mesh};
use tonic::{
    Code,
    transport::{Channel, Endpoint},
};

use crate::support::{Service, authorized, backends, charge, test_cards};

fn refund_all(payment_id: &str, key: &str) -> RefundRequest {
    RefundRequest {
        payment_id: payment_id.into(),
        amount: None,
        idempotency_key: key.into(),
        reason: "not the order service".into(),
    }
}

fn lookup(key: &str) -> LookupPaymentRequest {
    LookupPaymentRequest {
        idempotency_key: key.into(),
    }
}

/// Refund, LookupPayment and Charge with `client`, each expected to fail;
/// their statuses in that order.
macro_rules! money_calls {
    ($client:expr, $payment_id:expr) => {{
        let client = &mut $client;
        [
            client
                .refund(refund_all($payment_id, "intruder-refund"))
                .await
                .expect_err("Refund was served"),
            client
                .lookup_payment(lookup("paid"))
                .await
                .expect_err("LookupPayment was served"),
            client
                .charge(charge("intruder-charge", 1_000, test_cards::APPROVED))
                .await
                .expect_err("Charge was served"),
        ]
    }};
}

/// A paid order's payment, charged as the order service.
async fn paid(service: &Service) -> Payment {
    let payment = service
        .client()
        .await
        .charge(charge("paid", 1_000, test_cards::APPROVED))
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(payment.status(), PaymentStatus::Succeeded);
    payment
}

/// Asserts, as the order service sees it, that `payment` was neither
/// refunded nor joined by the intruder's charge.
async fn untouched(service: &Service, payment: &Payment, context: &str) {
    let mut client = service.client().await;
    let now = client
        .lookup_payment(lookup("paid"))
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(now.status(), PaymentStatus::Succeeded, "{context}");
    assert!(now.refunds.is_empty(), "{context}: {now:?}");
    assert_eq!(
        now.refunded_amount.as_ref().map_or(0, |m| m.amount_minor),
        0,
        "{context}"
    );
    assert_eq!(&now, payment, "{context}");
    let status = client
        .lookup_payment(lookup("intruder-charge"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{context}: nothing charged");
}

/// A plaintext HTTP/2 client: no TLS at all.
fn plaintext(service: &Service) -> PaymentServiceClient<Channel> {
    PaymentServiceClient::new(
        Endpoint::from_shared(service.url.clone())
            .unwrap()
            .connect_lazy(),
    )
}

/// A TLS client that trusts the mesh CA and checks the server's name, but
/// presents no certificate of its own.
fn without_a_certificate(service: &Service) -> PaymentServiceClient<Channel> {
    let ca = mesh().config().certs_dir.join("ca.pem");
    PaymentServiceClient::new(
        bazaar_mesh::devcerts::anonymous_channel(&ca, service.server.addr).unwrap(),
    )
}

#[tokio::test]
async fn callers_without_a_mesh_certificate_are_refused_and_change_nothing() {
    for backend in backends() {
        let service = Service::start(backend).await;
        let payment = paid(&service).await;

        for status in money_calls!(plaintext(&service), &payment.id) {
            // The handshake fails, so no request is ever read.
            assert!(
                matches!(status.code(), Code::Unavailable | Code::Unknown),
                "{backend:?} plaintext: {status:?}"
            );
        }
        for status in money_calls!(without_a_certificate(&service), &payment.id) {
            // TLS 1.3 lets the client finish first; the server then refuses
            // it, which the client learns at the handshake or the request.
            assert!(
                format!("{status:?}").contains("CertificateRequired")
                    || matches!(status.code(), Code::Unavailable | Code::Unknown),
                "{backend:?} without a certificate: {status:?}"
            );
        }
        untouched(&service, &payment, &format!("{backend:?}")).await;
    }
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    for backend in backends() {
        let service = Service::start(backend).await;
        let payment = paid(&service).await;

        // A whole mesh's worth of certificates, signed by a stranger.
        let strangers = tempfile::tempdir().unwrap();
        DevCa::generate("other")
            .unwrap()
            .write_all(strangers.path(), mesh().policy())
            .unwrap();
        let policy = mesh().policy();
        let channel = Upstream {
            name: "payment".into(),
            url: service.url.clone(),
            policy: Arc::new(policy.services["payment"].clone()),
            tls: Some((
                Credentials::load(CertPaths::in_dir(strangers.path(), "order")).unwrap(),
                policy.identity("payment").unwrap(),
            )),
            connect_timeout: Duration::from_secs(2),
            metrics: None,
        }
        .channel()
        .unwrap();
        for status in money_calls!(PaymentServiceClient::new(channel), &payment.id) {
            assert_eq!(status.code(), Code::Unavailable, "{backend:?}: {status:?}");
        }
        untouched(&service, &payment, &format!("{backend:?}")).await;
    }
}

#[tokio::test]
async fn only_the_order_service_may_move_money_and_only_the_edge_may_read_payments() {
    for backend in backends() {
        let service = Service::start(backend).await;
        let payment = paid(&service).await;
        let admin = service.token(Role::Admin);

        // Another workload of the mesh, with a valid certificate: refused by
        // identity, before any handler runs.
        let status = service
            .client_as("product")
            .refund(refund_all(&payment.id, "by-product"))
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            Code::PermissionDenied,
            "{backend:?}: {status:?}"
        );
        assert_eq!(
            status.message(),
            "product may not call /bazaar.payment.v1.PaymentService/Refund"
        );
        untouched(&service, &payment, &format!("{backend:?} after product")).await;

        // The gateway (the edge) may not move money either, even carrying an
        // admin's token, but it may read a payment for an admin.
        let mut gateway = service.client_as("gateway");
        let statuses = [
            gateway
                .refund(authorized(refund_all(&payment.id, "by-gateway"), &admin))
                .await
                .unwrap_err(),
            gateway
                .lookup_payment(authorized(lookup("paid"), &admin))
                .await
                .unwrap_err(),
            gateway
                .charge(authorized(
                    charge("intruder-charge", 1_000, test_cards::APPROVED),
                    &admin,
                ))
                .await
                .unwrap_err(),
        ];
        for (status, method) in statuses.iter().zip(["Refund", "LookupPayment", "Charge"]) {
            assert_eq!(
                status.code(),
                Code::PermissionDenied,
                "{backend:?}: {status:?}"
            );
            assert_eq!(
                status.message(),
                format!("gateway may not call /bazaar.payment.v1.PaymentService/{method}")
            );
        }
        untouched(&service, &payment, &format!("{backend:?} after gateway")).await;
        let fetched = gateway
            .get_payment(authorized(
                GetPaymentRequest {
                    payment_id: payment.id.clone(),
                },
                &admin,
            ))
            .await
            .unwrap()
            .into_inner()
            .payment
            .unwrap();
        assert_eq!(fetched, payment, "{backend:?}");

        // The order service, the one caller the policy names, refunds.
        let refunded = service
            .client()
            .await
            .refund(refund_all(&payment.id, "by-order"))
            .await
            .unwrap()
            .into_inner()
            .payment
            .unwrap();
        assert_eq!(refunded.status(), PaymentStatus::Refunded, "{backend:?}");
        assert_eq!(refunded.refunded_amount.unwrap().amount_minor, 1_000);
        assert_eq!(refunded.refunds.len(), 1);
    }
}
