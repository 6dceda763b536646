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
use bazaar_runtime::{
    auth::{AuthLayer, verifier_from_config},
    db::Database,
    server::ServerBuilder,
};
use tokio::{net::TcpListener, sync::watch};
use tower::Layer as _;

use crate::{
    config::Config,
    grpc::ProductApi,
    store::sql::{MIGRATIONS, SqlStore},
};

/// Serves the product service on `listener` until `shutdown` completes.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let db = Database::connect(&config.database, MIGRATIONS).await?;
    let store = SqlStore::new(db.clone());
    if config.seed_catalog {
        seed::load_if_empty(&store).await?;
    }

    let (stop_sweeper, sweeper_stopped) = watch::channel(false);
    let sweeper = tokio::spawn(sweeper::run(
        store.clone(),
        config.stock.sweep_interval,
        sweeper_stopped,
    ));

    let verifier = verifier_from_config(&config.auth)?;
    // Reading the catalog is public. The stock RPCs are public here too
    // because no user token is involved: they are internal, called only by
    // the order service, and authorised by the mesh (its workload identity),
    // never exposed through the REST edge. Catalog changes need an admin.
    let auth = AuthLayer::new(verifier).public(
        SERVICE_NAME,
        &[
            "GetProduct",
            "ListProducts",
            "ReserveStock",
            "CommitReservation",
            "ReleaseReservation",
        ],
    );
    let api = ProductApi::new(store, config.stock.reservation_ttl);

    let served = ServerBuilder::new(config.server)
        .file_descriptor_set(bazaar_proto::FILE_DESCRIPTOR_SET)
        .add_service(auth.layer(ProductServiceServer::new(api)))
        .serve(listener, shutdown)
        .await;

    let _ = stop_sweeper.send(true);
    if let Err(error) = sweeper.await {
        tracing::error!(%error, "the reservation sweeper failed");
    }
    db.close().await;
    Ok(served?)
}
