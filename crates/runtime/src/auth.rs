//! Access tokens: issued by the user service, verified by every service.
//!
//! Tokens are JWTs signed with Ed25519 (`alg: EdDSA`). The user service holds
//! the private key ([`TokenSigner`]); everyone else verifies with the public
//! keys it publishes as a JWK set ([`TokenVerifier`]), locally, per request.
//! [`AuthLayer`] wraps a gRPC service: it checks `authorization: Bearer ...`
//! and hands the handler a [`Principal`], with a per-method list of the RPCs
//! that anyone may call.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, RwLock},
    task::{Context, Poll},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::SigningKey;
use futures_util::future::{Either, Ready, ready};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use tonic::{Status, server::NamedService};

use crate::status::ServiceError;

/// What a token lets its bearer do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Admin,
}

/// The claims Bazaar puts in an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issue time, seconds since the Unix epoch.
    pub iat: u64,
    pub roles: Vec<Role>,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub roles: Vec<Role>,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.roles.contains(&Role::Admin)
    }

    /// `PERMISSION_DENIED` unless the caller is an admin.
    pub fn require_admin(&self) -> Result<(), ServiceError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ServiceError::PermissionDenied("admin role required".into()))
        }
    }

    /// True when the caller may act on `user_id`'s resources: their own, or
    /// anyone's for an admin.
    pub fn may_access(&self, user_id: &str) -> bool {
        self.is_admin() || self.user_id == user_id
    }
}

/// The caller of a request that went through [`AuthLayer`]; `UNAUTHENTICATED`
/// if it presented no valid token (possible only on public methods).
pub fn principal<T>(request: &tonic::Request<T>) -> Result<&Principal, ServiceError> {
    request
        .extensions()
        .get::<Arc<Principal>>()
        .map(AsRef::as_ref)
        .ok_or_else(|| ServiceError::Unauthenticated("a bearer token is required".into()))
}

/// The `[auth]` section: what a verifier accepts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// Expected `iss` claim.
    pub issuer: String,
    /// Expected `aud` claim.
    pub audience: String,
    /// Tolerated clock difference between issuer and verifier.
    #[serde(with = "humantime_serde")]
    pub clock_skew: Duration,
    /// The user service's gRPC address, to fetch its JWK set from
    /// (`GetJwks`); refreshed every `jwks_refresh`.
    pub jwks_url: Option<String>,
    #[serde(with = "humantime_serde")]
    pub jwks_refresh: Duration,
    /// Keys trusted without asking the user service (pinned keys, tests).
    pub keys: Vec<Jwk>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "bazaar-user".to_owned(),
            audience: "bazaar".to_owned(),
            clock_skew: Duration::from_secs(30),
            jwks_url: None,
            jwks_refresh: Duration::from_secs(300),
            keys: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("an Ed25519 private key is 32 bytes, base64url-encoded")]
    BadSeed,
    #[error("not a usable Ed25519 public key: {0}")]
    BadPublicKey(jsonwebtoken::errors::Error),
    #[error("the system random source failed: {0}")]
    Random(getrandom::Error),
}

/// One public key in JWK form (RFC 8037), as published by the user service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kid: String,
    /// The public key, base64url without padding.
    pub x: String,
}

impl Jwk {
    pub const KTY: &'static str = "OKP";
    pub const CRV: &'static str = "Ed25519";
    pub const ALG: &'static str = "EdDSA";
    pub const USE: &'static str = "sig";
}

/// An Ed25519 key pair that signs access tokens.
#[derive(Clone)]
pub struct TokenSigner {
    seed: [u8; 32],
    encoding_key: EncodingKey,
    jwk: Jwk,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("TokenSigner")
            .field("kid", &self.jwk.kid)
            .finish_non_exhaustive()
    }
}

/// PKCS#8 v1 header of an Ed25519 private key (RFC 8410); the 32-byte seed
/// follows it.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

