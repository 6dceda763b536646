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
    pub events: EventsConfig,
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
            events: EventsConfig::default(),
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

/// The `[events]` section: where the outbox relay publishes order events.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct EventsConfig {
    /// The NATS server (`nats://127.0.0.1:4222`). Unset, the relay is off and
    /// events wait in the outbox.
    pub nats_url: Option<String>,
    /// The JetStream stream the events go to; created when missing.
    pub stream: String,
    /// Events are published on `<subject_prefix>.<Event>`, e.g.
    /// `bazaar.order.v1.OrderConfirmed`; the stream takes
    /// `<subject_prefix>.>`.
    pub subject_prefix: String,
    /// How long the stream keeps an event.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// How long the broker remembers an event id, dropping a republished
    /// copy (after a relay crash between publishing and marking sent).
    #[serde(with = "humantime_serde")]
    pub duplicate_window: Duration,
    /// Events per publish batch.
    pub batch: u32,
    /// How often an idle relay looks for new events.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Sent events leave the outbox after this.
    #[serde(with = "humantime_serde")]
    pub prune_after: Duration,
    /// The most events that may wait unsent (NATS away): beyond, PlaceOrder
    /// answers UNAVAILABLE rather than record an order whose events could
    /// not be kept. A warning is logged from half of it.
    pub max_pending: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            nats_url: None,
            stream: "BAZAAR_ORDER_EVENTS".to_owned(),
            subject_prefix: "bazaar.order.v1".to_owned(),
            retention: Duration::from_secs(7 * 24 * 3600),
            duplicate_window: Duration::from_secs(600),
            batch: 256,
            poll_interval: Duration::from_millis(100),
            prune_after: Duration::from_secs(3600),
            max_pending: 100_000,
        }
    }
}
