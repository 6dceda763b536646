//! The recovery worker: finishes sagas that no request is driving any more
//! (the request's process died, or a dependency's outcome was unknown).

use std::sync::Arc;

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
        let mut stop = stop.clone();
        tokio::select! {
            () = tokio::time::sleep(config.recovery_interval) => {}
            _ = stop.changed() => return,
        }
    }
}