impl TokenSigner {
    /// A signer for a fresh random key.
    pub fn generate(config: &AuthConfig) -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(KeyError::Random)?;
        Ok(Self::from_seed(seed, config))
    }

    /// A signer for a stored key: the base64url seed from [`Self::seed_base64`].
    pub fn from_seed_base64(seed: &str, config: &AuthConfig) -> Result<Self, KeyError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(seed.trim())
            .map_err(|_| KeyError::BadSeed)?;
        let seed: [u8; 32] = bytes.try_into().map_err(|_| KeyError::BadSeed)?;
        Ok(Self::from_seed(seed, config))
    }

    fn from_seed(seed: [u8; 32], config: &AuthConfig) -> Self {
        let mut der = Vec::with_capacity(48);
        der.extend_from_slice(&ED25519_PKCS8_PREFIX);
        der.extend_from_slice(&seed);
        let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        let x = URL_SAFE_NO_PAD.encode(public);
        // The key id is derived from the public key, so it is stable across
        // restarts and differs between keys.
        let kid = x.chars().take(16).collect();
        Self {
            seed,
            encoding_key: EncodingKey::from_ed_der(&der),
            jwk: Jwk { kid, x },
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
        }
    }

    /// The private key, for persisting; keep it secret.
    pub fn seed_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.seed)
    }

    /// The public half, to publish.
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// Signs a token for `user_id` with `roles`, valid for `ttl` from now.
    pub fn issue(
        &self,
        user_id: &str,
        roles: &[Role],
        ttl: Duration,
    ) -> Result<(String, Claims), ServiceError> {
        let iat = unix_now();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_owned(),
            iat,
            exp: iat + ttl.as_secs(),
            roles: roles.to_vec(),
        };
        let token = self.sign(&claims)?;
        Ok((token, claims))
    }

    /// Signs arbitrary claims (tests use it to make expired tokens).
    pub fn sign(&self, claims: &Claims) -> Result<String, ServiceError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.jwk.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding_key).map_err(ServiceError::internal)
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Checks tokens against the issuer's current public keys.
///
/// A client sends the same token with every request of a session, and an
/// Ed25519 check costs tens of microseconds, so verified tokens are
/// remembered (until they expire, or the keys change) and a repeat costs a
/// hash lookup.
pub struct TokenVerifier {
    keys: RwLock<HashMap<String, Arc<DecodingKey>>>,
    validation: Validation,
    verified: RwLock<HashMap<Box<str>, Verified>>,
}

/// A token that passed every check, and until when it stays valid.
struct Verified {
    principal: Arc<Principal>,
    valid_until: u64,
}

/// Verified tokens remembered at most; past it the memory starts afresh.
const VERIFIED_CAPACITY: usize = 10_000;

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier").finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// A verifier with no keys yet: it rejects every token until
    /// [`Self::set_keys`] is called.
    pub fn new(config: &AuthConfig) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = config.clock_skew.as_secs();
        Self {
            keys: RwLock::new(HashMap::new()),
            validation,
            verified: RwLock::new(HashMap::new()),
        }
    }

    /// Replaces the accepted keys (e.g. after fetching the issuer's JWK set).
    pub fn set_keys<'a>(&self, jwks: impl IntoIterator<Item = &'a Jwk>) -> Result<(), KeyError> {
        let mut keys = HashMap::new();
        for jwk in jwks {
            let key = DecodingKey::from_ed_components(&jwk.x).map_err(KeyError::BadPublicKey)?;
            keys.insert(jwk.kid.clone(), Arc::new(key));
        }
        // A poisoned lock only means a writer panicked mid-swap; the map is
        // replaced whole, so it is still consistent.
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
        // A key that is gone must stop vouching for tokens at once.
        self.verified
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        Ok(())
    }

    /// The number of keys currently accepted.
    pub fn key_count(&self) -> usize {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Verifies signature, issuer, audience and expiry.
    pub fn verify(&self, token: &str) -> Result<Arc<Principal>, ServiceError> {
        let now = unix_now();
        if let Some(known) = self
            .verified
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .filter(|known| now <= known.valid_until)
        {
            return Ok(Arc::clone(&known.principal));
        }
        let invalid = || ServiceError::Unauthenticated("invalid access token".into());
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        let key = {
            let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
            match header.kid.as_deref() {
                Some(kid) => keys.get(kid).cloned(),
                None => None,
            }
        }
        .ok_or_else(|| {
            ServiceError::Unauthenticated("access token signed by an unknown key".into())
        })?;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &self.validation).map_err(|e| {
            match e.kind() {
                ErrorKind::ExpiredSignature => {
                    ServiceError::Unauthenticated("access token expired".into())
                }
                _ => invalid(),
            }
        })?;
        let principal = Arc::new(Principal {
            user_id: data.claims.sub,
            roles: data.claims.roles,
        });
        let mut verified = self.verified.write().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED_CAPACITY {
            verified.clear();
        }
        verified.insert(
            token.into(),
            Verified {
                principal: Arc::clone(&principal),
                valid_until: data.claims.exp.saturating_add(self.validation.leeway),
            },
        );
        Ok(principal)
    }
}

/// Wraps a gRPC service so every request is authenticated before it reaches
/// the handler.
///
/// Protected methods (all but the listed public ones) need a valid
/// `authorization: Bearer <token>`; anything else is `UNAUTHENTICATED`. Public
/// methods accept anonymous callers, and still see the [`Principal`] of a
/// valid token.
#[derive(Clone)]
pub struct AuthLayer {
    verifier: Arc<TokenVerifier>,
    /// gRPC paths, `/package.Service/Method`.
    public_methods: Arc<[String]>,
}

