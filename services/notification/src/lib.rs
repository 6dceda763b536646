//! Bazaar's notification service: consumes the order service's events from
//! NATS JetStream and renders those that concern the customer (an order
//! confirmed, failed, cancelled or shipped) into notifications in its own
//! database, one per event however often it is delivered.
//!
//! [`run`] serves it on a bound listener until `shutdown` completes, so tests
//! start the real service on port 0.

pub mod config;
pub mod consumer;
pub mod domain;
pub mod events;
pub mod grpc;
pub mod metrics;
pub mod store;

use std::future::Future;

use bazaar_proto::notification::v1::notification_service_server::NotificationServiceServer;
use bazaar_runtime::service::App;
use tokio::net::TcpListener;

pub use config::Config;

use crate::{grpc::NotificationApi, metrics::NotificationMetrics, store::NotificationStore};

pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let mut app = App::start(config.shared, store::MIGRATIONS).await?;
    let store = NotificationStore::new(app.db().clone());
    let (consuming, metrics) = (store.clone(), NotificationMetrics::register(app.metrics()));
    let events = config.settings.events;
    app.spawn(move |stopped| consumer::run(consuming, events, metrics, stopped));
    let api = NotificationServiceServer::new(NotificationApi::new(store));
    Ok(app.serve(api, listener, shutdown).await?)
}
