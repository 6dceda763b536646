//! The product service's domain metrics: what happened to stock, beside the
//! per-RPC metrics the runtime keeps.

use bazaar_observe::{Metrics, prometheus_client::metrics::counter::Counter};

/// Handles registered once per service instance.
#[derive(Clone, Debug)]
pub struct StockMetrics {
    /// `bazaar_reservations_expired_total`: reservations the sweeper expired
    /// (their stock returned because the order never committed).
    pub reservations_expired: Counter,
    /// `bazaar_stockouts_total`: reservations refused for want of stock.
    pub stockouts: Counter,
}

impl StockMetrics {
    pub fn register(metrics: &Metrics) -> Self {
        Self {
            reservations_expired: metrics.counter(
                "bazaar_reservations_expired",
                "Stock reservations expired by the sweeper because their order never committed",
            ),
            stockouts: metrics.counter(
                "bazaar_stockouts",
                "Stock reservations refused because a product had too little stock",
            ),
        }
    }
}
