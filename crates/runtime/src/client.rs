//! Channels for service-to-service calls.
//!
//! Every client gets the same policy: a connect timeout, a per-call deadline
//! (sent as `grpc-timeout` so the server stops working when the caller has
//! given up), lazy connection (a service starts even if a dependency is not
//! up yet), HTTP/2 keep-alive, and W3C trace context on every request.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tonic::{
    Request, Status,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

/// The policy for calls to one dependency.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientConfig {
    /// The dependency's address, e.g. `http://127.0.0.1:50052`.
    pub url: String,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Deadline of each call.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
        }
    }
}

impl ClientConfig {
    pub fn for_url(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid client address {url:?}: {source}")]
pub struct ClientError {
    url: String,
    source: tonic::transport::Error,
}

/// A lazily connecting channel to `config.url`.
pub fn channel(config: &ClientConfig) -> Result<Channel, ClientError> {
    let endpoint = Endpoint::from_shared(config.url.clone()).map_err(|source| ClientError {
        url: config.url.clone(),
        source,
    })?;
    Ok(endpoint
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .connect_lazy())
}

/// A channel wrapped so each request carries the deadline and trace context.
/// Pass it to a generated client's `new`.
pub fn traced_channel(config: &ClientConfig) -> Result<TracedChannel, ClientError> {
    Ok(InterceptedService::new(
        channel(config)?,
        CallPolicy {
            deadline: config.request_timeout,
        },
    ))
}

pub type TracedChannel = InterceptedService<Channel, CallPolicy>;

/// Stamps each outgoing request with its deadline and the current trace.
#[derive(Debug, Clone, Copy)]
pub struct CallPolicy {
    deadline: Duration,
}

impl Interceptor for CallPolicy {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        // A deadline set by the caller for this one request wins.
        if !request.metadata().contains_key("grpc-timeout") {
            request.set_timeout(self.deadline);
        }
        let mut headers = std::mem::take(request.metadata_mut()).into_headers();
        crate::telemetry::inject_current_context(&mut headers);
        *request.metadata_mut() = tonic::metadata::MetadataMap::from_headers(headers);
        Ok(request)
    }
}
