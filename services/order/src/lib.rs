//! Bazaar's order service: checkout as a saga over the product and payment
//! services, persisted step by step so that every order ends consistent
//! whatever fails, including this process.
//!
//! [`run`] serves it on a bound listener until `shutdown` completes, so tests
//! start the real service on port 0.

pub mod config;
pub mod domain;
pub mod events;
pub mod grpc;
pub mod recovery;
pub mod saga;
pub mod store;

use std::{future::Future, sync::Arc};

use bazaar_proto::{
    order::v1::order_service_server::OrderServiceServer,
    payment::v1::payment_service_client::PaymentServiceClient,
    product::v1::product_service_client::ProductServiceClient,
};
use bazaar_runtime::{
    auth::{AuthLayer, verifier_from_config},
    client::traced_channel,
    db::Database,
    server::ServerBuilder,
};
use tokio::net::TcpListener;
use tower::Layer;

use crate::{
    config::Config, events::Events, grpc::OrderApi, saga::Saga, store::sql::SqlOrderStore,
};

pub use saga::Hooks;

/// Serves the order service until `shutdown` completes.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    run_with_hooks(config, listener, shutdown, Hooks::default()).await
}

/// [`run`] with test hooks (see [`Hooks`]).
pub async fn run_with_hooks(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    hooks: Hooks,
) -> anyhow::Result<()> {
    let db = Database::connect(&config.database, store::sql::MIGRATIONS).await?;
    let store = Arc::new(SqlOrderStore::new(db.clone()));
    let saga = Arc::new(Saga::new(
        store,
        ProductServiceClient::new(traced_channel(&config.product)?),
        PaymentServiceClient::new(traced_channel(&config.payment)?),
        config.retries.clone(),
        Events::new(),
        hooks,
    ));

    let (stop_recovery, stopped) = tokio::sync::watch::channel(false);
    let recovery = tokio::spawn(recovery::run(
        Arc::clone(&saga),
        config.saga.recovery_interval,
        config.saga.lease,
        stopped,
    ));
    // Dropping `run` (as a crash test does) must take the worker with it.
    let _recovery_guard = AbortOnDrop(recovery.abort_handle());

    let api = OrderApi::new(saga, config.saga.lease, config.saga.duplicate_wait);
    let verifier = verifier_from_config(&config.auth)?;
    let auth = AuthLayer::new(verifier);
    let served = ServerBuilder::new(config.server)
        .file_descriptor_set(bazaar_proto::FILE_DESCRIPTOR_SET)
        .add_service(auth.layer(OrderServiceServer::new(api)))
        .serve(listener, shutdown)
        .await;
    let _ = stop_recovery.send(true);
    let _ = recovery.await;
    db.close().await;
    Ok(served?)
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
