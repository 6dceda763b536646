//! Bazaar's payment service: idempotent charges and refunds against a
//! simulated card processor, recorded in its own database.
//!
//! [`run`] serves it on a bound listener until `shutdown` completes, so tests
//! start the real service on port 0.

pub mod config;
pub mod domain;
pub mod grpc;
pub mod processor;
pub mod store;

use std::{future::Future, sync::Arc};

use bazaar_proto::payment::v1::payment_service_server::{PaymentServiceServer, SERVICE_NAME};
use bazaar_runtime::{auth::AuthLayer, service::App};
use tokio::net::TcpListener;
use tower::Layer as _;

pub use config::Config;

use crate::{grpc::PaymentApi, processor::SimulatedProcessor, store::sql::SqlPaymentStore};

/// The RPCs only other services call. They carry no user token: the mesh
/// (Istio AuthorizationPolicy, or mTLS identities without it) admits only the
/// order service to them.
const INTERNAL_RPCS: &[&str] = &["Charge", "Refund", "LookupPayment"];

pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let app = App::start(config.shared, store::sql::MIGRATIONS).await?;
    let store = Arc::new(SqlPaymentStore::new(app.db().clone()));
    let processor = SimulatedProcessor::new(config.settings.processor.slow_latency);
    let auth = AuthLayer::new(app.verifier()?).public(SERVICE_NAME, INTERNAL_RPCS);
    let api = auth.layer(PaymentServiceServer::new(PaymentApi::new(store, processor)));
    Ok(app.serve(api, listener, shutdown).await?)
}
