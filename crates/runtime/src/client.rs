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

/// How often an idempotent call is tried when the callee is UNAVAILABLE.
/// One policy source: where a mesh retries, set `max_attempts = 1` here.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RetryPolicy {
    /// Tries in all, the first included; 1 turns retries off.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each further one.
    #[serde(with = "humantime_serde")]
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff: Duration::from_millis(50),
        }
    }
}

/// Runs `call` under `policy`, retrying only `UNAVAILABLE`. Use it only for
/// idempotent calls: a retried request may have been received before.
pub async fn retry<T, F, Fut>(policy: &RetryPolicy, mut call: F) -> Result<T, Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Status>>,
{
    let mut attempt = 1;
    let mut backoff = policy.backoff;
    loop {
        match call().await {
            Err(status)
                if status.code() == tonic::Code::Unavailable && attempt < policy.max_attempts =>
            {
                tracing::debug!(%status, attempt, "retrying an unavailable callee");
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

/// True when a failed call certainly never reached the callee (the
/// connection was refused), so it had no effect there.
pub fn never_delivered(status: &Status) -> bool {
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
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn retries_only_unavailable_and_only_up_to_the_limit() {
        let policy = RetryPolicy::default();
        let calls = AtomicU32::new(0);
        let result: Result<(), Status> = retry(&policy, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Status::unavailable("down"))
        })
        .await;
        assert_eq!(result.unwrap_err().code(), tonic::Code::Unavailable);
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        calls.store(0, Ordering::SeqCst);
        let result: Result<(), Status> = retry(&policy, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Status::failed_precondition("declined"))
        })
        .await;
        assert_eq!(result.unwrap_err().code(), tonic::Code::FailedPrecondition);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a refusal is not retried");
    }

    #[tokio::test(start_paused = true)]
    async fn a_recovered_callee_answers_the_retry() {
        let calls = AtomicU32::new(0);
        let result = retry(&RetryPolicy::default(), || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 => Err(Status::unavailable("starting")),
                _ => Ok(42),
            }
        })
        .await;
        assert_eq!(result.unwrap(), 42);
    }

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
