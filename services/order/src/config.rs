//! The order service's configuration: the shared sections plus where
//! product and payment are and the `[saga]` section. How calls to them
//! behave (timeouts, retries, breakers) is the mesh policy's to say.

use std::time::Duration;

use bazaar_runtime::client::ClientConfig;
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
    pub saga: SagaConfig,
    pub watch: WatchConfig,
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
            saga: SagaConfig::default(),
            watch: WatchConfig::default(),
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

/// The `[watch]` section: the bounds on WatchOrder streams.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(default)]
pub struct WatchConfig {
    /// Open watches per client connection; beyond, RESOURCE_EXHAUSTED.
    pub per_connection: usize,
    /// Open watches in this process; beyond, RESOURCE_EXHAUSTED.
    pub total: usize,
    /// How long one watch may last; it then ends and the client re-opens it.
    #[serde(with = "humantime_serde")]
    pub max_lifetime: Duration,
    /// How often one shared poller re-reads the watched orders (once each,
    /// however many watch them), to see what other replicas of the service
    /// changed; changes made here reach watchers at once through events.
    #[serde(with = "humantime_serde")]
    pub replica_poll: Duration,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            per_connection: 100,
            total: 1000,
            max_lifetime: Duration::from_secs(600),
            replica_poll: Duration::from_secs(2),
        }
    }
}
