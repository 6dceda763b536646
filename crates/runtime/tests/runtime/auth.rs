use std::{sync::Arc, time::Duration};

use bazaar_proto::payment::v1::{
    GetPaymentRequest, LookupPaymentRequest, payment_service_client::PaymentServiceClient,
    payment_service_server::PaymentServiceServer,
};
use bazaar_proto::user::v1::{
    self as user, user_service_server::UserService, user_service_server::UserServiceServer,
};
use bazaar_runtime::{
    auth::{AuthConfig, AuthLayer, Claims, Role, TokenSigner, TokenVerifier, verifier_from_config},
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

/// An issuer's JWK set endpoint whose keys the test swaps, counting fetches.
#[derive(Clone, Default)]
struct Issuer {
    keys: Arc<std::sync::Mutex<Vec<bazaar_runtime::auth::Jwk>>>,
    fetches: Arc<std::sync::atomic::AtomicUsize>,
}

impl Issuer {
    fn publish(&self, signers: &[&TokenSigner]) {
        *self.keys.lock().unwrap() = signers.iter().map(|s| s.jwk().clone()).collect();
    }

    fn fetches(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[tonic::async_trait]
impl UserService for Issuer {
    async fn register(
        &self,
        _: Request<user::RegisterRequest>,
    ) -> Result<tonic::Response<user::RegisterResponse>, Status> {
        Err(Status::unimplemented("stub"))
    }
    async fn login(
        &self,
        _: Request<user::LoginRequest>,
    ) -> Result<tonic::Response<user::LoginResponse>, Status> {
        Err(Status::unimplemented("stub"))
    }
    async fn get_me(
        &self,
        _: Request<user::GetMeRequest>,
    ) -> Result<tonic::Response<user::GetMeResponse>, Status> {
        Err(Status::unimplemented("stub"))
    }
    async fn get_user(
        &self,
        _: Request<user::GetUserRequest>,
    ) -> Result<tonic::Response<user::GetUserResponse>, Status> {
        Err(Status::unimplemented("stub"))
    }
    async fn update_user(
        &self,
        _: Request<user::UpdateUserRequest>,
    ) -> Result<tonic::Response<user::UpdateUserResponse>, Status> {
        Err(Status::unimplemented("stub"))
    }
    async fn change_password(
        &self,
        _: Request<user::ChangePasswordRequest>,
    ) -> Result<tonic::Response<user::ChangePasswordResponse>, Status> {
        Err(Status::unimplemented("stub"))
    }
    async fn reset_password(
        &self,
        _: Request<user::ResetPasswordRequest>,
    ) -> Result<tonic::Response<user::ResetPasswordResponse>, Status> {
        Err(Status::unimplemented("stub"))
    }
    async fn refresh_token(
        &self,
        _: Request<user::RefreshTokenRequest>,
    ) -> Result<tonic::Response<user::RefreshTokenResponse>, Status> {
        Err(Status::unimplemented("stub"))
    }
    async fn logout(
        &self,
        _: Request<user::LogoutRequest>,
    ) -> Result<tonic::Response<user::LogoutResponse>, Status> {
        Err(Status::unimplemented("stub"))
    }
    async fn get_jwks(
        &self,
        _: Request<user::GetJwksRequest>,
    ) -> Result<tonic::Response<user::GetJwksResponse>, Status> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let keys = self
            .keys
            .lock()
            .unwrap()
            .iter()
            .map(|k| user::JsonWebKey {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: k.x.clone(),
                kid: k.kid.clone(),
                alg: "EdDSA".into(),
                r#use: "sig".into(),
            })
            .collect();
        Ok(tonic::Response::new(user::GetJwksResponse { keys }))
    }
}

/// The issuer's endpoint, and a verifier fed from it that has fetched once.
async fn fed_verifier(issuer: &Issuer, min_refetch: Duration) -> (Running, Arc<TokenVerifier>) {
    let server = start(ServerConfig::default(), |b| {
        b.add_service(UserServiceServer::new(issuer.clone()))
    })
    .await;
    let config = AuthConfig {
        // Long: every fetch after the first is a refetch on an unknown key.
        jwks_refresh: Duration::from_secs(3600),
        jwks_min_refetch: min_refetch,
        ..AuthConfig::default()
    };
    let verifier = verifier_from_config(&config, Some(channel(server.url()).await)).unwrap();
    while issuer.fetches() == 0 || verifier.key_count() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (server, verifier)
}

fn token_of(signer: &TokenSigner, user: &str) -> String {
    signer
        .issue(user, &[Role::Customer], Duration::from_secs(60))
        .unwrap()
        .0
}

#[tokio::test]
async fn a_token_of_a_rotated_key_is_accepted_at_its_first_check() {
    let (old, new) = (signer(), signer());
    let issuer = Issuer::default();
    issuer.publish(&[&old]);
    let (_server, verifier) = fed_verifier(&issuer, Duration::from_secs(10)).await;
    let old_token = token_of(&old, "before");
    assert_eq!(
        verifier.verify_fresh(&old_token).await.unwrap().user_id,
        "before"
    );

    // The issuer rotates: the new key signs, the old one is still published.
    issuer.publish(&[&new, &old]);
    let new_token = token_of(&new, "after");
    assert_eq!(
        verifier.verify_fresh(&new_token).await.unwrap().user_id,
        "after"
    );
    assert_eq!(issuer.fetches(), 2, "one refetch, on the unknown key");
    assert_eq!(
        verifier.verify_fresh(&old_token).await.unwrap().user_id,
        "before"
    );
    assert_eq!(issuer.fetches(), 2, "known keys need no fetch");
}

#[tokio::test]
async fn refetches_on_unknown_keys_are_rate_limited() {
    let issuer = Issuer::default();
    issuer.publish(&[&signer()]);
    let min_refetch = Duration::from_millis(400);
    let (_server, verifier) = fed_verifier(&issuer, min_refetch).await;

    // Made-up keys: the first one is worth a refetch, the flood after it
    // within the interval is refused without asking the issuer again.
    let first = verifier.verify_fresh(&token_of(&signer(), "x")).await;
    assert_eq!(
        first.unwrap_err().to_string(),
        "unauthenticated: access token signed by an unknown key"
    );
    assert_eq!(issuer.fetches(), 2);
    let flood: Vec<_> = (0..50).map(|_| token_of(&signer(), "x")).collect();
    for token in &flood {
        assert!(verifier.verify_fresh(token).await.is_err());
    }
    assert_eq!(issuer.fetches(), 2, "rate-limited");

    // Past the interval a rotation is picked up again.
    tokio::time::sleep(min_refetch).await;
    let rotated = signer();
    issuer.publish(&[&rotated]);
    assert!(
        verifier
            .verify_fresh(&token_of(&rotated, "y"))
            .await
            .is_ok()
    );
    assert_eq!(issuer.fetches(), 3);
}

#[tokio::test]
async fn concurrent_requests_of_a_new_key_share_one_refetch() {
    let (old, new) = (signer(), signer());
    let issuer = Issuer::default();
    issuer.publish(&[&old]);
    let (_server, verifier) = fed_verifier(&issuer, Duration::from_secs(10)).await;
    issuer.publish(&[&new, &old]);
    let token = token_of(&new, "many");
    let mut checks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (verifier, token) = (Arc::clone(&verifier), token.clone());
        checks.spawn(async move {
            verifier
                .verify_fresh(&token)
                .await
                .map(|p| p.user_id.clone())
        });
    }
    for answer in checks.join_all().await {
        assert_eq!(answer.unwrap(), "many");
    }
    assert_eq!(issuer.fetches(), 2);
}

/// Through the layer, as a service sees it: the first request with a token
/// of the rotated key reaches the handler, no `UNAUTHENTICATED` first.
#[tokio::test]
async fn the_layer_waits_for_the_refetch_of_an_unknown_key() {
    let (old, new) = (signer(), signer());
    let issuer = Issuer::default();
    issuer.publish(&[&old]);
    let (_issuer_server, verifier) = fed_verifier(&issuer, Duration::from_secs(10)).await;
    let layer = AuthLayer::new(verifier);
    let server = start(ServerConfig::default(), |b| {
        b.add_service(layer.layer(PaymentServiceServer::new(Echo)))
    })
    .await;
    issuer.publish(&[&new, &old]);
    let token = token_of(&new, "user-9");
    assert_eq!(get_payment(&server, Some(&token)).await.unwrap(), "user-9");
    assert_eq!(
        get_payment(&server, Some(&token_of(&old, "user-8")))
            .await
            .unwrap(),
        "user-8"
    );
    // A token of a key nobody publishes is still refused.
    let status = get_payment(&server, Some(&token_of(&signer(), "user-7")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}
