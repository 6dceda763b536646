//! Bazaar's payment service: idempotent charges and refunds against a
//! simulated card processor, recorded in its own database.
//!
//! [`run`] serves it on a bound listener until `shutdown` completes, so tests
//! start the real service on port 0.

pub mod config;
pub mod domain;
pub mod grpc;
pub mod metrics;
pub mod processor;
pub mod store;

use std::{future::Future, sync::Arc};

use bazaar_proto::payment::v1::payment_service_server::PaymentServiceServer;
use bazaar_runtime::service::App;
use tokio::net::TcpListener;

pub use config::Config;

use crate::{
    domain::FingerprintKey, grpc::PaymentApi, metrics::PaymentMetrics,
    processor::SimulatedProcessor, store::sql::SqlPaymentStore,
};

pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let app = App::start(config.shared, store::sql::MIGRATIONS).await?;
    let store = Arc::new(SqlPaymentStore::new(app.db().clone()));
    let settings = &config.settings.processor;
    let fingerprints = FingerprintKey::new(settings.fingerprint_secret())
        .map_err(|e| anyhow::anyhow!("processor.fingerprint_secret: {e}"))?;
    // The simulator's ledger lives in the payment database, in its own table,
    // standing in for the acquirer's records.
    let processor = SimulatedProcessor::new(settings.slow_latency, app.db().clone());
    // Charge, Refund and LookupPayment carry no user token: the mesh policy
    // admits only the order service's identity to them.
    let api = PaymentServiceServer::new(PaymentApi::new(
        store,
        processor,
        fingerprints,
        settings.pending_grace,
        PaymentMetrics::register(app.metrics()),
    ));
    Ok(app.serve(api, listener, shutdown).await?)
}
