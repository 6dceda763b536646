use std::{sync::Arc, time::Duration};

use bazaar_proto::payment::v1::{
    GetPaymentRequest, LookupPaymentRequest, payment_service_client::PaymentServiceClient,
    payment_service_server::PaymentServiceServer,
};
use bazaar_runtime::{
    auth::{AuthConfig, AuthLayer, Claims, Role, TokenSigner, TokenVerifier},
    server::ServerConfig,
};
use tonic::{Code, Request, Status};
use tower::Layer;

use crate::support::{Echo, Running, channel, start};

const PAYMENT: &str = "bazaar.payment.v1.PaymentService";

/// A payment service behind the JWT layer, trusting `signer`'s key, with
/// LookupPayment public and everything else protected.
async fn protected_server(signer: &TokenSigner) -> Running {
    let config = AuthConfig::default();
    let verifier = TokenVerifier::new(&config);
    verifier.set_keys([signer.jwk()]).unwrap();
    let layer = AuthLayer::new(Arc::new(verifier)).public(PAYMENT, &["LookupPayment"]);
    start(ServerConfig::default(), |b| {
        b.add_service(layer.layer(PaymentServiceServer::new(Echo)))
    })
    .await
}

fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

async fn get_payment(server: &Running, token: Option<&str>) -> Result<String, Status> {
    let mut client = PaymentServiceClient::new(channel(server.url()).await);
    let message = GetPaymentRequest {
        payment_id: "p-1".into(),
    };
    let request = match token {
        Some(token) => with_token(message, token),
        None => Request::new(message),
    };
    let payment = client
        .get_payment(request)
        .await?
        .into_inner()
        .payment
        .unwrap();
    Ok(payment.order_id)
}

fn signer() -> TokenSigner {
    TokenSigner::generate(&AuthConfig::default()).unwrap()
}

#[tokio::test]
async fn a_valid_token_reaches_the_handler_as_a_principal() {
    let signer = signer();
    let server = protected_server(&signer).await;
    let (token, _) = signer
        .issue("user-42", &[Role::Customer], Duration::from_secs(60))
        .unwrap();
    assert_eq!(get_payment(&server, Some(&token)).await.unwrap(), "user-42");
}

#[tokio::test]
async fn a_missing_token_is_unauthenticated() {
    let server = protected_server(&signer()).await;
    let status = get_payment(&server, None).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_malformed_authorization_header_is_unauthenticated() {
    let server = protected_server(&signer()).await;
    let mut client = PaymentServiceClient::new(channel(server.url()).await);
    let mut request = Request::new(GetPaymentRequest::default());
    request
        .metadata_mut()
        .insert("authorization", "Basic dXNlcjpwYXNz".parse().unwrap());
    let status = client.get_payment(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn an_expired_token_is_unauthenticated() {
    let signer = signer();
    let server = protected_server(&signer).await;
    let config = AuthConfig::default();
    let long_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3_600;
    let token = signer
        .sign(&Claims {
            iss: config.issuer,
            aud: config.audience,
            sub: "user-42".into(),
            iat: long_ago - 900,
            exp: long_ago,
            roles: vec![Role::Customer],
        })
        .unwrap();
    let status = get_payment(&server, Some(&token)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("expired"), "{}", status.message());
}

#[tokio::test]
async fn a_tampered_token_is_unauthenticated() {
    let signer = signer();
    let server = protected_server(&signer).await;
    let (token, _) = signer
        .issue("user-42", &[Role::Customer], Duration::from_secs(60))
        .unwrap();
    // Promote ourselves to admin by rewriting the payload; the signature no
    // longer matches.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let forged = Claims {
        iss: AuthConfig::default().issuer,
        aud: AuthConfig::default().audience,
        sub: "user-42".into(),
        iat: 0,
        exp: u64::MAX / 2,
        roles: vec![Role::Admin],
    };
    use base64::Engine;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&forged).unwrap());
    let tampered = parts.join(".");
    let status = get_payment(&server, Some(&tampered)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_token_signed_by_another_key_is_unauthenticated() {
    let server = protected_server(&signer()).await;
    let (token, _) = signer()
        .issue("user-42", &[Role::Admin], Duration::from_secs(60))
        .unwrap();
    let status = get_payment(&server, Some(&token)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_token_for_another_audience_is_unauthenticated() {
    let signer = TokenSigner::generate(&AuthConfig {
        audience: "someone-else".into(),
        ..AuthConfig::default()
    })
    .unwrap();
    let server = protected_server(&signer).await;
    let (token, _) = signer
        .issue("user-42", &[Role::Customer], Duration::from_secs(60))
        .unwrap();
    let status = get_payment(&server, Some(&token)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn public_methods_admit_anonymous_callers_and_still_see_valid_tokens() {
    let signer = signer();
    let server = protected_server(&signer).await;
    let mut client = PaymentServiceClient::new(channel(server.url()).await);

    let anonymous = client
        .lookup_payment(LookupPaymentRequest::default())
        .await
        .unwrap();
    assert_eq!(anonymous.into_inner().payment.unwrap().order_id, "");

    let stale = with_token(LookupPaymentRequest::default(), "not.a.token");
    assert!(client.lookup_payment(stale).await.is_ok());

    let (token, _) = signer
        .issue("user-7", &[Role::Customer], Duration::from_secs(60))
        .unwrap();
    let known = client
        .lookup_payment(with_token(LookupPaymentRequest::default(), &token))
        .await
        .unwrap();
    assert_eq!(known.into_inner().payment.unwrap().order_id, "user-7");
}

#[test]
fn a_stored_key_signs_tokens_the_published_key_verifies() {
    let config = AuthConfig::default();
    let original = TokenSigner::generate(&config).unwrap();
    let restored = TokenSigner::from_seed_base64(&original.seed_base64(), &config).unwrap();
    assert_eq!(restored.jwk(), original.jwk());

    let verifier = TokenVerifier::new(&config);
    verifier.set_keys([original.jwk()]).unwrap();
    let (token, claims) = restored
        .issue("user-1", &[Role::Admin], Duration::from_secs(60))
        .unwrap();
    let principal = verifier.verify(&token).unwrap();
    assert_eq!(principal.user_id, claims.sub);
    assert!(principal.is_admin());
    assert!(TokenSigner::from_seed_base64("too-short", &config).is_err());
}

#[test]
fn a_remembered_token_stops_working_when_its_key_is_withdrawn() {
    let config = AuthConfig::default();
    let old = TokenSigner::generate(&config).unwrap();
    let new = TokenSigner::generate(&config).unwrap();
    let verifier = TokenVerifier::new(&config);
    verifier.set_keys([old.jwk()]).unwrap();
    let (token, _) = old
        .issue("user-1", &[Role::Customer], Duration::from_secs(60))
        .unwrap();
    // Verified twice: the second answer comes from memory.
    assert_eq!(verifier.verify(&token).unwrap().user_id, "user-1");
    assert_eq!(verifier.verify(&token).unwrap().user_id, "user-1");

    verifier.set_keys([new.jwk()]).unwrap();
    assert!(
        verifier.verify(&token).is_err(),
        "the old key no longer vouches"
    );
}
