use std::sync::Arc;

use tonic::{Code, transport::Endpoint};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::support::{Certs, check, serve, upstream};

#[tokio::test]
async fn the_allowed_identity_is_served_and_another_is_denied() {
    let certs = Certs::generate();
    let server = serve(certs.of("payment")).await;
    check(&upstream(&certs, "order", "payment", server.addr))
        .await
        .expect("order may check");
    let denied = check(&upstream(&certs, "product", "payment", server.addr))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert!(denied.message().contains("product"), "{denied:?}");
}

#[tokio::test]
async fn a_method_the_policy_does_not_name_is_refused() {
    let certs = Certs::generate();
    let server = serve(certs.of("payment")).await;
    let mut client = HealthClient::new(
        upstream(&certs, "order", "payment", server.addr)
            .channel()
            .unwrap(),
    );
    // A refused stream may fail at the call or at its first message.
    let status = match client.watch(HealthCheckRequest::default()).await {
        Err(status) => status,
        Ok(stream) => stream
            .into_inner()
            .message()
            .await
            .expect_err("a refused stream yields nothing"),
    };
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
}

#[tokio::test]
async fn plaintext_clients_are_refused() {
    let certs = Certs::generate();
    let server = serve(certs.of("payment")).await;
    let channel = Endpoint::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect_lazy();
    let status = HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .unwrap_err();
    // The server drops the connection at the failed handshake, before any
    // request is read.
    assert!(
        matches!(status.code(), Code::Unavailable | Code::Unknown)
            && status.message().contains("transport error"),
        "{status:?}"
    );
}

#[tokio::test]
async fn a_tls_client_without_a_certificate_is_refused() {
    let certs = Certs::generate();
    let server = serve(certs.of("payment")).await;
    // Trusts the mesh CA, verifies the server by name, presents nothing.
    let channel =
        bazaar_mesh::devcerts::anonymous_channel(&certs.path().join("ca.pem"), server.addr)
            .unwrap();
    let status = HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .unwrap_err();
    // TLS 1.3 lets the client finish first; the server then refuses it.
    assert!(
        format!("{status:?}").contains("CertificateRequired"),
        "{status:?}"
    );
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_both_ways() {
    let certs = Certs::generate();
    let strangers = Certs::generate();
    let server = serve(certs.of("payment")).await;
    // A client of another CA cannot get in ...
    let status = check(&upstream(&strangers, "order", "payment", server.addr))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    // ... and a client will not talk to a server of another CA.
    let impostor = serve(strangers.of("payment")).await;
    let status = check(&upstream(&certs, "order", "payment", impostor.addr))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}

#[tokio::test]
async fn a_client_refuses_a_server_with_another_identity_of_the_same_ca() {
    let certs = Certs::generate();
    // A product server where the client expects payment.
    let server = serve(certs.of("product")).await;
    let status = check(&upstream(&certs, "order", "payment", server.addr))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    check(&upstream(&certs, "order", "product", server.addr))
        .await
        .expect("the same server is accepted as the identity it proves");
}

#[tokio::test]
async fn rotated_certificates_are_picked_up_without_a_restart() {
    let certs = Certs::generate();
    let server_credentials = certs.of("payment");
    let server = serve(Arc::clone(&server_credentials)).await;
    let before = server_credentials.identity();
    // A new CA and new certificates replace the files in place.
    bazaar_mesh::devcerts::DevCa::generate("rotated CA")
        .unwrap()
        .write_all(certs.path(), &crate::support::policy())
        .unwrap();
    assert!(server_credentials.reload_if_changed().unwrap());
    assert_eq!(server_credentials.identity(), before);
    // A client with the new certificates is served by the running server.
    check(&upstream(&certs, "order", "payment", server.addr))
        .await
        .expect("served with rotated certificates");
}
