//! The outbox relay: publishes pending order events to NATS JetStream in the
//! order they happened, each with its event id as `Nats-Msg-Id` (the broker
//! drops a copy it has seen within the duplicate window), then marks them
//! sent, and prunes sent ones later. A crash between publishing and marking
//! republishes at most one batch, which the broker deduplicates; consumers
//! are idempotent by event id for the rest.
//!
//! An idle relay is woken by the store as soon as a transaction that wrote
//! events commits, so an event reaches the broker within milliseconds;
//! `events.poll_interval` is the fallback, for rows another replica wrote.
//!
//! Each publish is a span of its own (`order_events.publish`, kind
//! PRODUCER), a child of the trace context the change stored with its row,
//! and its own context goes out as the message's `traceparent` (and
//! `tracestate`) header: the trace reads change → publish → consumer.

use std::{sync::Arc, time::Duration};

use async_nats::{
    HeaderMap,
    jetstream::{self, context::PublishAckFuture, stream},
};
use bazaar_runtime::{db::now_micros, shutdown::pause};
use tokio::sync::watch;
use tracing::{Instrument as _, Span, field::Empty};

use crate::{
    config::EventsConfig,
    metrics::OrderMetrics,
    store::sql::{SqlOrderStore, StoredEvent},
};

/// Waits between attempts while the broker cannot be reached.
const BACKOFF: Duration = Duration::from_secs(1);
/// How often the backlog is counted (the gauge, PlaceOrder's bound).
const COUNT_INTERVAL: Duration = Duration::from_millis(250);

/// Runs until `stop`; does nothing without `events.nats_url`.
pub async fn run(
    store: Arc<SqlOrderStore>,
    config: EventsConfig,
    metrics: OrderMetrics,
    mut stop: watch::Receiver<bool>,
) {
    let Some(url) = config.nats_url.clone() else {
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
            tracing::error!(%error, %url, "bad NATS address; order events wait in the outbox");
            return;
        }
    };
    let relay = Arc::new(Relay::new(store, client, config));
    // Counted on its own beat: a broker that does not answer can hold the
    // publishing loop for a request timeout.
    let counting = Arc::clone(&relay);
    let mut counting_stop = stop.clone();
    let counter = tokio::spawn(async move {
        let mut last_warning = None;
        loop {
            counting.measure_backlog(&metrics, &mut last_warning).await;
            if pause(&mut counting_stop, COUNT_INTERVAL, std::future::pending()).await {
                return;
            }
        }
    });
    let _stop_counting = AbortOnDrop(counter);
    let mut stream_ready = false;
    let mut last_prune = now_micros();
    loop {
        if !stream_ready {
            stream_ready = relay.ensure_stream().await;
        }
        // Only an idle relay is woken by a commit: after a failure it backs
        // off whatever is written meanwhile.
        let (wait, wake) = if !stream_ready {
            (BACKOFF, false)
        } else {
            match relay.publish_batch().await {
                Ok(published) if published > 0 => (Duration::ZERO, false),
                Ok(_) => (relay.config.poll_interval, true),
                Err(error) => {
                    tracing::warn!(%error, "publishing order events failed; they stay in the outbox");
                    (BACKOFF, false)
                }
            }
        };
        let now = now_micros();
        if now - last_prune > 60_000_000 {
            last_prune = now;
            relay.prune(now).await;
        }
        let written = async {
            if wake {
                relay.store.outbox_written().await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        if pause(&mut stop, wait, written).await {
            return;
        }
    }
}

/// The span of publishing `event`: a PRODUCER child of the trace context
/// stored with it (a root when it has none).
fn publish_span(event: &StoredEvent, subject: &str) -> Span {
    let mut carrier = tonic::codegen::http::HeaderMap::new();
    if let Ok(value) = event.traceparent.parse() {
        carrier.insert("traceparent", value);
    }
    let parent = bazaar_runtime::telemetry::extract_context(&carrier);
    // Current while the span is made, the stored context becomes its
    // parent: the runtime's OpenTelemetry layer parents new spans on the
    // active context (no extra crate for `set_parent`).
    let _active = parent.attach();
    tracing::info_span!(
        "order_events.publish",
        otel.kind = "producer",
        otel.status_code = Empty,
        otel.status_description = Empty,
        messaging.system = "nats",
        messaging.destination.name = subject,
        messaging.message.id = %event.event_id,
    )
}

/// The current span's trace context as message headers.
fn trace_headers() -> Vec<(&'static str, String)> {
    let mut carrier = tonic::codegen::http::HeaderMap::new();
    bazaar_runtime::telemetry::inject_current_context(&mut carrier);
    ["traceparent", "tracestate"]
        .into_iter()
        .filter_map(|name| {
            let value = carrier.get(name)?.to_str().ok()?;
            (!value.is_empty()).then(|| (name, value.to_owned()))
        })
        .collect()
}

fn failed(span: &Span, error: &dyn std::fmt::Display) {
    span.record("otel.status_code", "ERROR");
    span.record("otel.status_description", error.to_string().as_str());
}

/// Aborts the task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub struct Relay {
    store: Arc<SqlOrderStore>,
    jetstream: jetstream::Context,
    config: EventsConfig,
}

