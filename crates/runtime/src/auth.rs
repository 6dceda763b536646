//! Access tokens: issued by the user service, verified by every service.
//!
//! Tokens are JWTs signed with Ed25519 (`alg: EdDSA`). The user service holds
//! the private key ([`TokenSigner`]); everyone else verifies with the public
//! keys it publishes as a JWK set ([`TokenVerifier`]), locally, per request.
//! [`AuthLayer`] wraps a gRPC service: it checks `authorization: Bearer ...`
//! and hands the handler a [`Principal`], with a per-method list of the RPCs
//! that anyone may call.

mod jwks;
mod layer;
mod signer;
mod verifier;

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};

use crate::status::ServiceError;

pub use jwks::verifier_from_config;
pub use layer::{AuthLayer, Authenticated};
pub use signer::TokenSigner;
pub use verifier::TokenVerifier;

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
    /// A token signed by a key the verifier does not know (the issuer
    /// rotated its key) triggers a refetch of the JWK set, at most once per
    /// this interval, so tokens with made-up key ids cannot flood the issuer.
    #[serde(with = "humantime_serde")]
    pub jwks_min_refetch: Duration,
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
            jwks_min_refetch: Duration::from_secs(10),
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

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
