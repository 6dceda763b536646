//! The notification service's own metrics: what became of each delivered
//! event, beside the per-RPC metrics the runtime keeps.

use bazaar_observe::{
    Metrics,
    prometheus_client::metrics::{counter::Counter, family::Family},
};

/// What a delivery of an event came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new notification.
    Notified,
    /// Nothing to tell the customer (an order placed).
    Ignored,
    /// An event seen before (a redelivery): nothing new.
    Duplicate,
    /// Failed; delivered again after `events.retry_delay`.
    Retried,
    /// Failed `events.max_deliver` times; sent to the dead-letter subject.
    DeadLettered,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Notified => "notified",
            Self::Ignored => "ignored",
            Self::Duplicate => "duplicate",
            Self::Retried => "retried",
            Self::DeadLettered => "dead_lettered",
        }
    }
}

#[derive(Clone, Debug)]
pub struct NotificationMetrics {
    events: Family<[(&'static str, &'static str); 1], Counter>,
}

impl NotificationMetrics {
    pub fn register(metrics: &Metrics) -> Self {
        Self {
            events: metrics.family(
                "bazaar_notification_events",
                "Order event deliveries by outcome: notified, ignored, duplicate, retried, dead_lettered",
            ),
        }
    }

    pub fn count(&self, outcome: Outcome) {
        self.events
            .get_or_create(&[("outcome", outcome.as_str())])
            .inc();
    }
}
