//! Channels for service-to-service calls.
//!
//! Services reach each other through the mesh's client stack (route
//! timeout with deadline propagation, circuit breaker, in-flight limit,
//! mTLS) under a layer that counts and traces each call (a client span whose
//! W3C context the request carries), with budgeted retries of idempotent
//! calls; see [`crate::service::App::dependency`]. Channels are
//! lazy, so a service starts even if a dependency is not up yet.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tonic::{
    Status,
    transport::{Channel, Endpoint},
};

/// Where one dependency is. How calls to it behave (timeouts, retries,
/// breaking) is the mesh policy's to say, not this.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientConfig {
    /// The dependency's address, e.g. `http://127.0.0.1:50052` (mTLS is
    /// added by the mesh, not the scheme).
    pub url: String,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            connect_timeout: Duration::from_secs(1),
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

/// A lazily connecting plaintext channel to `config.url`, for what is not in
/// the mesh (tests, tools); services call each other through
/// [`crate::service::App::dependency`].
pub fn channel(config: &ClientConfig) -> Result<Channel, ClientError> {
    let endpoint = Endpoint::from_shared(config.url.clone()).map_err(|source| ClientError {
        url: config.url.clone(),
        source,
    })?;
    Ok(endpoint
        .connect_timeout(config.connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .connect_lazy())
}

/// A channel through the mesh's client stack, whose first layer traces
/// each call (a client span, its context sent along) and counts it.
pub type TracedChannel = bazaar_mesh::MeshChannel;

/// One dependency: its channel and the retry state all its calls share.
#[derive(Debug, Clone)]
pub struct Dependency {
    pub channel: TracedChannel,
    /// Retries idempotent calls within the policy's budget (off in sidecar
    /// mode, where the sidecar retries).
    pub retrier: bazaar_mesh::Retrier,
}

/// True when a failed call certainly never reached the callee, so it had
/// no effect there: the connection was refused or could not be set up (TCP
/// or TLS), or the mesh's client stack refused it (circuit open, too many in
/// flight).
pub fn never_delivered(status: &Status) -> bool {
    if bazaar_mesh::client::never_sent(status) {
        return true;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(error) = source {
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        source = error.source();
    }
    false
}

/// True when a call ran out of time: the callee may or may not have acted.
/// (tonic reports an expired deadline as CANCELLED "Timeout expired".)
pub fn timed_out(status: &Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_was_never_delivered() {
        // Bind and drop to get a port nothing listens on.
        let port = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = ClientConfig::for_url(format!("http://127.0.0.1:{port}"));
        let mut health =
            tonic_health::pb::health_client::HealthClient::new(channel(&config).unwrap());
        let status = health
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(never_delivered(&status), "{status:?}");
        assert!(!never_delivered(&Status::unavailable("processor down")));
    }
}
