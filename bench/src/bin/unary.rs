//! A unary RPC through Bazaar's server stack (health, reflection, tracing
//! span with trace context, deadline, load shedding, JWT verification) against
//! the same handler on a bare tonic server. Loopback only, bounded.
//!
//! `cargo run --release -p bazaar-bench --bin unary`

use std::{sync::Arc, time::Duration};

use bazaar_bench::{TABLE_HEADER, closed_loop};
use bazaar_proto::payment::v1::{
    ChargeRequest, ChargeResponse, GetPaymentRequest, GetPaymentResponse, LookupPaymentRequest,
    LookupPaymentResponse, Payment, RefundRequest, RefundResponse,
    payment_service_client::PaymentServiceClient,
    payment_service_server::{PaymentService, PaymentServiceServer},
};
use bazaar_runtime::{
    auth::{AuthConfig, AuthLayer, Role, TokenSigner, TokenVerifier, principal},
    server::{ServerBuilder, ServerConfig},
    telemetry::{self, TelemetryConfig},
    testing::Spawned,
};
use tonic::{Request, Response, Status, transport::Channel};
use tower::Layer;

const CONCURRENCY: usize = 32;
const MAX_REQUESTS: u64 = 400_000;
const RUN_TIME: Duration = Duration::from_secs(5);

/// Answers GetPayment with a fixed payment; `checks_caller` makes it do what
/// Bazaar's handler does first (read the principal, require admin).
#[derive(Clone, Copy)]
struct Fixed {
    checks_caller: bool,
}

#[tonic::async_trait]
impl PaymentService for Fixed {
    async fn charge(&self, _: Request<ChargeRequest>) -> Result<Response<ChargeResponse>, Status> {
        Err(Status::unimplemented("bench"))
    }
    async fn refund(&self, _: Request<RefundRequest>) -> Result<Response<RefundResponse>, Status> {
        Err(Status::unimplemented("bench"))
    }
    async fn get_payment(
        &self,
        request: Request<GetPaymentRequest>,
    ) -> Result<Response<GetPaymentResponse>, Status> {
        if self.checks_caller {
            principal(&request)?.require_admin()?;
        }
        Ok(Response::new(GetPaymentResponse {
            payment: Some(Payment {
                id: request.into_inner().payment_id,
                card_last4: "4242".into(),
                ..Payment::default()
            }),
        }))
    }
    async fn lookup_payment(
        &self,
        _: Request<LookupPaymentRequest>,
    ) -> Result<Response<LookupPaymentResponse>, Status> {
        Err(Status::unimplemented("bench"))
    }
}

async fn load(spawned: &Spawned, token: Option<String>) -> bazaar_bench::Report {
    let mut channels = Vec::new();
    for _ in 0..4 {
        channels.push(spawned.channel().await);
    }
    let channels: Arc<Vec<Channel>> = Arc::new(channels);
    let token = token.map(|t| format!("Bearer {t}").parse().expect("header value"));
    let run = move |max_requests, time| {
        let channels = Arc::clone(&channels);
        let token: Option<tonic::metadata::MetadataValue<_>> = token.clone();
        closed_loop(CONCURRENCY, max_requests, time, move |n| {
            let channel = channels[(n % 4) as usize].clone();
            let token = token.clone();
            async move {
                let mut request = Request::new(GetPaymentRequest {
                    payment_id: "0190e5a4-0000-7000-8000-000000000001".into(),
                });
                if let Some(token) = token {
                    request.metadata_mut().insert("authorization", token);
                }
                PaymentServiceClient::new(channel)
                    .get_payment(request)
                    .await
                    .is_ok()
            }
        })
    };
    run(20_000, Duration::from_secs(1)).await; // warm-up
    run(MAX_REQUESTS, RUN_TIME).await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // As in production: spans with trace context, logs at warn.
    let _telemetry = telemetry::init(
        "bench",
        &TelemetryConfig {
            log_filter: "warn".into(),
            ..TelemetryConfig::default()
        },
    )?;
    let auth = AuthConfig::default();
    let signer = TokenSigner::generate(&auth)?;
    let (token, _) = signer.issue("bench", &[Role::Admin], Duration::from_secs(600))?;
    let verifier = TokenVerifier::new(&auth);
    verifier.set_keys([signer.jwk()])?;
    let verifier = Arc::new(verifier);

    let bare = Spawned::start(|listener, shutdown| {
        tonic::transport::Server::builder()
            .add_service(PaymentServiceServer::new(Fixed {
                checks_caller: false,
            }))
            .add_service(tonic_health::server::health_reporter().1)
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                shutdown,
            )
    })
    .await;
    let stacked = Spawned::start(move |listener, shutdown| {
        let layer = AuthLayer::new(verifier);
        ServerBuilder::new(ServerConfig::default())
            .file_descriptor_set(bazaar_proto::FILE_DESCRIPTOR_SET)
            .add_service(layer.layer(PaymentServiceServer::new(Fixed {
                checks_caller: true,
            })))
            .serve(listener, shutdown)
    })
    .await;

    println!(
        "unary GetPayment, {CONCURRENCY} in flight, {}s per run\n",
        RUN_TIME.as_secs()
    );
    println!("{TABLE_HEADER}");
    let mut ratios = Vec::new();
    for round in 1..=2 {
        let bare_report = load(&bare, None).await;
        let stacked_report = load(&stacked, Some(token.clone())).await;
        println!(
            "{}",
            bare_report.line(&format!("bare tonic (round {round})"))
        );
        println!(
            "{}",
            stacked_report.line(&format!("Bazaar stack + JWT (round {round})"))
        );
        ratios.push(stacked_report.per_second() / bare_report.per_second());
    }
    let ratios: Vec<String> = ratios
        .iter()
        .map(|r| format!("{:.0} %", r * 100.0))
        .collect();
    println!(
        "\nBazaar stack / bare tonic throughput: {}",
        ratios.join(", ")
    );
    Ok(())
}
