//! Every service's half: checking access tokens against the issuer's keys.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};

use super::{AuthConfig, Claims, Jwk, KeyError, Principal, unix_now};
use crate::status::ServiceError;

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
