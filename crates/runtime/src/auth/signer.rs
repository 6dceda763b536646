//! The user service's half: signing access tokens with its Ed25519 key.

use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use super::{AuthConfig, Claims, Jwk, KeyError, Role, unix_now};
use crate::status::ServiceError;

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
