//! Bazaar's order service: checkout as a saga over the product and payment
//! services, persisted step by step so that every order ends consistent
//! whatever fails, including this process.
//!
//! [`run`] serves it on a bound listener until `shutdown` completes, so tests
//! start the real service on port 0.

pub mod config;
pub mod domain;
pub mod drives;
pub mod events;
pub mod grpc;
pub mod metrics;
pub mod outbox;
pub mod recovery;
pub mod relay;
pub mod saga;
pub mod store;
pub mod watches;

use std::{future::Future, sync::Arc};

use bazaar_proto::order::v1::order_service_server::OrderServiceServer;
use bazaar_runtime::service::App;
use tokio::net::TcpListener;

pub use config::Config;
#[cfg(feature = "testing")]
pub use saga::hooks::{HaltPoint, Halted, Hooks, run_with_hooks};

use crate::{
    drives::Drives, grpc::OrderApi, metrics::OrderMetrics, saga::Saga, store::sql::SqlOrderStore,
    watches::Watches,
};

pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    serve(config, listener, shutdown, |saga| saga).await
}

/// Serves as [`run`] does, after `prepare` (test hooks) has set the saga up.
pub(crate) async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    prepare: impl FnOnce(Saga<SqlOrderStore>) -> Saga<SqlOrderStore>,
) -> anyhow::Result<()> {
    let grace = config.shared.server.shutdown_grace;
    let mut app = App::start(config.shared, store::sql::MIGRATIONS).await?;
    let events_on = config.settings.events.nats_url.is_some();
    let store = Arc::new(SqlOrderStore::new(app.db().clone()).with_outbox(events_on));
    let metrics = OrderMetrics::register(app.metrics());
    let saga = Arc::new(prepare(Saga::connect(
        store,
        &app,
        &config.settings,
        metrics,
    )?));
    let (recovering, timing) = (Arc::clone(&saga), config.settings.saga);
    app.spawn(move |stopped| recovery::run(recovering, timing, stopped));
    // Held here, so that dropping this future (a crash) aborts the drives.
    let (drives, _abort_drives) = Drives::new(Arc::clone(&saga), timing.lease);
    let draining = drives.clone();
    app.spawn(move |mut stopped| async move {
        // The server has drained its requests; the drives they started get
        // the grace period too.
        if stopped.wait_for(|stopped| *stopped).await.is_ok() {
            draining.shutdown(grace).await;
        }
    });
    let (relaying, events_config) = (Arc::clone(saga.store()), config.settings.events.clone());
    let relay_metrics = saga.metrics().clone();
    app.spawn(move |stopped| relay::run(relaying, events_config, relay_metrics, stopped));
    let watches = Watches::new(config.settings.watch);
    let (feeding, events, store) = (
        Arc::clone(&watches),
        saga.events().clone(),
        Arc::clone(saga.store()),
    );
    let published = config.settings.events.clone();
    app.spawn(move |stopped| feeding.feed(events, store, published, stopped));
    let api = OrderApi::new(
        saga,
        drives,
        watches,
        timing,
        config.settings.events.max_pending,
    );
    Ok(app
        .serve(OrderServiceServer::new(api), listener, shutdown)
        .await?)
}
