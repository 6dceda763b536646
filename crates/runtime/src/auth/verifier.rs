//! Every service's half: checking access tokens against the issuer's keys.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use tokio::sync::{Notify, watch};

use super::{AuthConfig, Claims, Jwk, KeyError, Principal, unix_now};
use crate::status::ServiceError;

/// Checks tokens against the issuer's current public keys.
///
/// A client sends the same token with every request of a session, and an
/// Ed25519 check costs tens of microseconds, so verified tokens are
/// remembered (until they expire, or the keys change) and a repeat costs a
/// hash lookup.
///
/// A verifier fed from the issuer's JWK set ([`super::verifier_from_config`])
/// also refetches it when a token names a key it does not know, so a key
/// rotation is seen at the first token signed by the new key; see
/// [`Self::verify_fresh`].
pub struct TokenVerifier {
    keys: RwLock<HashMap<String, Arc<DecodingKey>>>,
    validation: Validation,
    verified: RwLock<HashMap<Box<str>, Verified>>,
    refetch: Option<Arc<Refetch>>,
}

/// How long a request waits for a refetch it asked for (or found in flight)
/// before its token counts as signed by an unknown key: a JWK set is one
/// short call away, and an unreachable issuer must not hold requests long.
const REFETCH_WAIT: Duration = Duration::from_secs(2);

/// The link between verifiers that met an unknown key and the task that
/// fetches the JWK set.
pub(super) struct Refetch {
    min_interval: Duration,
    state: Mutex<RefetchState>,
    /// Wakes the fetching task early.
    wake: Notify,
    /// Bumped after every fetch attempt, successful or not.
    fetched: watch::Sender<u64>,
}

#[derive(Default)]
struct RefetchState {
    /// When a refetch was last asked for, for the rate limit.
    last_asked: Option<Instant>,
    /// A refetch was asked for and has not completed yet.
    in_flight: bool,
}

impl Refetch {
    pub(super) fn new(min_interval: Duration) -> Self {
        Self {
            min_interval,
            state: Mutex::new(RefetchState::default()),
            wake: Notify::new(),
            fetched: watch::channel(0).0,
        }
    }

    /// Asks for a refetch; false when one was asked for within the
    /// rate limit and has already completed (waiting would not help).
    fn ask(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.in_flight {
            return true;
        }
        let now = Instant::now();
        if state
            .last_asked
            .is_some_and(|at| now.duration_since(at) < self.min_interval)
        {
            return false;
        }
        state.last_asked = Some(now);
        state.in_flight = true;
        self.wake.notify_one();
        true
    }

    /// Until someone asks for a refetch (the fetching task's early wake-up).
    pub(super) async fn asked(&self) {
        self.wake.notified().await;
    }

    /// A fetch attempt ended: wake whoever waits for it.
    pub(super) fn done(&self) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .in_flight = false;
        self.fetched.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Why a token was refused, where an unknown key is worth a refetch.
enum Refusal {
    UnknownKey,
    Invalid(ServiceError),
}

impl From<Refusal> for ServiceError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::UnknownKey => {
                ServiceError::Unauthenticated("access token signed by an unknown key".into())
            }
            Refusal::Invalid(error) => error,
        }
    }
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
            refetch: None,
        }
    }

    /// A verifier whose unknown keys wake the JWK set fetcher `refetch`.
    pub(super) fn refetching(config: &AuthConfig, refetch: Arc<Refetch>) -> Self {
        Self {
            refetch: Some(refetch),
            ..Self::new(config)
        }
    }

    /// [`Self::verify`], or `None` when [`Self::verify_fresh`] may answer
    /// differently: `token` names a key not known yet, and a refetch of the
    /// JWK set could bring it. One check either way.
    pub(super) fn verify_unless_stale(
        &self,
        token: &str,
    ) -> Option<Result<Arc<Principal>, ServiceError>> {
        match self.check(token) {
            Err(Refusal::UnknownKey) if self.refetch.is_some() => None,
            checked => Some(checked.map_err(Into::into)),
        }
    }

    /// [`Self::verify`], but a token signed by an unknown key first gets the
    /// JWK set refetched (rate-limited to one refetch per
    /// `auth.jwks_min_refetch`; a request that finds one in flight waits for
    /// it, at most [`REFETCH_WAIT`]) and is then checked against it, so the
    /// first token of a rotated key is accepted, not refused.
    pub async fn verify_fresh(&self, token: &str) -> Result<Arc<Principal>, ServiceError> {
        match self.check(token) {
            Err(Refusal::UnknownKey) => {}
            checked => return checked.map_err(Into::into),
        }
        let Some(refetch) = &self.refetch else {
            return Err(Refusal::UnknownKey.into());
        };
        // Subscribed before asking, so the end of the fetch is not missed.
        let mut fetched = refetch.fetched.subscribe();
        if !refetch.ask() {
            // Rate-limited: but a refetch may have landed since the check
            // above (keys are set before a fetch counts as done).
            return self.check(token).map_err(Into::into);
        }
        match tokio::time::timeout(REFETCH_WAIT, fetched.changed()).await {
            Ok(Ok(())) => self.check(token).map_err(Into::into),
            // Too slow, or the fetcher is gone.
            _ => Err(Refusal::UnknownKey.into()),
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

    /// Verifies signature, issuer, audience and expiry against the keys
    /// known now.
    pub fn verify(&self, token: &str) -> Result<Arc<Principal>, ServiceError> {
        self.check(token).map_err(Into::into)
    }

    fn check(&self, token: &str) -> Result<Arc<Principal>, Refusal> {
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
        let invalid =
            || Refusal::Invalid(ServiceError::Unauthenticated("invalid access token".into()));
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        let key = {
            let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
            match header.kid.as_deref() {
                Some(kid) => keys.get(kid).cloned(),
                None => None,
            }
        }
        .ok_or(Refusal::UnknownKey)?;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &self.validation).map_err(|e| {
            match e.kind() {
                ErrorKind::ExpiredSignature => {
                    Refusal::Invalid(ServiceError::Unauthenticated("access token expired".into()))
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