impl AuthLayer {
    pub fn new(verifier: Arc<TokenVerifier>) -> Self {
        Self {
            verifier,
            public_methods: Arc::from([]),
        }
    }

    /// Marks methods of `service` (its full name) that anyone may call.
    pub fn public(mut self, service: &str, methods: &[&str]) -> Self {
        let mut all = self.public_methods.to_vec();
        all.extend(methods.iter().map(|m| format!("/{service}/{m}")));
        self.public_methods = all.into();
        self
    }

    fn authenticate(
        &self,
        path: &str,
        headers: &http::HeaderMap,
    ) -> Result<Option<Arc<Principal>>, Status> {
        let public = self.public_methods.iter().any(|p| p == path);
        let token = match bearer_token(headers) {
            Ok(token) => token,
            Err(_) if public => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        match self.verifier.verify(token) {
            Ok(principal) => Ok(Some(principal)),
            // A stale token must not lock anyone out of public methods.
            Err(_) if public => Ok(None),
            Err(error) => Err(error.into()),
        }
    }
}

fn bearer_token(headers: &http::HeaderMap) -> Result<&str, ServiceError> {
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| ServiceError::Unauthenticated("a bearer token is required".into()))?;
    let value = value
        .to_str()
        .map_err(|_| ServiceError::Unauthenticated("malformed authorization header".into()))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(ServiceError::Unauthenticated(
            "authorization must be `Bearer <token>`".into(),
        )),
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticated {
            inner,
            layer: self.clone(),
        }
    }
}

/// A service behind [`AuthLayer`].
#[derive(Clone)]
pub struct Authenticated<S> {
    inner: S,
    layer: AuthLayer,
}

impl<S: NamedService> NamedService for Authenticated<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> tower::Service<http::Request<B>> for Authenticated<S>
where
    S: tower::Service<
            http::Request<B>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        >,
{
    type Response = S::Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Self::Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        match self
            .layer
            .authenticate(request.uri().path(), request.headers())
        {
            Ok(principal) => {
                if let Some(principal) = principal {
                    request.extensions_mut().insert(principal);
                }
                Either::Right(self.inner.call(request))
            }
            Err(status) => Either::Left(ready(Ok(status.into_http()))),
        }
    }
}

/// A verifier for `config`: its pinned `keys` at once and, with a `jwks_url`,
/// the user service's published keys, fetched in the background (retrying
/// until the user service answers, then every `jwks_refresh`). Until the
/// first fetch, tokens signed by unpinned keys are `UNAUTHENTICATED`.
pub fn verifier_from_config(config: &AuthConfig) -> Result<Arc<TokenVerifier>, KeyError> {
    let verifier = Arc::new(TokenVerifier::new(config));
    verifier.set_keys(&config.keys)?;
    if let Some(url) = &config.jwks_url {
        let client_config = crate::client::ClientConfig::for_url(url.clone());
        match crate::client::channel(&client_config) {
            Ok(channel) => {
                tokio::spawn(refresh_jwks(
                    Arc::downgrade(&verifier),
                    channel,
                    config.keys.clone(),
                    config.jwks_refresh,
                ));
            }
            Err(error) => tracing::error!(%error, "auth.jwks_url is not a usable address"),
        }
    }
    Ok(verifier)
}

async fn refresh_jwks(
    verifier: std::sync::Weak<TokenVerifier>,
    channel: tonic::transport::Channel,
    pinned: Vec<Jwk>,
    every: Duration,
) {
    use bazaar_proto::user::v1::{GetJwksRequest, user_service_client::UserServiceClient};
    let mut client = UserServiceClient::new(channel);
    let mut retry = Duration::from_millis(100);
    loop {
        let wait = match client.get_jwks(GetJwksRequest {}).await {
            Ok(response) => {
                let Some(verifier) = verifier.upgrade() else {
                    return;
                };
                let fetched = response
                    .into_inner()
                    .keys
                    .into_iter()
                    .filter(|k| k.kty == Jwk::KTY && k.crv == Jwk::CRV)
                    .map(|k| Jwk { kid: k.kid, x: k.x });
                let keys: Vec<Jwk> = pinned.iter().cloned().chain(fetched).collect();
                match verifier.set_keys(&keys) {
                    Ok(()) => tracing::debug!(keys = keys.len(), "refreshed the JWK set"),
                    Err(error) => {
                        tracing::error!(%error, "the user service published an unusable key")
                    }
                }
                retry = Duration::from_millis(100);
                every
            }
            Err(status) => {
                tracing::warn!(%status, ?retry, "cannot fetch the JWK set yet");
                let wait = retry;
                retry = (retry * 2).min(Duration::from_secs(10));
                wait
            }
        };
        if verifier.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(wait).await;
    }
}
