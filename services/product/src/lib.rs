//! The product service: the catalog and its stock.
//!
//! [`run`] is the whole service on a given listener, so `main` and the tests
//! start exactly the same thing.

pub mod config;
pub mod domain;
pub mod grpc;
pub mod metrics;
pub mod store;

mod seed;
mod sweeper;

use std::future::Future;

use bazaar_proto::product::v1::product_service_server::ProductServiceServer;
use bazaar_runtime::service::App;
use tokio::net::TcpListener;

pub use config::Config;

use crate::{grpc::ProductApi, metrics::StockMetrics, store::sql::SqlStore};

/// Serves the product service on `listener` until `shutdown` completes.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let mut app = App::start(config.shared, store::sql::MIGRATIONS).await?;
    let store = SqlStore::new(app.db().clone());
    let stock = config.settings.stock;
    if config.settings.seed_catalog {
        seed::load_if_empty(&store).await?;
    }
    let metrics = StockMetrics::register(app.metrics());
    let sweeping = metrics.clone();
    app.spawn(|stopped| sweeper::run(store.clone(), stock.sweep_interval, sweeping, stopped));
    // Who may call what (the stock RPCs: the order service alone) and which
    // RPCs need a user token is the mesh policy's to say.
    let api = ProductServiceServer::new(ProductApi::new(store, stock.reservation_ttl, metrics));
    Ok(app.serve(api, listener, shutdown).await?)
}
