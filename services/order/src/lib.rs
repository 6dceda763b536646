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

use bazaar_proto::order::v1::order_service_server::OrderServiceServer;
use bazaar_runtime::service::App;
use tokio::net::TcpListener;

pub use config::Config;
#[cfg(feature = "testing")]
pub use saga::hooks::{HaltPoint, Halted, Hooks, run_with_hooks};

use crate::{grpc::OrderApi, saga::Saga, store::sql::SqlOrderStore};

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
    let mut app = App::start(config.shared, store::sql::MIGRATIONS).await?;
    let store = Arc::new(SqlOrderStore::new(app.db().clone()));
    let saga = Arc::new(prepare(Saga::connect(store, &app, &config.settings)?));
    let (recovering, timing) = (Arc::clone(&saga), config.settings.saga);
    app.spawn(move |stopped| recovery::run(recovering, timing, stopped));
    let api = OrderApi::new(saga, timing);
    Ok(app
        .serve(OrderServiceServer::new(api), listener, shutdown)
        .await?)
}
