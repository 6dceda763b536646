//! The notification service's configuration: the shared sections plus the
//! `[events]` section. The keys it shares with the order service's
//! `[events]` (`nats_url`, `stream`, `subject_prefix`) mean the same there,
//! so one setting points both at the same stream.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The notification service's whole configuration.
pub type Config = bazaar_runtime::service::Config<Settings>;

/// What only the notification service configures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub events: EventsConfig,
}

impl bazaar_runtime::service::Settings for Settings {
    const NAME: &'static str = "notification";
    const DEFAULT_PORT: u16 = 50055;
}

/// The `[events]` section: where the order events come from and what
/// happens to one that cannot be handled.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct EventsConfig {
    /// The NATS server (`nats://127.0.0.1:4222`). Unset, nothing is consumed
    /// and no notification is made.
    pub nats_url: Option<String>,
    /// The order service's JetStream stream; consuming starts once it exists.
    pub stream: String,
    /// The order events' subjects are `<subject_prefix>.<Event>`.
    pub subject_prefix: String,
    /// The durable consumer's name: its position in the stream survives
    /// restarts, and replicas of this service share it.
    pub consumer: String,
    /// Deliveries of one event before it goes to the dead-letter subject.
    pub max_deliver: u32,
    /// How long a delivery may go unacknowledged (a stuck or dead consumer)
    /// before the broker delivers it again.
    #[serde(with = "humantime_serde")]
    pub ack_wait: Duration,
    /// How long a failed event waits before it is delivered again.
    #[serde(with = "humantime_serde")]
    pub retry_delay: Duration,
    /// Where an event goes after `max_deliver` failed deliveries, with the
    /// last error in its headers.
    pub dead_letter_subject: String,
    /// The stream that keeps dead letters for people to look at; created
    /// when missing.
    pub dead_letter_stream: String,
    /// How long dead letters are kept.
    #[serde(with = "humantime_serde")]
    pub dead_letter_retention: Duration,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            nats_url: None,
            stream: "BAZAAR_ORDER_EVENTS".to_owned(),
            subject_prefix: "bazaar.order.v1".to_owned(),
            consumer: "notification".to_owned(),
            max_deliver: 5,
            ack_wait: Duration::from_secs(30),
            retry_delay: Duration::from_secs(1),
            dead_letter_subject: "bazaar.notification.v1.dead_letter".to_owned(),
            dead_letter_stream: "BAZAAR_NOTIFICATION_DEAD_LETTER".to_owned(),
            dead_letter_retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}
