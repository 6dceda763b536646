//! Returns the stock of reservations whose order never committed.
//!
//! An order that crashes between reserving and committing would otherwise
//! hold stock forever. Each sweep is a set of small transactions conditional
//! on the reservation still being RESERVED and due, so it cannot undo a
//! commit or release that wins the race.

use std::time::Duration;

use bazaar_runtime::db;
use tokio::{sync::watch, time::MissedTickBehavior};

use crate::{metrics::StockMetrics, store::ProductStore};

/// Sweeps every `interval` until `stop` changes or its sender is dropped.
pub async fn run(
    store: impl ProductStore,
    interval: Duration,
    metrics: StockMetrics,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(1)));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = ticks.tick() => {}
        }
        match store.expire_due(db::now_micros()).await {
            Ok(0) => {}
            Ok(expired) => {
                // Only the reservations whose expiry this sweep committed.
                metrics
                    .reservations_expired
                    .inc_by(u64::try_from(expired).unwrap_or(u64::MAX));
                tracing::info!(expired, "expired stale reservations");
            }
            // Logged and retried next tick: the store may be briefly down.
            Err(error) => tracing::warn!(%error, "sweeping expired reservations failed"),
        }
    }
}
