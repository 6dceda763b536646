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

use bazaar_proto::payment::v1::payment_service_server::PaymentServiceServer;
use bazaar_runtime::{
    auth::{AuthLayer, verifier_from_config},
    db::Database,
    server::ServerBuilder,
};
use tokio::net::TcpListener;
use tower::Layer;

use crate::{
    config::Config, grpc::PaymentApi, processor::SimulatedProcessor, store::sql::SqlPaymentStore,
};

/// The RPCs only other services call. They carry no user token: the mesh
/// (Istio AuthorizationPolicy, or mTLS identities without it) admits only the
/// order service to them.
const INTERNAL_RPCS: &[&str] = &["Charge", "Refund", "LookupPayment"];

pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let db = Database::connect(&config.database, store::sql::MIGRATIONS).await?;
    let store = Arc::new(SqlPaymentStore::new(db.clone()));
    let api = PaymentApi::new(
        store,
        SimulatedProcessor::new(config.processor.slow_latency),
    );
    let verifier = verifier_from_config(&config.auth)?;
    let auth = AuthLayer::new(verifier).public("bazaar.payment.v1.PaymentService", INTERNAL_RPCS);
    ServerBuilder::new(config.server)
        .file_descriptor_set(bazaar_proto::FILE_DESCRIPTOR_SET)
        .add_service(auth.layer(PaymentServiceServer::new(api)))
        .serve(listener, shutdown)
        .await?;
    db.close().await;
    Ok(())
}
