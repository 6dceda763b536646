//! The client side of the mesh: a channel to one upstream with the policy's
//! resilience in front of it, read top-down:
//!
//! ```text
//! metrics and a client span (trace context injected)
//! → route timeout (policy timeout ∧ incoming deadline ∧ caller's deadline)
//!   → circuit breaker (outlier detection)
//!     → in-flight limit
//!       → channel (mTLS with the upstream's identity, or plaintext)
//! ```
//!
//! Retries sit above the channel, at the typed call ([`crate::Retrier`]),
//! because only the caller knows a request can be sent twice.

mod breaker;
mod limit;
mod telemetry;
mod timeout;

use std::{io, sync::Arc, time::Duration};

use bazaar_observe::{ErrorCode, ObserveLayer};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tonic::{
    body::Body,
    transport::{Channel, Endpoint, Uri},
};
use tower::{BoxError, Layer as _, ServiceExt as _, util::BoxCloneSyncService};

pub use breaker::Breaker;
pub use limit::InFlightLimit;
pub use telemetry::{ClientMetrics, UpstreamMetrics};
pub use timeout::RouteTimeout;

use crate::{identity::SpiffeId, policy::ServicePolicy, tls::Credentials};

/// A channel through the mesh's client stack; give it to a generated
/// client's `new`.
pub type MeshChannel = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, CallError>;

/// The future of a call through one layer of the stack.
pub type CallFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<http::Response<Body>, BoxError>> + Send>,
>;

/// Why a call through the stack failed. tonic finds a [`tonic::Status`]
/// (fail-fast UNAVAILABLE, DEADLINE_EXCEEDED) or a connect error in its
/// source chain and reports that; a named type rather than a bare `BoxError`
/// keeps callers' futures provably `Send`.
#[derive(Debug)]
pub struct CallError(BoxError);

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<BoxError> for CallError {
    fn from(error: BoxError) -> Self {
        Self(error)
    }
}

impl CallError {
    /// A failure that carries no gRPC status is the connection's (refused,
    /// reset, closed mid-call): UNAVAILABLE, never tonic's UNKNOWN. The
    /// original error stays the status's source, so [`never_sent`] still
    /// sees a connect error in it.
    fn unavailable_if_cut(error: BoxError) -> Self {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&*error);
        while let Some(cause) = source {
            if cause.is::<tonic::Status>() {
                return Self(error);
            }
            source = cause.source();
        }
        let mut status =
            tonic::Status::unavailable(format!("the upstream connection failed: {error}"));
        status.set_source(Arc::from(error));
        Self(Box::new(status))
    }
}

impl std::error::Error for CallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

impl ErrorCode for CallError {
    /// What the caller will see: a status in the chain, else (a transport
    /// failure) UNAVAILABLE, as tonic reports it.
    fn code(&self) -> tonic::Code {
        match bazaar_observe::code_of_error(&*self.0) {
            tonic::Code::Unknown => tonic::Code::Unavailable,
            code => code,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid upstream address {url:?}: {source}")]
    Address {
        url: String,
        source: tonic::transport::Error,
    },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

/// A call the stack refused without sending it (circuit open, too many in
/// flight). tonic reports the status inside; [`never_sent`] recognises it.
#[derive(Debug)]
pub struct NotSent(pub tonic::Status);

impl std::fmt::Display for NotSent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.message())
    }
}

impl std::error::Error for NotSent {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// True when a failed call certainly never reached the upstream: this stack
/// refused it, or the connection (TCP or TLS) could not be set up. Only
/// then is it known to have had no effect there.
pub fn never_sent(status: &tonic::Status) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<NotSent>() || error.is::<tonic::ConnectError>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// How to reach one upstream.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Its workload name in the policy, for logs and errors.
    pub name: String,
    /// `http://host:port`; TLS is added by the stack, not the scheme.
    pub url: String,
    pub policy: Arc<ServicePolicy>,
    /// mTLS as this workload, to a server proving `identity`; `None` for
    /// plaintext (a sidecar encrypts).
    pub tls: Option<(Arc<Credentials>, SpiffeId)>,
    pub connect_timeout: Duration,
    /// Where the calls are counted and traced; `None` for neither.
    pub metrics: Option<ClientMetrics>,
}

impl Upstream {
    /// A lazily connecting channel with the whole stack.
    pub fn channel(&self) -> Result<MeshChannel, ClientError> {
        Ok(self.channel_over(self.transport()?))
    }

    /// The whole stack over `transport` (for example one HTTP/2 connection
    /// per runtime of a caller running several; see [`Self::transport`]).
    pub fn channel_over<T>(&self, channel: T) -> MeshChannel
    where
        T: tower::Service<http::Request<Body>, Response = http::Response<Body>>
            + Clone
            + Send
            + Sync
            + 'static,
        T::Error: Into<BoxError>,
        T::Future: Send + 'static,
    {
        let policy = &self.policy;
        let counters = self.upstream_metrics();
        let stack = InFlightLimit::new(
            channel,
            &self.name,
            policy.circuit_breaker.max_requests,
            counters.in_flight_refused.clone(),
        );
        let stack = Breaker::new(stack, &self.name, &policy.circuit_breaker, &counters);
        let stack = RouteTimeout::new(stack, Arc::clone(policy));
        let stack = stack.map_err(CallError::unavailable_if_cut as fn(BoxError) -> CallError);
        match &self.metrics {
            Some(metrics) => BoxCloneSyncService::new(
                ObserveLayer::new(metrics.grpc.clone())
                    .layer(stack)
                    .map_response(|response| response.map(Body::new)),
            ),
            None => BoxCloneSyncService::new(stack),
        }
    }

    /// This upstream's resilience counters (unregistered without metrics).
    pub fn upstream_metrics(&self) -> UpstreamMetrics {
        self.metrics
            .as_ref()
            .map(|metrics| metrics.upstream(&self.name))
            .unwrap_or_default()
    }

    /// The bare channel: HTTP/2, over mTLS when configured.
    pub fn transport(&self) -> Result<Channel, ClientError> {
        let endpoint = Endpoint::from_shared(self.url.clone())
            .map_err(|source| ClientError::Address {
                url: self.url.clone(),
                source,
            })?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10));
        Ok(match &self.tls {
            None => endpoint.connect_lazy(),
            Some((credentials, identity)) => {
                let connector = TlsConnector {
                    config: credentials.client_config(identity.clone())?,
                    connect_timeout: self.connect_timeout,
                };
                endpoint.connect_with_connector_lazy(connector)
            }
        })
    }
}

/// Opens TCP, then TLS with the workload's certificate.
#[derive(Clone)]
struct TlsConnector {
    config: Arc<rustls::ClientConfig>,
    connect_timeout: Duration,
}

impl tower::Service<Uri> for TlsConnector {
    type Response = TokioIo<tokio_rustls::client::TlsStream<TcpStream>>;
    type Error = io::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, io::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let config = Arc::clone(&self.config);
        let connect_timeout = self.connect_timeout;
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no host"))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = uri.port_u16().unwrap_or(443);
            let tcp =
                tokio::time::timeout(connect_timeout, TcpStream::connect((host.as_str(), port)))
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
            tcp.set_nodelay(true)?;
            // The name is only for SNI: the server is verified by identity.
            let name = rustls::pki_types::ServerName::try_from(host)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await?;
            Ok(TokioIo::new(tls))
        })
    }
}
