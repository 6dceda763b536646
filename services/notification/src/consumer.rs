//! The order events consumer: a durable JetStream pull consumer with
//! explicit acknowledgement. Each delivery is parsed, rendered and recorded
//! under its event id (a redelivery finds its notification there and adds
//! none), then acknowledged. A failed delivery is delivered again after
//! `retry_delay`; at `max_deliver` failed deliveries it goes to the
//! dead-letter subject, with the reason in its headers, and is terminated.
//!
//! The bound is this consumer's, not the broker's (whose `max_deliver` is
//! unlimited): an event whose dead letter could not be published is
//! delivered again rather than dropped.

use std::time::Duration;

use async_nats::{
    HeaderMap,
    jetstream::{
        self, AckKind, Message,
        consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull},
        stream,
    },
};
use bazaar_runtime::shutdown::pause;
use futures_util::StreamExt;
use tokio::sync::watch;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    config::EventsConfig,
    domain::Notification,
    events,
    metrics::{NotificationMetrics, Outcome},
    store::NotificationStore,
};

/// Waits between attempts while the broker or the stream is missing.
const BACKOFF: Duration = Duration::from_secs(1);

/// Headers a dead letter carries besides the event's own.
pub const DEAD_LETTER_REASON: &str = "Bazaar-Dead-Letter-Reason";
pub const DEAD_LETTER_SUBJECT: &str = "Bazaar-Dead-Letter-Subject";
pub const DEAD_LETTER_DELIVERIES: &str = "Bazaar-Dead-Letter-Deliveries";

/// Runs until `stop`; does nothing without `events.nats_url`.
pub async fn run(
    store: NotificationStore,
    config: EventsConfig,
    metrics: NotificationMetrics,
    mut stop: watch::Receiver<bool>,
) {
    let Some(url) = config.nats_url.clone() else {
        tracing::info!("events.nats_url is not set: no order events are consumed");
        return;
    };
    // Connects in the background, and again whenever the connection drops.
    let client = match async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(&url)
        .await
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, %url, "bad NATS address; no order events are consumed");
            return;
        }
    };
    let consumer = Consumer {
        jetstream: jetstream::new(client),
        store,
        config,
        metrics,
    };
    loop {
        match consumer.consume(&mut stop).await {
            Ok(()) => return,
            Err(error) => tracing::warn!(%error, "consuming order events stopped; starting again"),
        }
        if pause(&mut stop, BACKOFF, std::future::pending()).await {
            return;
        }
    }
}

struct Consumer {
    jetstream: jetstream::Context,
    store: NotificationStore,
    config: EventsConfig,
    metrics: NotificationMetrics,
}

