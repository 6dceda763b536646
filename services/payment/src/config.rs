//! The payment service's configuration: the shared sections plus the
//! simulated processor's `[processor]` section.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The payment service's whole configuration.
pub type Config = bazaar_runtime::service::Config<Settings>;

/// What only the payment service configures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub processor: ProcessorConfig,
}

impl bazaar_runtime::service::Settings for Settings {
    const NAME: &'static str = "payment";
    const DEFAULT_PORT: u16 = 50054;
}

/// The `[processor]` section: how the simulated card processor behaves.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessorConfig {
    /// How long the "slow" test card takes to answer.
    #[serde(with = "humantime_serde")]
    pub slow_latency: Duration,
    /// The secret of the card fingerprint (HMAC-SHA256 of the full number)
    /// that tells one card from another without storing it. Unset: a fixed
    /// development secret, with a warning at start.
    pub fingerprint_secret: Option<String>,
    /// How long a pending charge the processor has no record of is left to
    /// the caller making it before a lookup voids it as never submitted.
    #[serde(with = "humantime_serde")]
    pub pending_grace: Duration,
}

/// The secret used when none is configured: fine on a laptop, never in
/// production, where it would make fingerprints guessable.
pub const DEV_FINGERPRINT_SECRET: &str = "bazaar-card-fingerprint-dev";

impl ProcessorConfig {
    /// The configured fingerprint secret, or the development one with a
    /// warning.
    pub fn fingerprint_secret(&self) -> &str {
        match self.fingerprint_secret.as_deref() {
            Some(secret) if !secret.is_empty() => secret,
            _ => {
                tracing::warn!(
                    "processor.fingerprint_secret is not set: card fingerprints use the \
                     development secret; set one in production"
                );
                DEV_FINGERPRINT_SECRET
            }
        }
    }
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        Self {
            slow_latency: Duration::from_secs(3),
            fingerprint_secret: None,
            pending_grace: Duration::from_secs(10),
        }
    }
}