impl Relay {
    pub fn new(
        store: Arc<SqlOrderStore>,
        client: async_nats::Client,
        config: EventsConfig,
    ) -> Self {
        Self {
            store,
            jetstream: jetstream::new(client),
            config,
        }
    }

    /// Creates the stream if it is missing; whether it exists.
    pub async fn ensure_stream(&self) -> bool {
        let config = stream::Config {
            name: self.config.stream.clone(),
            subjects: vec![format!("{}.>", self.config.subject_prefix)],
            max_age: self.config.retention,
            duplicate_window: self.config.duplicate_window,
            ..stream::Config::default()
        };
        match self.jetstream.get_or_create_stream(config).await {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(%error, stream = %self.config.stream, "cannot create the order events stream");
                false
            }
        }
    }

    /// The subject an event goes out on: its name under the prefix.
    fn subject(&self, event: &StoredEvent) -> String {
        let name = event.subject.rsplit('.').next().unwrap_or(&event.subject);
        format!("{}.{name}", self.config.subject_prefix)
    }

    /// Publishes one batch of pending events (acknowledgements awaited in
    /// order after all are sent) and marks the acknowledged ones sent;
    /// how many were published.
    pub async fn publish_batch(&self) -> anyhow::Result<usize> {
        let pending = self.store.pending_events(self.config.batch).await?;
        let mut acks: Vec<(String, PublishAckFuture, Span)> = Vec::with_capacity(pending.len());
        let mut failure = None;
        for event in pending {
            let subject = self.subject(&event);
            let span = publish_span(&event, &subject);
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", event.event_id.as_str());
            for (name, value) in span.in_scope(trace_headers) {
                headers.insert(name, value.as_str());
            }
            match self
                .jetstream
                .publish_with_headers(subject, headers, event.payload.into())
                .instrument(span.clone())
                .await
            {
                Ok(ack) => acks.push((event.event_id, ack, span)),
                Err(error) => {
                    failed(&span, &error);
                    failure = Some(anyhow::Error::from(error));
                    break;
                }
            }
        }
        let mut sent = Vec::with_capacity(acks.len());
        // Each span lasts until its acknowledgement: a publish is done when
        // the broker has the event.
        for (event_id, ack, span) in acks {
            // An event after an unacknowledged one waits too, so each
            // order's events are marked in the order they happened.
            if failure.is_some() {
                break;
            }
            match ack.into_future().instrument(span.clone()).await {
                Ok(_) => sent.push(event_id),
                Err(error) => {
                    failed(&span, &error);
                    failure = Some(error.into());
                }
            }
        }
        if !sent.is_empty() {
            self.store.mark_sent(&sent, now_micros()).await?;
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(sent.len()),
        }
    }

    /// Counts what waits, for the gauge PlaceOrder's bound reads, and warns
    /// (once a minute at most) from half of the bound.
    async fn measure_backlog(&self, metrics: &OrderMetrics, last_warning: &mut Option<i64>) {
        let pending = match self.store.pending_count().await {
            Ok(pending) => pending,
            Err(error) => {
                tracing::warn!(%error, "cannot count the order events waiting");
                return;
            }
        };
        metrics.set_outbox_pending(pending);
        let now = now_micros();
        if pending >= self.config.max_pending / 2
            && last_warning.is_none_or(|at| now - at > 60_000_000)
        {
            *last_warning = Some(now);
            tracing::warn!(
                pending,
                max_pending = self.config.max_pending,
                "order events are piling up in the outbox (NATS unreachable?); at the maximum, checkout stops"
            );
        }
    }

    async fn prune(&self, now: i64) {
        let keep = i64::try_from(self.config.prune_after.as_micros()).unwrap_or(i64::MAX);
        if let Err(error) = self.store.prune_sent(now.saturating_sub(keep)).await {
            tracing::warn!(%error, "pruning sent order events failed");
        }
    }
}
