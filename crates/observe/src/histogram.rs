//! A latency histogram that records with a few relaxed atomic adds:
//! prometheus-client's takes a write lock per observation, which every
//! call on every core then contends for.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use prometheus_client::{
    encoding::{EncodeMetric, MetricEncoder, NoLabelSet},
    metrics::{MetricType, TypedMetric},
};

use crate::metrics::LATENCY_BUCKETS;

/// Seconds in [`LATENCY_BUCKETS`], the sum kept in nanoseconds.
#[derive(Debug, Clone, Default)]
pub struct LatencyHistogram {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Observations per bucket (not cumulative); the last is +Inf.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl LatencyHistogram {
    /// Records one duration of `seconds`.
    pub fn observe(&self, seconds: f64) {
        let index = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        let inner = &*self.inner;
        inner.buckets[index].fetch_add(1, Ordering::Relaxed);
        inner.count.fetch_add(1, Ordering::Relaxed);
        // Saturating float-to-int: a negative or NaN duration adds nothing.
        let nanos = (seconds * 1e9) as u64;
        inner.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.inner.count.load(Ordering::Relaxed)
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let inner = &*self.inner;
        let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
            .iter()
            .copied()
            .chain([f64::MAX])
            .zip(&inner.buckets)
            .map(|(bound, count)| (bound, count.load(Ordering::Relaxed)))
            .collect();
        // Under concurrent observations the total is read from the buckets,
        // so `_count` always equals the +Inf bucket.
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = inner.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use crate::Metrics;

    #[test]
    fn observations_land_in_cumulative_buckets() {
        let metrics = Metrics::new();
        let histogram = metrics.register("t_seconds", "t", super::LatencyHistogram::default());
        histogram.observe(0.0004);
        histogram.observe(0.003);
        histogram.observe(30.0);
        let text = metrics.encode();
        assert!(text.contains(r#"t_seconds_bucket{le="0.001"} 1"#), "{text}");
        assert!(text.contains(r#"t_seconds_bucket{le="0.005"} 2"#), "{text}");
        assert!(text.contains(r#"t_seconds_bucket{le="10.0"} 2"#), "{text}");
        assert!(text.contains(r#"t_seconds_bucket{le="+Inf"} 3"#), "{text}");
        assert!(text.contains("t_seconds_count 3"), "{text}");
        assert!(text.contains("t_seconds_sum 30.0034"), "{text}");
    }
}