impl Consumer {
    /// Handles deliveries until stopped (`Ok`) or the subscription fails.
    async fn consume(&self, stop: &mut watch::Receiver<bool>) -> anyhow::Result<()> {
        let consumer = self.subscribe().await?;
        let mut messages = consumer.messages().await?;
        tracing::info!(stream = %self.config.stream, consumer = %self.config.consumer, "consuming order events");
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            let next = tokio::select! {
                next = messages.next() => next,
                _ = stop.changed() => return Ok(()),
            };
            match next {
                Some(Ok(message)) => self.handle(message).await,
                // The pull loop carries on by itself after a missed
                // heartbeat (the broker restarting, say).
                Some(Err(error)) if error.kind() == pull::MessagesErrorKind::MissingHeartbeat => {
                    tracing::debug!(%error, "order events: missed heartbeat");
                }
                Some(Err(error)) => return Err(error.into()),
                None => anyhow::bail!("the order events subscription ended"),
            }
        }
    }

    /// The durable consumer, and the dead-letter stream, created when
    /// missing; the order service creates the events stream.
    async fn subscribe(&self) -> anyhow::Result<PullConsumer> {
        let stream = match self.jetstream.get_stream(&self.config.stream).await {
            Ok(stream) => stream,
            Err(error) => {
                tracing::info!(%error, stream = %self.config.stream, "waiting for the order events stream");
                return Err(error.into());
            }
        };
        self.jetstream
            .get_or_create_stream(stream::Config {
                name: self.config.dead_letter_stream.clone(),
                subjects: vec![self.config.dead_letter_subject.clone()],
                max_age: self.config.dead_letter_retention,
                ..stream::Config::default()
            })
            .await?;
        let consumer = stream
            .get_or_create_consumer(
                &self.config.consumer,
                pull::Config {
                    durable_name: Some(self.config.consumer.clone()),
                    description: Some("Bazaar notifications".to_owned()),
                    deliver_policy: DeliverPolicy::All,
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: self.config.ack_wait,
                    max_deliver: -1,
                    filter_subject: format!("{}.>", self.config.subject_prefix),
                    ..pull::Config::default()
                },
            )
            .await?;
        Ok(consumer)
    }

    /// One delivery, in a span that continues the publisher's trace.
    async fn handle(&self, message: Message) {
        let deliveries = message.info().map_or(1, |info| info.delivered);
        let span = tracing::info_span!(
            "order_events.consume",
            otel.kind = "consumer",
            messaging.system = "nats",
            messaging.destination.name = %message.subject,
            messaging.consumer.group.name = %self.config.consumer,
            deliveries,
        );
        if let Some(headers) = &message.headers {
            let _ = span.set_parent(bazaar_observe::propagation::extract(&trace_headers(
                headers,
            )));
        }
        self.settle(message, deliveries).instrument(span).await;
    }

    async fn settle(&self, message: Message, deliveries: i64) {
        let max_deliver = i64::from(self.config.max_deliver.max(1));
        let result = if deliveries > max_deliver {
            // Failed before without being dead-lettered (the process died).
            Err(anyhow::anyhow!(
                "delivered more than events.max_deliver times"
            ))
        } else {
            self.process(&message).await
        };
        let acknowledged = match result {
            Ok(outcome) => {
                self.metrics.count(outcome);
                message.ack().await
            }
            Err(error) if deliveries >= max_deliver => {
                match self.dead_letter(&message, deliveries, &error).await {
                    Ok(()) => {
                        tracing::error!(%error, deliveries, subject = %message.subject, "order event sent to the dead-letter subject");
                        self.metrics.count(Outcome::DeadLettered);
                        message.ack_with(AckKind::Term).await
                    }
                    Err(publish_error) => {
                        tracing::error!(%error, %publish_error, "cannot dead-letter an order event; it is delivered again");
                        message
                            .ack_with(AckKind::Nak(Some(self.config.retry_delay)))
                            .await
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, deliveries, subject = %message.subject, "order event failed; it is delivered again");
                self.metrics.count(Outcome::Retried);
                message
                    .ack_with(AckKind::Nak(Some(self.config.retry_delay)))
                    .await
            }
        };
        // Unacknowledged, it comes again after ack_wait: no harm done.
        if let Err(error) = acknowledged {
            tracing::warn!(%error, "cannot acknowledge an order event");
        }
    }

    async fn process(&self, message: &Message) -> anyhow::Result<Outcome> {
        let event = events::parse(&message.subject, &message.payload)?;
        let Some(notification) = Notification::render(&event) else {
            return Ok(Outcome::Ignored);
        };
        Ok(if self.store.record(&notification).await? {
            Outcome::Notified
        } else {
            Outcome::Duplicate
        })
    }

    /// Publishes the event, its headers and why it failed to the
    /// dead-letter subject, and waits for the stream to have it.
    async fn dead_letter(
        &self,
        message: &Message,
        deliveries: i64,
        error: &anyhow::Error,
    ) -> anyhow::Result<()> {
        let mut headers = message.headers.clone().unwrap_or_default();
        headers.insert(DEAD_LETTER_REASON, header_text(&error.to_string()));
        headers.insert(DEAD_LETTER_SUBJECT, message.subject.as_str());
        headers.insert(DEAD_LETTER_DELIVERIES, deliveries.to_string());
        self.jetstream
            .publish_with_headers(
                self.config.dead_letter_subject.clone(),
                headers,
                message.payload.clone(),
            )
            .await?
            .await?;
        Ok(())
    }
}

/// The W3C trace headers of a message, as the propagator reads them.
fn trace_headers(headers: &HeaderMap) -> http::HeaderMap {
    let mut trace = http::HeaderMap::new();
    for name in ["traceparent", "tracestate"] {
        if let Some(value) = headers
            .get(name)
            .and_then(|value| http::HeaderValue::from_str(value.as_str()).ok())
        {
            trace.insert(name, value);
        }
    }
    trace
}

/// `text` as one header line.
fn header_text(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(500)
        .collect()
}
