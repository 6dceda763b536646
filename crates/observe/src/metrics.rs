//! One registry per process (per service instance in tests): what the
//! admin port's `/metrics` shows.

use std::sync::{Arc, Mutex, PoisonError};

pub use crate::histogram::LatencyHistogram;

use prometheus_client::{
    collector::Collector,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::{Metric, Registry},
};

/// Latency buckets in seconds: Prometheus's defaults with two more below
/// 5 ms, where most of our calls are.
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A shared metrics registry. Handles returned by the `register` methods
/// are cheap to clone and update without touching the registry.
#[derive(Clone, Default)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `metric` as `name` (counters get `_total` appended) and
    /// hands it back.
    pub fn register<M: Metric + Clone>(&self, name: &str, help: &str, metric: M) -> M {
        self.with(|registry| registry.register(name, help, metric.clone()));
        metric
    }

    /// A plain counter, exposed as `<name>_total`.
    pub fn counter(&self, name: &str, help: &str) -> Counter {
        self.register(name, help, Counter::default())
    }

    /// A gauge.
    pub fn gauge(&self, name: &str, help: &str) -> Gauge {
        self.register(name, help, Gauge::default())
    }

    /// A labelled family of counters or gauges.
    pub fn family<L, M>(&self, name: &str, help: &str) -> Family<L, M>
    where
        Family<L, M>: Metric + Clone + Default,
    {
        self.register(name, help, Family::default())
    }

    /// A labelled family of latency histograms (seconds,
    /// [`LATENCY_BUCKETS`]).
    pub fn latency_family<L>(&self, name: &str, help: &str) -> Family<L, LatencyHistogram>
    where
        Family<L, LatencyHistogram>: Metric + Clone + Default,
    {
        self.family(name, help)
    }

    /// Metrics computed at each scrape (pool sizes, breaker states).
    pub fn register_collector(&self, collector: impl Collector) {
        self.with(|registry| registry.register_collector(Box::new(collector)));
    }

    /// The Prometheus text exposition of everything registered.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = self.with(|registry| prometheus_client::encoding::text::encode(&mut out, registry));
        out
    }

    fn with<T>(&self, f: impl FnOnce(&mut Registry) -> T) -> T {
        f(&mut self.registry.lock().unwrap_or_else(PoisonError::into_inner))
    }
}
