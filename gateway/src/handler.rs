//! One HTTP request, start to end: the edge's own endpoints, CORS, routing,
//! the body limit and timeout, the request mapping, the upstream call and
//! the response mapping.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use bazaar_runtime::{server::parse_grpc_timeout, telemetry};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header, request::Parts};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use tonic::{Code, client::Grpc};
use tracing::{Instrument as _, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::{
    body::{self, Body, NdjsonStream},
    cors::Preflight,
    errors::{JSON, error_response, http_status, status_response, upstream_code},
    gateway::{GRPC_TIMEOUT, Gateway, Route},
    metadata::{self, X_REQUEST_ID},
    metrics::{MethodLabel, Served},
    request,
    router::Lookup,
    storefront,
    upstream::UpstreamChannel,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const NDJSON: HeaderValue = HeaderValue::from_static("application/x-ndjson");
const DOCS: &str = include_str!("docs.html");

impl Gateway {
    /// Answers one request. `peer` (from [`metadata::peer`]) is the client's
    /// address for `X-Forwarded-For`.
    pub async fn handle<B>(
        self: &Arc<Self>,
        request: Request<B>,
        peer: Option<&HeaderValue>,
    ) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send,
        B::Error: Into<BoxError>,
    {
        let started = Instant::now();
        let (parts, body) = request.into_parts();
        let method = MethodLabel::of(&parts.method);
        let request_id = metadata::request_id(&parts.headers);
        let span = tracing::info_span!(
            "http.request",
            otel.kind = "server",
            http.request.method = %parts.method,
            // The route, not the path: bounded cardinality, and each field
            // costs an attribute on every exported span.
            http.route = Empty,
            rpc.method = Empty,
            http.response.status_code = Empty,
            otel.status_code = Empty,
            request.id = request_id.to_str().unwrap_or_default(),
        );
        if parts.headers.contains_key("traceparent") {
            // Without the OpenTelemetry layer this is a no-op.
            let _ = span.set_parent(telemetry::extract_context(&parts.headers));
        }
        let origin = parts.headers.get(header::ORIGIN).cloned();
        let (mut response, served) = self
            .dispatch(parts, body, &request_id, peer)
            .instrument(span.clone())
            .await;
        let status = response.status();
        self.http_metrics
            .record(served, method, status, started.elapsed().as_secs_f64());
        span.record("http.response.status_code", i64::from(status.as_u16()));
        // OpenTelemetry's HTTP server convention: only 5xx are the server's
        // errors; a 4xx is the client's.
        if status.is_server_error() {
            span.record("otel.status_code", "ERROR");
        }
        response.headers_mut().insert(X_REQUEST_ID, request_id);
        if origin.is_some() {
            self.cors.decorate(origin.as_ref(), response.headers_mut());
        }
        response
    }

    async fn dispatch<B>(
        &self,
        parts: Parts,
        body: B,
        request_id: &HeaderValue,
        peer: Option<&HeaderValue>,
    ) -> (Response<Body>, Served)
    where
        B: http_body::Body<Data = Bytes> + Send,
        B::Error: Into<BoxError>,
    {
        let path = parts.uri.path();
        if parts.method == Method::GET || parts.method == Method::HEAD {
            match path {
                "/healthz" => {
                    let response = json_response(StatusCode::OK, &br#"{"status":"SERVING"}"#[..]);
                    return (response, Served::Healthz);
                }
                "/readyz" => return (self.readyz().await, Served::Readyz),
                "/openapi.json" => {
                    let response = json_response(StatusCode::OK, self.openapi.clone());
                    return (response, Served::OpenApi);
                }
                "/openapi-3.0.json" => {
                    let response = json_response(StatusCode::OK, self.openapi_3_0.clone());
                    return (response, Served::OpenApi);
                }
                "/docs" | "/docs/" => {
                    let mut response = Response::new(Body::full(DOCS));
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/html; charset=utf-8"),
                    );
                    return (response, Served::Docs);
                }
                _ if self.storefront => {
                    if let Some(file) = storefront::find(path) {
                        let head = parts.method == Method::HEAD;
                        let response = storefront::response(file, &parts.headers, head);
                        return (response, Served::Storefront);
                    }
                }
                _ => {}
            }
        }
        if self.cors.is_preflight(&parts) {
            return self.preflight(&parts);
        }
        let response = match self.router.find(&parts.method, path) {
            Lookup::NotFound => error_response(
                &self.json,
                StatusCode::NOT_FOUND,
                Code::NotFound,
                "Not Found",
                &[],
            ),
            Lookup::MethodNotAllowed(allowed) => {
                // grpc-gateway answers 501 without `Allow`; 405 with it is
                // what HTTP asks for. The body code stays UNIMPLEMENTED.
                let mut response = error_response(
                    &self.json,
                    StatusCode::METHOD_NOT_ALLOWED,
                    Code::Unimplemented,
                    "Method Not Allowed",
                    &[],
                );
                let list = allowed
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                if let Ok(value) = HeaderValue::from_str(&list) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
                response
            }
            Lookup::Found { binding, segments } => {
                let route = &self.routes[binding];
                let span = tracing::Span::current();
                span.record("http.route", &*route.template);
                span.record("rpc.method", route.binding.rpc.full_name());
                let calling = AtomicBool::new(false);
                let call = self.call(route, &parts, &segments, body, request_id, peer, &calling);
                let response = match tokio::time::timeout(self.limits.request_timeout, call).await {
                    Ok(response) => response,
                    Err(_) => {
                        // Cut short while waiting for the upstream (not for
                        // a slow client's body): that call failed.
                        if calling.load(Ordering::Relaxed) {
                            route.upstream_errors.record(Code::DeadlineExceeded);
                        }
                        status_response(
                            &self.json,
                            Code::DeadlineExceeded,
                            "the request timed out at the gateway",
                        )
                    }
                };
                return (response, Served::Binding(binding));
            }
        };
        (response, Served::Unmatched)
    }

    /// Reads the body, maps the request and calls the upstream; `calling`
    /// is set once the upstream call begins.
    #[allow(clippy::too_many_arguments)]
    async fn call<B>(
        &self,
        route: &Route,
        parts: &Parts,
        segments: &[&str],
        body: B,
        request_id: &HeaderValue,
        peer: Option<&HeaderValue>,
        calling: &AtomicBool,
    ) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send,
        B::Error: Into<BoxError>,
    {
        let bytes = match self.read_body(parts, body).await {
            Ok(bytes) => bytes,
            Err(response) => return response,
        };
        let message = match request::build(
            &route.binding,
            &self.json,
            segments,
            parts.uri.query(),
            &bytes,
        ) {
            Ok(message) => message,
            Err(error) => return status_response(&self.json, Code::InvalidArgument, &error.0),
        };

        let client_timeout = match parts.headers.get("grpc-timeout") {
            None => None,
            Some(value) => match value.to_str().ok().and_then(parse_grpc_timeout) {
                Some(timeout) => Some(timeout),
                None => {
                    return status_response(
                        &self.json,
                        Code::InvalidArgument,
                        "invalid Grpc-Timeout header",
                    );
                }
            },
        };
        let metadata = metadata::outgoing(&parts.headers, request_id, peer);
        let mut request =
            tonic::Request::from_parts(metadata, tonic::Extensions::default(), message);
        let streaming = route.binding.is_server_streaming();
        // A stream lives as long as it likes unless the client says otherwise.
        match (client_timeout, streaming) {
            (Some(timeout), _) => request.set_timeout(timeout.min(self.limits.request_timeout)),
            // The usual case: formatted at start-up.
            (None, false) => {
                let value = self.limits.default_grpc_timeout.clone();
                request.metadata_mut().insert(GRPC_TIMEOUT, value);
            }
            (None, true) => {}
        }

        calling.store(true, Ordering::Relaxed);
        let mut grpc = Grpc::new(route.channel.clone());
        if let Err(error) = grpc.ready().await {
            route.upstream_errors.record(Code::Unavailable);
            return status_response(
                &self.json,
                Code::Unavailable,
                &format!("upstream unavailable: {error}"),
            );
        }
        if streaming {
            self.server_streaming(route, grpc, request).await
        } else {
            self.unary(route, grpc, request).await
        }
    }

    /// A unary call, made as a server stream of one message: tonic's
    /// `Grpc::unary` merges the trailers into the headers, and a trailer
    /// replaces every header value of the same key; kept apart, every value
    /// of both is forwarded, as grpc-gateway forwards them.
    async fn unary(
        &self,
        route: &Route,
        mut grpc: Grpc<UpstreamChannel>,
        request: tonic::Request<prost_reflect::DynamicMessage>,
    ) -> Response<Body> {
        let path = route.binding.grpc_path.clone();
        let response = match grpc
            .server_streaming(request, path, route.codec.clone())
            .await
        {
            Ok(response) => response,
            Err(status) => return self.grpc_error(route, &status, None),
        };
        let (headers, mut stream, _) = response.into_parts();
        let message = match stream.message().await {
            Ok(Some(message)) => message,
            Ok(None) => {
                let status = tonic::Status::internal("Missing response message.");
                return self.grpc_error(route, &status, Some(&headers));
            }
            Err(status) => return self.grpc_error(route, &status, Some(&headers)),
        };
        // A status other than OK in the trailers fails the call, as with
        // `Grpc::unary`.
        let trailers = match stream.trailers().await {
            Ok(trailers) => trailers,
            Err(status) => return self.grpc_error(route, &status, Some(&headers)),
        };
        let mut out = Vec::with_capacity(256);
        if let Err(error) =
            self.json
                .write_response(&message, route.binding.response_body.as_ref(), &mut out)
        {
            return status_response(
                &self.json,
                Code::Internal,
                &format!("cannot render the response: {error}"),
            );
        }
        let mut response = Response::new(Body::full(out));
        response.headers_mut().insert(header::CONTENT_TYPE, JSON);
        metadata::to_response_headers(&headers, response.headers_mut());
        if let Some(trailers) = &trailers {
            metadata::to_response_headers(trailers, response.headers_mut());
        }
        response
    }

    async fn server_streaming(
        &self,
        route: &Route,
        mut grpc: Grpc<UpstreamChannel>,
        request: tonic::Request<prost_reflect::DynamicMessage>,
    ) -> Response<Body> {
        let path = route.binding.grpc_path.clone();
        let response = match grpc
            .server_streaming(request, path, route.codec.clone())
            .await
        {
            Ok(response) => response,
            Err(status) => return self.grpc_error(route, &status, None),
        };
        let (metadata, mut stream, _) = response.into_parts();
        let response_body = route.binding.response_body.as_ref();
        // Wait for the first message before sending headers, as grpc-gateway
        // does: a stream that fails at once gets a real HTTP error status.
        let body = match stream.message().await {
            Ok(Some(first)) => Body::Ndjson(Box::new(NdjsonStream::new(
                body::result_line(&self.json, &first, response_body),
                stream,
                Arc::clone(&self.json),
                response_body.cloned(),
                Arc::clone(&route.upstream_errors),
            ))),
            Ok(None) => {
                // The trailers of a stream that sent nothing are already
                // here; those of a longer one come after the response head
                // and are not forwarded.
                let mut response = Response::new(Body::empty());
                response.headers_mut().insert(header::CONTENT_TYPE, NDJSON);
                metadata::to_response_headers(&metadata, response.headers_mut());
                if let Ok(Some(trailers)) = stream.trailers().await {
                    metadata::to_response_headers(&trailers, response.headers_mut());
                }
                return response;
            }
            Err(status) => return self.grpc_error(route, &status, Some(&metadata)),
        };
        let mut response = Response::new(body);
        response.headers_mut().insert(header::CONTENT_TYPE, NDJSON);
        metadata::to_response_headers(&metadata, response.headers_mut());
        response
    }

    /// The upstream's error, with its details and metadata (the response
    /// `headers` when they came before the status, then the status's own:
    /// the trailers); counted.
    fn grpc_error(
        &self,
        route: &Route,
        status: &tonic::Status,
        headers: Option<&tonic::metadata::MetadataMap>,
    ) -> Response<Body> {
        if is_local_timeout(status) {
            route.upstream_errors.record(Code::DeadlineExceeded);
            return status_response(
                &self.json,
                Code::DeadlineExceeded,
                "the upstream did not answer within the deadline",
            );
        }
        let code = upstream_code(status);
        route.upstream_errors.record(code);
        let mut response = error_response(
            &self.json,
            http_status(code),
            code,
            status.message(),
            status.details(),
        );
        if let Some(headers) = headers {
            metadata::to_response_headers(headers, response.headers_mut());
        }
        metadata::to_response_headers(status.metadata(), response.headers_mut());
        response
    }

    async fn read_body<B>(&self, parts: &Parts, body: B) -> Result<Bytes, Response<Body>>
    where
        B: http_body::Body<Data = Bytes> + Send,
        B::Error: Into<BoxError>,
    {
        let max = self.limits.max_body_bytes;
        let too_large = || {
            error_response(
                &self.json,
                StatusCode::PAYLOAD_TOO_LARGE,
                Code::ResourceExhausted,
                &format!("the request body is larger than {max} bytes"),
                &[],
            )
        };
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|length| length > max as u64) {
            return Err(too_large());
        }
        match Limited::new(body, max).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
            Err(error) => Err(status_response(
                &self.json,
                Code::InvalidArgument,
                &format!("cannot read the request body: {error}"),
            )),
        }
    }

    /// Answers a CORS preflight, labelled as the route the browser asks
    /// about (its `Access-Control-Request-Method` on this path).
    fn preflight(&self, parts: &Parts) -> (Response<Body>, Served) {
        let path = parts.uri.path();
        let served = parts
            .headers
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|value| Method::from_bytes(value.as_bytes()).ok())
            .and_then(|method| match self.router.find(&method, path) {
                Lookup::Found { binding, .. } => Some(Served::Binding(binding)),
                _ => None,
            })
            .unwrap_or(Served::Unmatched);
        let methods = self.router.methods(path);
        let response = match self.cors.preflight(parts, &methods) {
            Preflight::Allowed(headers) => {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = StatusCode::NO_CONTENT;
                *response.headers_mut() = headers;
                response
            }
            Preflight::Forbidden => error_response(
                &self.json,
                StatusCode::FORBIDDEN,
                Code::PermissionDenied,
                "origin not allowed",
                &[],
            ),
            Preflight::UnknownPath => error_response(
                &self.json,
                StatusCode::NOT_FOUND,
                Code::NotFound,
                "Not Found",
                &[],
            ),
        };
        (response, served)
    }

    async fn readyz(&self) -> Response<Body> {
        let readiness = self
            .upstreams
            .readiness(self.limits.readiness_timeout)
            .await;
        let status = if readiness.ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        let body = serde_json::to_vec(&readiness).unwrap_or_default();
        json_response(status, body)
    }
}

/// tonic's channel enforces the `grpc-timeout` it sends and reports its own
/// expiry as CANCELLED; for the caller the deadline was exceeded (gRPC
/// clients in other languages say DEADLINE_EXCEEDED here).
fn is_local_timeout(status: &tonic::Status) -> bool {
    if status.code() != Code::Cancelled {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<tonic::TimeoutExpired>() {
            return true;
        }
        source = error.source();
    }
    status.message() == tonic::TimeoutExpired(()).to_string()
}

fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Body::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, JSON);
    response
}
