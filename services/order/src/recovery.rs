//! The recovery worker: finishes sagas that no request is driving any more
//! (the request's process died, or a dependency's outcome was unknown).

use std::{sync::Arc, time::Duration};

use bazaar_runtime::db::now_micros;

use crate::{config::SagaConfig, saga::Saga, store::OrderStore};

/// Orders taken per sweep.
const BATCH: u32 = 50;

/// Sweeps every `config.recovery_interval` until `stop` turns true. An order
/// is taken only once its lease has run out, and leased again for
/// `config.lease` while it is driven.
pub async fn run<S: OrderStore>(
    saga: Arc<Saga<S>>,
    config: SagaConfig,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let lease_micros = i64::try_from(config.lease.as_micros()).unwrap_or(i64::MAX);
    loop {
        if *stop.borrow() {
            return;
        }
        let now = now_micros();
        match saga
            .store()
            .claim_stranded(now, now.saturating_add(lease_micros), BATCH)
            .await
        {
            Ok(orders) => {
                // Every claim is a takeover: the order's lease ran out, so
                // whoever drove it (another replica, a crashed or aborted
                // drive, a drive that blocked) has let go of it.
                saga.metrics()
                    .recovery_takeovers
                    .inc_by(u64::try_from(orders.len()).unwrap_or(u64::MAX));
                for order in orders {
                    let id = order.id;
                    match saga.drive_leased(order, None, None, config.lease).await {
                        Ok(driven) => tracing::info!(
                            order_id = %id,
                            state = driven.order.state.as_str(),
                            "recovery drove an order"
                        ),
                        Err(error) => {
                            tracing::warn!(order_id = %id, %error, "recovery failed; will retry")
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "recovery cannot read stranded orders"),
        }
        // After this scan's drives, so the gauges show what is left.
        match saga.store().unfinished().await {
            Ok(unfinished) => {
                let oldest = unfinished.oldest_created_at.map_or(0, |created_at| {
                    u64::try_from(now_micros().saturating_sub(created_at)).unwrap_or(0)
                });
                saga.metrics()
                    .unfinished(unfinished.count, Duration::from_micros(oldest));
            }
            Err(error) => tracing::warn!(%error, "recovery cannot count unfinished orders"),
        }
        let mut stop = stop.clone();
        tokio::select! {
            () = tokio::time::sleep(config.recovery_interval) => {}
            _ = stop.changed() => return,
        }
    }
}
