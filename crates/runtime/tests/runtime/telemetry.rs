//! Spans of every call, server and client side, reach an OTLP collector with
//! their outcome, joined into the caller's trace; JSON log lines carry the
//! trace and span ids. These install the global subscriber, which is why
//! the suite runs one test per process (nextest).

use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use bazaar_observe::{GrpcMetrics, Metrics, ObserveLayer};
use bazaar_proto::payment::v1::{
    ChargeRequest, GetPaymentRequest, payment_service_client::PaymentServiceClient,
    payment_service_server::PaymentServiceServer,
};
use bazaar_runtime::{
    client::{ClientConfig, channel},
    server::ServerConfig,
    telemetry::{self, LogFormat, TelemetryConfig},
};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::{AnyValue, any_value::Value},
    trace::v1::{Span, span::SpanKind, status::StatusCode},
};
use tokio::net::TcpListener;
use tonic::{Code, Request, Response, Status};
use tower::Layer as _;
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

impl Collector {
    async fn start() -> (Self, String) {
        let collector = Collector::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(collector.clone()))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        (collector, url)
    }

    fn spans(&self) -> Vec<Span> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .flat_map(|r| r.resource_spans.iter())
            .flat_map(|r| r.scope_spans.iter())
            .flat_map(|s| s.spans.iter())
            .cloned()
            .collect()
    }

    /// Waits (10 s at most) for a span named `name`.
    async fn span(&self, name: &str) -> Span {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(span) = self.spans().into_iter().find(|s| s.name == name) {
                    return span;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no span {name}: {:#?}", self.spans()))
    }
}

fn attribute(span: &Span, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone())
        .and_then(|AnyValue { value }| value)
}

fn text(value: &str) -> Option<Value> {
    Some(Value::StringValue(value.to_owned()))
}

fn client(url: String) -> PaymentServiceClient<bazaar_observe::Observe<tonic::transport::Channel>> {
    let metrics = GrpcMetrics::client(&Metrics::new(), []);
    PaymentServiceClient::new(
        ObserveLayer::new(metrics).layer(channel(&ClientConfig::for_url(url)).unwrap()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_has_a_client_and_a_server_span_with_its_outcome() {
    let (collector, collector_url) = Collector::start().await;
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
    let mut payments = client(server.url());

    let caller = tracing::info_span!("caller");
    let caller_trace_id = caller
        .in_scope(telemetry::current_trace_id)
        .expect("spans carry a trace id even without export");
    let payment = payments
        .get_payment(GetPaymentRequest::default())
        .instrument(caller.clone())
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    // The echo service reports the trace id its handler ran in.
    assert_eq!(payment.idempotency_key, caller_trace_id);
    let failed = payments
        .charge(valid_charge())
        .instrument(caller)
        .await
        .unwrap_err();
    assert_eq!(failed.code(), Code::Internal);

    drop(guard); // flushes the batch exporter
    let get = "bazaar.payment.v1.PaymentService/GetPayment";
    let server_span = collector.span(get).await;
    let spans = collector.spans();
    let client_span = spans
        .iter()
        .find(|s| s.name == get && s.kind == SpanKind::Client as i32)
        .unwrap_or_else(|| panic!("a client span: {spans:#?}"));
    let server_span = spans
        .iter()
        .find(|s| s.name == get && s.kind == SpanKind::Server as i32)
        .unwrap_or(&server_span);
    assert_eq!(hex(&server_span.trace_id), caller_trace_id);
    assert_eq!(client_span.trace_id, server_span.trace_id);
    assert_eq!(
        server_span.parent_span_id, client_span.span_id,
        "the server span is the client span's child"
    );
    for span in [client_span, server_span] {
        assert_eq!(attribute(span, "rpc.system"), text("grpc"));
        assert_eq!(
            attribute(span, "rpc.service"),
            text("bazaar.payment.v1.PaymentService")
        );
        assert_eq!(attribute(span, "rpc.method"), text("GetPayment"));
        assert_eq!(
            attribute(span, "rpc.grpc.status_code"),
            Some(Value::IntValue(0))
        );
        let status = span.status.clone().unwrap_or_default();
        assert_ne!(status.code, StatusCode::Error as i32, "{span:#?}");
    }

    let charge = "bazaar.payment.v1.PaymentService/Charge";
    collector.span(charge).await;
    let spans = collector.spans();
    let charges: Vec<_> = spans.iter().filter(|s| s.name == charge).collect();
    assert_eq!(charges.len(), 2, "a client and a server span: {charges:#?}");
    for span in charges {
        assert_eq!(
            attribute(span, "rpc.grpc.status_code"),
            Some(Value::IntValue(Code::Internal as i64))
        );
        let status = span.status.clone().unwrap_or_default();
        assert_eq!(
            status.code,
            StatusCode::Error as i32,
            "INTERNAL is a fault: {span:#?}"
        );
    }
}

/// Log lines written to memory.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_inside_a_request_carry_its_trace_and_span_ids() {
    let lines = Lines::default();
    let writer = lines.clone();
    let _guard = telemetry::init_with_writer(
        "runtime-test",
        &TelemetryConfig {
            log_format: LogFormat::Json,
            ..TelemetryConfig::default()
        },
        move || writer.clone(),
    )
    .unwrap();
    tracing::info!("outside any span");
    let server = start(ServerConfig::default(), |b| {
        b.add_service(PaymentServiceServer::new(Echo))
    })
    .await;
    let mut payments = client(server.url());
    let caller = tracing::info_span!("caller");
    let (trace_id, caller_span_id) = caller.in_scope(|| {
        use opentelemetry::trace::TraceContextExt as _;
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        tracing::info!("in the caller");
        let context = tracing::Span::current().context();
        let span = context.span().span_context().clone();
        (span.trace_id().to_string(), span.span_id().to_string())
    });
    // The echo service fails a charge with INTERNAL, which the server logs.
    payments
        .charge(valid_charge())
        .instrument(caller)
        .await
        .unwrap_err();

    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let find = |message: &str| {
        events
            .iter()
            .find(|e| e["message"] == message)
            .unwrap_or_else(|| panic!("no line {message:?} in:\n{text}"))
    };
    assert!(find("outside any span").get("trace_id").is_none());
    let in_caller = find("in the caller");
    assert_eq!(in_caller["trace_id"], trace_id.as_str());
    assert_eq!(in_caller["span_id"], caller_span_id.as_str());
    let internal = find("internal error");
    assert_eq!(internal["trace_id"], trace_id.as_str(), "{internal}");
    let span_id = internal["span_id"].as_str().unwrap();
    assert_eq!(span_id.len(), 16);
    assert_ne!(span_id, caller_span_id, "the server span's own id");
    for event in &events {
        if event.get("span").is_some() {
            assert!(event.get("trace_id").is_some(), "{event}");
        }
    }
}

/// A charge the echo service accepts as valid, then fails with INTERNAL.
fn valid_charge() -> ChargeRequest {
    ChargeRequest {
        idempotency_key: "k".into(),
        amount: Some(Default::default()),
        ..Default::default()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
