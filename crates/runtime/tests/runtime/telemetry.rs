//! Trace context crosses a gRPC hop, and spans reach an OTLP collector when
//! one is configured. These install the global subscriber, which is why the
//! suite runs one test per process (nextest).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use bazaar_proto::payment::v1::{
    GetPaymentRequest, payment_service_client::PaymentServiceClient,
    payment_service_server::PaymentServiceServer,
};
use bazaar_runtime::{
    client::{ClientConfig, channel, traced},
    server::ServerConfig,
    telemetry::{self, TelemetryConfig},
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
    trace_service_server::{TraceService, TraceServiceServer},
};
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::support::{Echo, start};

/// An in-process OTLP collector that keeps what it receives.
#[derive(Clone, Default)]
struct Collector {
    received: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.received.lock().unwrap().push(request.into_inner());
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_context_crosses_a_grpc_call_and_spans_are_exported_over_otlp() {
    let collector = Collector::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let guard = telemetry::init(
        "runtime-test",
        &TelemetryConfig {
            otlp_endpoint: Some(collector_url),
            ..TelemetryConfig::default()
        },
    )
    .unwrap();

    let server = start(ServerConfig::default(), |b| {
        b.add_service(PaymentServiceServer::new(Echo))
    })
    .await;
    let mut client = PaymentServiceClient::new(traced(
        channel(&ClientConfig::for_url(server.url())).unwrap(),
    ));

    let caller = tracing::info_span!("caller");
    let caller_trace_id = caller
        .in_scope(telemetry::current_trace_id)
        .expect("spans carry a trace id even without export");
    let payment = client
        .get_payment(GetPaymentRequest::default())
        .instrument(caller)
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    // The echo service reports the trace id its handler ran in.
    assert_eq!(payment.idempotency_key, caller_trace_id);

    drop(guard); // flushes the batch exporter
    let exported = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let spans: Vec<_> = collector
                .received
                .lock()
                .unwrap()
                .iter()
                .flat_map(|r| r.resource_spans.iter())
                .flat_map(|r| r.scope_spans.iter())
                .flat_map(|s| s.spans.iter())
                .map(|s| (s.name.clone(), hex(&s.trace_id)))
                .collect();
            if spans.len() >= 2 {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("spans reach the collector");
    assert!(
        exported
            .iter()
            .any(|(name, trace)| name == "grpc.request" && *trace == caller_trace_id),
        "server span joined the caller's trace: {exported:?}"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
