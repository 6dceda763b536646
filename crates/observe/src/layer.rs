//! The layer that measures and traces each call: a span per call (joined to
//! the caller's trace on a server, injected into the request on a client),
//! and the go-grpc-prometheus counters and histogram. The status comes from
//! the response headers (trailers-only answers, most errors) or the
//! trailers, so a call ends when its last byte has gone.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Instant,
};

use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use prometheus_client::metrics::{counter::Counter, gauge::Gauge};
use tonic::Code;
use tracing::{Instrument as _, Span, field::Empty, instrument::Instrumented};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::{
    grpc::{GrpcMetrics, MethodMetrics, Side, split_path},
    propagation,
};

/// What a failed call's error says about its status code.
pub trait ErrorCode {
    fn code(&self) -> Code;
}

impl ErrorCode for Box<dyn std::error::Error + Send + Sync> {
    fn code(&self) -> Code {
        code_of_error(self.as_ref())
    }
}

impl ErrorCode for tonic::transport::Error {
    /// A channel's own failures (connecting, the connection breaking).
    fn code(&self) -> Code {
        match code_of_error(self) {
            Code::Unknown => Code::Unavailable,
            code => code,
        }
    }
}

impl ErrorCode for std::convert::Infallible {
    fn code(&self) -> Code {
        match *self {}
    }
}

/// The code tonic would answer for `error`: a status found in its chain,
/// RESOURCE_EXHAUSTED for shed load, CANCELLED for tonic's timeout, else
/// UNKNOWN.
pub fn code_of_error(error: &(dyn std::error::Error + 'static)) -> Code {
    let mut source = Some(error);
    while let Some(error) = source {
        if let Some(status) = error.downcast_ref::<tonic::Status>() {
            return status.code();
        }
        if error.is::<tower::load_shed::error::Overloaded>() {
            return Code::ResourceExhausted;
        }
        if error.is::<tonic::TimeoutExpired>() {
            return Code::Cancelled;
        }
        source = error.source();
    }
    Code::Unknown
}

/// Observes every call through the wrapped service with `metrics` (whose
/// side says whether it is a server or a client).
#[derive(Debug, Clone)]
pub struct ObserveLayer {
    metrics: GrpcMetrics,
}

impl ObserveLayer {
    pub fn new(metrics: GrpcMetrics) -> Self {
        Self { metrics }
    }
}

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: GrpcMetrics,
}

impl<S, B, RB> tower::Service<Request<B>> for Observe<S>
where
    S: tower::Service<Request<B>, Response = Response<RB>>,
    S::Error: ErrorCode,
{
    type Response = Response<ObservedBody<RB>>;
    type Error = S::Error;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let side = self.metrics.side();
        let path = request.uri().path();
        let method = self.metrics.method(path);
        let span = rpc_span(side, path);
        // A span filtered out has no context to join or to send.
        match side {
            _ if span.is_disabled() => {}
            Side::Server => {
                // Without the OpenTelemetry layer this is a no-op.
                let _ = span.set_parent(propagation::extract(request.headers()));
            }
            Side::Client => propagation::inject(&span.context(), request.headers_mut()),
        }
        let call = Call::start(method, self.metrics.in_flight.clone(), side, span.clone());
        ObserveFuture {
            inner: self.inner.call(request).instrument(span),
            call: Some(call),
            shed: self.metrics.shed.clone(),
        }
    }
}

/// The span of one call, named `package.Service/Method` as OpenTelemetry's
/// RPC conventions ask.
fn rpc_span(side: Side, path: &str) -> Span {
    let (service, method) = split_path(path).unwrap_or(("", path));
    let name = path.strip_prefix('/').unwrap_or(path);
    match side {
        Side::Server => tracing::info_span!(
            "grpc.server",
            otel.name = name,
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = service,
            rpc.method = method,
            rpc.grpc.status_code = Empty,
            otel.status_code = Empty,
            otel.status_description = Empty,
        ),
        Side::Client => tracing::info_span!(
            "grpc.client",
            otel.name = name,
            otel.kind = "client",
            rpc.system = "grpc",
            rpc.service = service,
            rpc.method = method,
            rpc.grpc.status_code = Empty,
            otel.status_code = Empty,
            otel.status_description = Empty,
        ),
    }
}

/// One call in progress; recorded once, when it ends or is dropped.
struct Call {
    method: Arc<MethodMetrics>,
    in_flight: Gauge,
    side: Side,
    span: Span,
    started: Instant,
    done: bool,
}

impl Call {
    fn start(method: Arc<MethodMetrics>, in_flight: Gauge, side: Side, span: Span) -> Self {
        method.started();
        in_flight.inc();
        Self {
            method,
            in_flight,
            side,
            span,
            started: Instant::now(),
            done: false,
        }
    }

    fn finish(&mut self, code: Code, message: Option<&str>) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.in_flight.dec();
        self.method
            .handled(code, self.started.elapsed().as_secs_f64());
        self.span.record("rpc.grpc.status_code", code as i64);
        if self.side.is_error(code) {
            self.span.record("otel.status_code", "ERROR");
            self.span.record(
                "otel.status_description",
                message.unwrap_or(code.description()),
            );
        }
    }

    /// Finishes from a `grpc-status` header or trailer, if there is one.
    fn finish_from(&mut self, headers: &HeaderMap) -> bool {
        let Some(code) = headers
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i32>().ok())
        else {
            return false;
        };
        let message = headers.get("grpc-message").and_then(|v| v.to_str().ok());
        self.finish(Code::from_i32(code), message);
        true
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        // Dropped before its status: the caller went away.
        self.finish(
            Code::Cancelled,
            Some("the call was dropped before it ended"),
        );
    }
}

pin_project! {
    pub struct ObserveFuture<F> {
        #[pin]
        inner: Instrumented<F>,
        call: Option<Call>,
        shed: Option<Counter>,
    }
}

impl<F, RB, E> std::future::Future for ObserveFuture<F>
where
    F: std::future::Future<Output = Result<Response<RB>, E>>,
    E: ErrorCode,
{
    type Output = Result<Response<ObservedBody<RB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let outcome = ready!(this.inner.poll(cx));
        let mut call = this.call.take();
        match outcome {
            Ok(response) => {
                let span = call.as_ref().map(|c| c.span.clone());
                if let Some(c) = &mut call
                    && c.finish_from(response.headers())
                {
                    call = None;
                }
                Poll::Ready(Ok(response.map(|inner| ObservedBody {
                    inner,
                    call,
                    _span: span,
                })))
            }
            Err(error) => {
                let code = error.code();
                // A server's stack fails a call outright only when shedding.
                if let Some(shed) = this.shed
                    && code == Code::ResourceExhausted
                {
                    shed.inc();
                }
                if let Some(c) = &mut call {
                    c.finish(code, None);
                }
                Poll::Ready(Err(error))
            }
        }
    }
}

pin_project! {
    /// A response body that ends its call at the trailers (or the end), and
    /// keeps the call's span open until then.
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        call: Option<Call>,
        _span: Option<Span>,
    }
}

impl<B: Body> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let Some(call) = this.call {
            match &frame {
                Some(Ok(frame)) => {
                    if let Some(trailers) = frame.trailers_ref() {
                        call.finish_from(trailers);
                    }
                }
                Some(Err(_)) => call.finish(Code::Unknown, Some("the response body failed")),
                // Ended without a status: the spec's UNKNOWN.
                None => call.finish(Code::Unknown, Some("the response ended without a status")),
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
