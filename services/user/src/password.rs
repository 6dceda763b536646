//! Password hashing with argon2id.
//!
//! Hashing is deliberately slow and memory-hungry, so it runs on the blocking
//! pool (never on the async workers), at most `password.max_concurrent`
//! hashes (one per core by default) run at a time, and at most
//! `password.max_waiting` more wait for a slot: a burst of logins queues
//! briefly, and past that is refused at once ([`HashError::Saturated`])
//! instead of pinning every core and growing an unbounded queue.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
    password_hash::{SaltString, rand_core::OsRng},
};
use bazaar_runtime::status::ServiceError;
use tokio::sync::Semaphore;

use crate::{
    config::PasswordConfig,
    domain::{HashedPassword, Password},
};

/// Hashes new passwords and checks offered ones.
#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    argon2: Argon2<'static>,
    /// A hash of a random password, checked when a login names no account,
    /// so an unknown email costs the same time as a wrong password.
    dummy: HashedPassword,
    /// Bounds the hashes running at once; a permit lives as long as its
    /// blocking task, even if the request that started it gives up.
    permits: Arc<Semaphore>,
    /// Hashes waiting for a permit now, and how many may.
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// Why a hash or a check did not run.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every slot is busy and the queue is full; the caller may retry soon.
    #[error("too many password checks are in progress")]
    Saturated,
    #[error(transparent)]
    Failed(#[from] ServiceError),
}

/// Leaves the queue of waiting hashes when dropped, however the wait ends
/// (a permit, or the request giving up).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordConfigError {
    #[error("invalid password hashing parameters: {0}")]
    Params(argon2::Error),
    #[error("cannot compute the dummy password hash: {0}")]
    Dummy(String),
}

impl Passwords {
    /// A hasher with `config`'s cost; computes the dummy hash once.
    pub async fn new(config: &PasswordConfig) -> Result<Self, PasswordConfigError> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(PasswordConfigError::Params)?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy = {
            let argon2 = argon2.clone();
            let random = SaltString::generate(&mut OsRng);
            tokio::task::spawn_blocking(move || hash_with(&argon2, random.as_str().as_bytes()))
                .await
                .map_err(|e| PasswordConfigError::Dummy(e.to_string()))?
                .map_err(|e| PasswordConfigError::Dummy(e.to_string()))?
        };
        let permits = match config.max_concurrent {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                argon2,
                dummy,
                permits: Arc::new(Semaphore::new(permits)),
                waiting: AtomicUsize::new(0),
                max_waiting: config.max_waiting,
            }),
        })
    }

    /// An argon2id PHC string for `password`, with a fresh random salt.
    pub async fn hash(&self, password: Password) -> Result<HashedPassword, HashError> {
        self.blocking(move |argon2| {
            hash_with(argon2, password.expose().as_bytes())
                .map_err(|e| ServiceError::internal(format!("hashing a password failed: {e}")))
        })
        .await
    }

    /// True if `password` matches `hash`. With no hash (no such account) it
    /// checks the dummy hash and answers false, taking the same time.
    pub async fn verify(
        &self,
        password: Password,
        hash: Option<HashedPassword>,
    ) -> Result<bool, HashError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.inner.dummy.clone());
        let matches = self
            .blocking(move |argon2| {
                let parsed = PasswordHash::new(hash.as_str()).map_err(|e| {
                    ServiceError::internal(format!("a stored password hash is malformed: {e}"))
                })?;
                Ok(argon2
                    .verify_password(password.expose().as_bytes(), &parsed)
                    .is_ok())
            })
            .await?;
        Ok(known && matches)
    }

    /// Runs `work` on the blocking pool once a hashing slot is free, or
    /// refuses it if the queue for slots is full.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Argon2<'static>) -> Result<T, ServiceError> + Send + 'static,
    ) -> Result<T, HashError> {
        let permits = &self.inner.permits;
        let permit = match Arc::clone(permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let ahead = self.inner.waiting.fetch_add(1, Ordering::AcqRel);
                let _waiting = Waiting(&self.inner.waiting);
                if ahead >= self.inner.max_waiting {
                    return Err(HashError::Saturated);
                }
                Arc::clone(permits)
                    .acquire_owned()
                    .await
                    .map_err(ServiceError::internal)?
            }
        };
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work(&inner.argon2)
        })
        .await
        .map_err(ServiceError::internal)?
        .map_err(HashError::Failed)
    }
}

fn hash_with(
    argon2: &Argon2<'_>,
    password: &[u8],
) -> Result<HashedPassword, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    let hash = argon2.hash_password(password, &salt)?;
    Ok(HashedPassword::from_phc(hash.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordConfig {
        PasswordConfig {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            ..PasswordConfig::default()
        }
    }

    fn password(value: &str) -> Password {
        Password::candidate(value.to_owned()).unwrap()
    }

    #[tokio::test]
    async fn hashes_are_salted_argon2id_phc_strings() {
        let passwords = Passwords::new(&cheap()).await.unwrap();
        let a = passwords.hash(password("correct horse")).await.unwrap();
        let b = passwords.hash(password("correct horse")).await.unwrap();
        assert!(
            a.as_str().starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
            "{}",
            a.as_str()
        );
        assert_ne!(a, b, "same password, same salt");
    }

    #[tokio::test]
    async fn verifies_the_right_password_only() {
        let passwords = Passwords::new(&cheap()).await.unwrap();
        let hash = passwords.hash(password("correct horse")).await.unwrap();
        assert!(
            passwords
                .verify(password("correct horse"), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify(password("battery staple"), Some(hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn no_account_never_verifies() {
        let passwords = Passwords::new(&cheap()).await.unwrap();
        assert!(!passwords.verify(password("anything"), None).await.unwrap());
    }

    /// One slot and one place in the queue: with the slot busy and the queue
    /// taken, the next check is refused at once instead of waiting.
    #[tokio::test]
    async fn checks_beyond_the_queue_are_refused() {
        let config = PasswordConfig {
            // Slow enough that the first check still runs when the others
            // arrive.
            memory_kib: 64 * 1024,
            iterations: 4,
            max_concurrent: 1,
            max_waiting: 1,
            ..cheap()
        };
        let passwords = Passwords::new(&config).await.unwrap();
        let running = tokio::spawn({
            let passwords = passwords.clone();
            async move { passwords.verify(password("a"), None).await }
        });
        // Let it take the slot.
        while passwords.inner.permits.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let queued = tokio::spawn({
            let passwords = passwords.clone();
            async move { passwords.verify(password("b"), None).await }
        });
        while passwords.inner.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        let refused = passwords.verify(password("c"), None).await;
        assert!(matches!(refused, Err(HashError::Saturated)), "{refused:?}");
        // The running and the queued ones still finish.
        assert!(!running.await.unwrap().unwrap());
        assert!(!queued.await.unwrap().unwrap());
        assert_eq!(passwords.inner.waiting.load(Ordering::Acquire), 0);
        assert!(!passwords.verify(password("d"), None).await.unwrap());
    }

    #[tokio::test]
    async fn bad_parameters_are_refused() {
        let config = PasswordConfig {
            memory_kib: 1,
            ..cheap()
        };
        assert!(Passwords::new(&config).await.is_err());
    }
}
