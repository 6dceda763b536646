//! Throttling of password guessing and of account creation.
//!
//! Each limit is a fixed window per key: a Login that failed counts against
//! the account (the email as typed, trimmed and lowercased, whether or not it
//! exists, so the answers say nothing about which accounts exist) and against
//! the client's address; a Register counts against both too. A key at its
//! limit is refused before any argon2 work until its window ends, with the
//! time left as the retry hint. The counters live in memory, per replica: a
//! throttle, not an audit trail.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

/// The `[throttle]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ThrottleConfig {
    /// How long a counter lasts from its first event.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Failed logins per account per window; the next attempt is refused.
    pub login_failures_per_account: u32,
    /// Failed logins per client address per window.
    pub login_failures_per_address: u32,
    /// Registration attempts per email per window.
    pub registrations_per_account: u32,
    /// Registration attempts per client address per window.
    pub registrations_per_address: u32,
    /// Keys tracked per limit at most. Past it, expired windows are dropped,
    /// and if none has expired new keys go uncounted until one does: memory
    /// stays bounded under a flood of distinct addresses, and the keys
    /// already counted (the attacked accounts) stay throttled.
    pub max_tracked: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(15 * 60),
            login_failures_per_account: 10,
            login_failures_per_address: 100,
            registrations_per_account: 10,
            registrations_per_address: 100,
            max_tracked: 100_000,
        }
    }
}

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    LoginFailuresPerAccount,
    LoginFailuresPerAddress,
    RegistrationsPerAccount,
    RegistrationsPerAddress,
}

/// A refused attempt: try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub limit: Limit,
    pub retry_after: Duration,
}

/// Counters for every [`Limit`].
#[derive(Debug)]
pub struct Throttle {
    config: ThrottleConfig,
    windows: Mutex<HashMap<(Limit, Box<str>), Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

impl Throttle {
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn max(&self, limit: Limit) -> u32 {
        match limit {
            Limit::LoginFailuresPerAccount => self.config.login_failures_per_account,
            Limit::LoginFailuresPerAddress => self.config.login_failures_per_address,
            Limit::RegistrationsPerAccount => self.config.registrations_per_account,
            Limit::RegistrationsPerAddress => self.config.registrations_per_address,
        }
    }

    /// Refused if any of `keys` is at its limit in its current window.
    pub fn check(&self, keys: &[(Limit, &str)]) -> Result<(), Throttled> {
        self.check_at(Instant::now(), keys)
    }

    fn check_at(&self, now: Instant, keys: &[(Limit, &str)]) -> Result<(), Throttled> {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        for &(limit, key) in keys {
            let Some(window) = windows.get(&(limit, Box::from(key))) else {
                continue;
            };
            let ends = window.started + self.config.window;
            if now < ends && window.count >= self.max(limit) {
                return Err(Throttled {
                    limit,
                    retry_after: ends - now,
                });
            }
        }
        Ok(())
    }

    /// Counts one event against each of `keys`.
    pub fn record(&self, keys: &[(Limit, &str)]) {
        self.record_at(Instant::now(), keys);
    }

    fn record_at(&self, now: Instant, keys: &[(Limit, &str)]) {
        let period = self.config.window;
        // A poisoned lock only means a panic between two plain writes; the
        // counters are still usable.
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        for &(limit, key) in keys {
            let id = (limit, Box::from(key));
            if !windows.contains_key(&id) && windows.len() >= self.config.max_tracked {
                windows.retain(|_, w| now < w.started + period);
                if windows.len() >= self.config.max_tracked {
                    continue;
                }
            }
            let window = windows.entry(id).or_insert(Window {
                started: now,
                count: 0,
            });
            if now >= window.started + period {
                *window = Window {
                    started: now,
                    count: 0,
                };
            }
            window.count = window.count.saturating_add(1);
        }
    }

    /// Clears a key's counter (an account's failures after a good login).
    pub fn forget(&self, limit: Limit, key: &str) {
        self.windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(limit, Box::from(key)));
    }
}

/// The key of an account for throttling: the email as a person would type
/// it again, so `Ada@Example.com ` and `ada@example.com` share a counter.
pub fn account_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The client's address: the first hop of `x-forwarded-for` (the REST
/// gateway appends the address it was reached from, so behind a proxy chain
/// the first hop is the original client), else the connection's peer.
pub fn client_address(metadata: &tonic::metadata::MetadataMap, peer: Option<IpAddr>) -> String {
    let forwarded = metadata
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|chain| chain.split(',').next())
        .map(str::trim)
        .and_then(|first| first.parse::<IpAddr>().ok());
    match forwarded.or(peer) {
        Some(ip) => ip.to_string(),
        // No address at all (an in-process transport): one shared key.
        None => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(max: u32) -> Throttle {
        Throttle::new(ThrottleConfig {
            login_failures_per_account: max,
            max_tracked: 3,
            ..ThrottleConfig::default()
        })
    }

    const ADA: (Limit, &str) = (Limit::LoginFailuresPerAccount, "ada@example.com");

    #[test]
    fn the_attempt_past_the_limit_is_refused_until_the_window_ends() {
        let throttle = throttle(2);
        let start = Instant::now();
        for _ in 0..2 {
            assert!(throttle.check_at(start, &[ADA]).is_ok());
            throttle.record_at(start, &[ADA]);
        }
        let later = start + Duration::from_secs(60);
        let refused = throttle.check_at(later, &[ADA]).unwrap_err();
        assert_eq!(refused.limit, Limit::LoginFailuresPerAccount);
        assert_eq!(refused.retry_after, Duration::from_secs(14 * 60));
        let next_window = start + Duration::from_secs(15 * 60);
        assert!(throttle.check_at(next_window, &[ADA]).is_ok());
        throttle.record_at(next_window, &[ADA]);
        assert!(throttle.check_at(next_window, &[ADA]).is_ok());
    }

    #[test]
    fn a_good_login_clears_the_account() {
        let throttle = throttle(1);
        throttle.record(&[ADA]);
        assert!(throttle.check(&[ADA]).is_err());
        throttle.forget(ADA.0, ADA.1);
        assert!(throttle.check(&[ADA]).is_ok());
    }

    #[test]
    fn memory_is_bounded_and_counted_keys_stay_throttled() {
        let throttle = throttle(1);
        let now = Instant::now();
        throttle.record_at(now, &[ADA]);
        for i in 0..10 {
            let key = format!("flood-{i}");
            throttle.record_at(now, &[(Limit::LoginFailuresPerAccount, key.as_str())]);
        }
        assert!(throttle.windows.lock().unwrap().len() <= 3);
        assert!(throttle.check_at(now, &[ADA]).is_err());
    }

    #[test]
    fn the_address_is_the_first_forwarded_hop_else_the_peer() {
        let peer = Some(IpAddr::from([10, 0, 0, 9]));
        let mut metadata = tonic::metadata::MetadataMap::new();
        assert_eq!(client_address(&metadata, peer), "10.0.0.9");
        metadata.insert("x-forwarded-for", "203.0.113.7, 10.0.0.1".parse().unwrap());
        assert_eq!(client_address(&metadata, peer), "203.0.113.7");
        metadata.insert("x-forwarded-for", "not an address".parse().unwrap());
        assert_eq!(client_address(&metadata, peer), "10.0.0.9");
    }
}
