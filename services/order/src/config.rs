//! The order service's configuration: the shared sections plus the clients
//! of product and payment, their retries and the `[saga]` section.

use std::time::Duration;

use bazaar_runtime::client::{ClientConfig, RetryPolicy};
use serde::{Deserialize, Serialize};

/// The order service's whole configuration.
pub type Config = bazaar_runtime::service::Config<Settings>;

/// What only the order service configures.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The product service (stock).
    pub product: ClientConfig,
    /// The payment service (charges).
    pub payment: ClientConfig,
    /// Retries of calls to product and payment. All of them are idempotent;
    /// turn retries off (`max_attempts = 1`) where the mesh retries instead.
    pub retries: RetryPolicy,
    pub saga: SagaConfig,
}

impl bazaar_runtime::service::Settings for Settings {
    const NAME: &'static str = "order";
    const DEFAULT_PORT: u16 = 50053;
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            product: ClientConfig::for_url("http://127.0.0.1:50052"),
            payment: ClientConfig::for_url("http://127.0.0.1:50054"),
            retries: RetryPolicy::default(),
            saga: SagaConfig::default(),
        }
    }
}

/// The `[saga]` section.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(default)]
pub struct SagaConfig {
    /// How long a request owns an order's saga before the recovery worker may
    /// take it over; longer than any request can take.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// How often the recovery worker looks for stranded orders.
    #[serde(with = "humantime_serde")]
    pub recovery_interval: Duration,
    /// How long a repeated PlaceOrder waits for the first one to settle.
    #[serde(with = "humantime_serde")]
    pub duplicate_wait: Duration,
}

impl Default for SagaConfig {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            recovery_interval: Duration::from_secs(5),
            duplicate_wait: Duration::from_secs(10),
        }
    }
}
