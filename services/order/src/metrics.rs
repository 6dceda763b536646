//! The order service's domain metrics: how checkouts end, how long each
//! saga step takes, and what recovery finds, beside the per-RPC metrics the
//! runtime keeps. Every label is one of a few fixed values.

use std::{sync::atomic::AtomicU64, time::Duration};

use bazaar_observe::{
    LatencyHistogram, Metrics,
    prometheus_client::metrics::{counter::Counter, family::Family, gauge::Gauge},
};

use crate::domain::{FailureKind, Order, SagaState};

/// A step of the saga: a call to another service and its outcome
/// persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SagaStep {
    Reserve,
    Charge,
    Commit,
    Release,
    Refund,
}

impl SagaStep {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserve => "reserve",
            Self::Charge => "charge",
            Self::Commit => "commit",
            Self::Release => "release",
            Self::Refund => "refund",
        }
    }
}

type Labels<const N: usize> = [(&'static str, &'static str); N];

/// Handles registered once per service instance.
#[derive(Clone, Debug)]
pub struct OrderMetrics {
    finished: Family<Labels<2>, Counter>,
    steps: Family<Labels<2>, LatencyHistogram>,
    /// `bazaar_order_recovery_takeovers_total`.
    pub recovery_takeovers: Counter,
    unfinished: Gauge,
    unfinished_oldest_seconds: Gauge<f64, AtomicU64>,
    outbox_pending: Gauge,
}

impl OrderMetrics {
    pub fn register(metrics: &Metrics) -> Self {
        Self {
            finished: metrics.family(
                "bazaar_orders_finished",
                "Orders that reached confirmed, failed or cancelled, by state and failure reason",
            ),
            steps: metrics.latency_family(
                "bazaar_saga_step_duration_seconds",
                "Time of each checkout saga step (the call and its outcome persisted), by step and outcome",
            ),
            recovery_takeovers: metrics.counter(
                "bazaar_order_recovery_takeovers",
                "Orders the recovery worker took over once their lease ran out (a crashed, aborted or blocked drive)",
            ),
            outbox_pending: metrics.gauge(
                "bazaar_order_outbox_pending",
                "Order events in the outbox not yet acknowledged by NATS, as of the relay's last look",
            ),
            unfinished: metrics.gauge(
                "bazaar_orders_unfinished",
                "Orders whose saga has not settled, as of the last recovery scan",
            ),
            unfinished_oldest_seconds: metrics.register(
                "bazaar_orders_unfinished_oldest_seconds",
                "Age of the oldest order whose saga has not settled, as of the last recovery scan (0 when none)",
                Gauge::default(),
            ),
        }
    }

    /// Counts `order`, which has just reached `state`, if that state
    /// finishes a checkout or a cancellation. Called once per transition
    /// that took effect, so each order counts once per state.
    pub fn moved(&self, order: &Order) {
        let (state, reason) = match order.state {
            SagaState::Confirmed | SagaState::Cancelled => (order.state.as_str(), "none"),
            // Failed before failure kinds were recorded: still a failure.
            SagaState::Failed => (
                order.state.as_str(),
                order.failure_kind.unwrap_or(FailureKind::Other).as_str(),
            ),
            _ => return,
        };
        self.finished
            .get_or_create(&[("state", state), ("reason", reason)])
            .inc();
    }

    /// Records one step's duration; `ok` when it achieved what it set out to.
    pub fn step(&self, step: SagaStep, ok: bool, took: Duration) {
        let outcome = if ok { "ok" } else { "error" };
        self.steps
            .get_or_create(&[("step", step.as_str()), ("outcome", outcome)])
            .observe(took.as_secs_f64());
    }

    /// What the last recovery scan saw: `count` unsettled orders, the
    /// oldest placed `oldest` ago.
    pub fn set_outbox_pending(&self, count: u64) {
        self.outbox_pending
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    pub fn outbox_pending(&self) -> u64 {
        u64::try_from(self.outbox_pending.get()).unwrap_or(0)
    }

    pub fn unfinished(&self, count: u64, oldest: Duration) {
        self.unfinished
            .set(i64::try_from(count).unwrap_or(i64::MAX));
        self.unfinished_oldest_seconds.set(oldest.as_secs_f64());
    }
}
