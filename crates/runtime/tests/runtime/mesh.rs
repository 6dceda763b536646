//! Servers in the mesh: proxyless (mTLS, identity from the certificate) and
//! sidecar (plaintext, identity from the sidecar's header), both authorized
//! by the policy before the policy's user-token rules and the handler.

use std::{sync::Arc, time::Duration};

use bazaar_mesh::{MeshPolicy, Mode};
use bazaar_proto::payment::v1::{
    GetPaymentRequest, RefundRequest, payment_service_client::PaymentServiceClient,
    payment_service_server::PaymentServiceServer,
};
use bazaar_runtime::{
    auth::{AuthConfig, AuthLayer, Role, TokenSigner, TokenVerifier},
    server::{MeshServer, ServerConfig},
    service::{App, AppError, ServiceConfig},
    testing::{Spawned, TestDatabase, mesh},
};
use tonic::{Code, Request};
use tower::Layer as _;

use crate::support::{Echo, channel, start};

fn identity_header(workload: &str) -> String {
    format!(
        "By=spiffe://cluster.local/ns/bazaar/sa/payment;Hash=00;URI=spiffe://cluster.local/ns/bazaar/sa/{workload}"
    )
}

fn signer_and_verifier() -> (TokenSigner, Arc<TokenVerifier>) {
    let signer = TokenSigner::generate(&AuthConfig::default()).unwrap();
    let verifier = TokenVerifier::new(&AuthConfig::default());
    verifier.set_keys([signer.jwk()]).unwrap();
    (signer, Arc::new(verifier))
}

fn with<T>(message: T, caller: Option<&str>, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(caller) = caller {
        request.metadata_mut().insert(
            "x-forwarded-client-cert",
            identity_header(caller).parse().unwrap(),
        );
    }
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    request
}

#[tokio::test]
async fn behind_a_sidecar_the_forwarded_identity_is_authorized_by_the_policy() {
    let policy = Arc::new(MeshPolicy::built_in().unwrap());
    let (signer, verifier) = signer_and_verifier();
    let rules = policy.services["payment"].clone();
    let server = start(ServerConfig::default(), |builder| {
        builder
            .mesh(MeshServer {
                policy: Arc::clone(&policy),
                mode: Mode::Sidecar,
                tls: None,
            })
            .add_service(
                AuthLayer::from_policy(verifier, &rules).layer(PaymentServiceServer::new(Echo)),
            )
    })
    .await;
    let mut client = PaymentServiceClient::new(channel(server.url()).await);
    let refund = || RefundRequest::default();

    let status = client.refund(with(refund(), None, None)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = client
        .refund(with(refund(), Some("product"), None))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().contains("product may not call"),
        "{status:?}"
    );
    client
        .refund(with(refund(), Some("order"), None))
        .await
        .expect("order may refund, without a user token");

    // GetPayment: the edge only, with an admin's token.
    let get = || GetPaymentRequest::default();
    let customer = signer
        .issue("ada", &[Role::Customer], Duration::from_secs(60))
        .unwrap()
        .0;
    let admin = signer
        .issue("root", &[Role::Admin], Duration::from_secs(60))
        .unwrap()
        .0;
    let status = client
        .get_payment(with(get(), Some("order"), Some(&admin)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = client
        .get_payment(with(get(), Some("gateway"), None))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = client
        .get_payment(with(get(), Some("gateway"), Some(&customer)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let payment = client
        .get_payment(with(get(), Some("gateway"), Some(&admin)))
        .await
        .expect("an admin through the edge")
        .into_inner();
    assert_eq!(payment.payment.unwrap().order_id, "root");
}

async fn app_config(database: &TestDatabase) -> ServiceConfig {
    ServiceConfig {
        server: ServerConfig::default(),
        database: database.config.clone(),
        auth: AuthConfig {
            jwks_url: None,
            ..AuthConfig::default()
        },
        mesh: mesh().config(),
        ..ServiceConfig::new("payment", 0)
    }
}

#[tokio::test]
async fn a_proxyless_service_serves_only_mtls_callers_the_policy_admits() {
    let database = TestDatabase::create(bazaar_runtime::db::Backend::Sqlite).await;
    let config = app_config(&database).await;
    let server = Spawned::start_in_mesh("payment", |listener, shutdown| async move {
        let app = App::start(config, crate::db::MIGRATIONS).await?;
        app.serve(PaymentServiceServer::new(Echo), listener, shutdown)
            .await
    })
    .await;

    PaymentServiceClient::new(server.channel_as("order"))
        .refund(RefundRequest::default())
        .await
        .expect("order may refund");
    for caller in ["gateway", "product", "dev-client"] {
        let status = PaymentServiceClient::new(server.channel_as(caller))
            .refund(RefundRequest::default())
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            Code::PermissionDenied,
            "{caller}: {status:?}"
        );
    }
    // Plaintext never gets as far as a request.
    let status = PaymentServiceClient::new(
        tonic::transport::Endpoint::from_shared(server.url())
            .unwrap()
            .connect_lazy(),
    )
    .refund(RefundRequest::default())
    .await
    .unwrap_err();
    assert!(
        matches!(status.code(), Code::Unavailable | Code::Unknown),
        "{status:?}"
    );
    // A forged sidecar header means nothing to a proxyless server.
    let mut forged = Request::new(RefundRequest::default());
    forged.metadata_mut().insert(
        "x-forwarded-client-cert",
        identity_header("order").parse().unwrap(),
    );
    let status = PaymentServiceClient::new(server.channel_as("product"))
        .refund(forged)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    server.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn a_workload_the_policy_does_not_know_cannot_start() {
    let database = TestDatabase::create(bazaar_runtime::db::Backend::Sqlite).await;
    let config = ServiceConfig {
        workload: "mallory",
        ..app_config(&database).await
    };
    let error = App::start(config, crate::db::MIGRATIONS)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(error, AppError::NotInPolicy(ref w) if w == "mallory"),
        "{error}"
    );
}

#[tokio::test]
async fn probes_get_plaintext_health_and_nothing_else() {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let database = TestDatabase::create(bazaar_runtime::db::Backend::Sqlite).await;
    let mut config = app_config(&database).await;
    // A port picked by binding and releasing it: Kubernetes names the probe
    // port in advance, so the server cannot be handed a bound socket here.
    let probe = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    config.server.probe_listen = Some(probe);
    let server = Spawned::start_in_mesh("payment", |listener, shutdown| async move {
        let app = App::start(config, crate::db::MIGRATIONS).await?;
        app.serve(PaymentServiceServer::new(Echo), listener, shutdown)
            .await
    })
    .await;
    let plain = channel(format!("http://{probe}")).await;
    let status = HealthClient::new(plain.clone())
        .check(HealthCheckRequest {
            service: "bazaar.payment.v1.PaymentService".into(),
        })
        .await
        .expect("health over plaintext")
        .into_inner()
        .status();
    assert_eq!(status, ServingStatus::Serving);
    let status = PaymentServiceClient::new(plain)
        .refund(RefundRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    server.stop().await.expect("a clean stop");
}
