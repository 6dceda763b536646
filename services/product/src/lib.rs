//! The product service: the catalog and its stock.
//!
//! [`run`] is the whole service on a given listener, so `main` and the tests
//! start exactly the same thing.

pub mod config;
pub mod domain;
pub mod grpc;
pub mod store;

mod seed;
mod sweeper;

use std::future::Future;

use bazaar_proto::product::v1::product_service_server::{ProductServiceServer, SERVICE_NAME};
use bazaar_runtime::{auth::AuthLayer, service::App};
use tokio::net::TcpListener;
use tower::Layer as _;

pub use config::Config;

use crate::{grpc::ProductApi, store::sql::SqlStore};

/// Reading the catalog is public. The stock RPCs carry no user token: they
/// are internal, called only by the order service, authorised by the mesh
/// and never exposed through the REST edge. Catalog changes need an admin.
const PUBLIC_RPCS: &[&str] = &[
    "GetProduct",
    "ListProducts",
    "ReserveStock",
    "CommitReservation",
    "ReleaseReservation",
];

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
    app.spawn(|stopped| sweeper::run(store.clone(), stock.sweep_interval, stopped));
    let auth = AuthLayer::new(app.verifier()?).public(SERVICE_NAME, PUBLIC_RPCS);
    let api = auth.layer(ProductServiceServer::new(ProductApi::new(
        store,
        stock.reservation_ttl,
    )));
    Ok(app.serve(api, listener, shutdown).await?)
}
