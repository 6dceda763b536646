//! Each call's deadline: the shortest of the route's timeout from the policy,
//! what is left of the incoming request's deadline, and a deadline the
//! caller set itself. It is sent as `grpc-timeout`, so the upstream stops
//! too, and enforced here.

use std::{
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use tonic::{Status, body::Body};
use tower::BoxError;

use super::CallFuture;
use crate::{deadline, policy::ServicePolicy};

#[derive(Debug, Clone)]
pub struct RouteTimeout<S> {
    inner: S,
    policy: Arc<ServicePolicy>,
}

impl<S> RouteTimeout<S> {
    pub fn new(inner: S, policy: Arc<ServicePolicy>) -> Self {
        Self { inner, policy }
    }
}

/// The deadline a caller already put on the request.
fn requested(request: &http::Request<Body>) -> Option<Duration> {
    request
        .headers()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(deadline::parse_grpc_timeout)
}

impl<S> tower::Service<http::Request<Body>> for RouteTimeout<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = CallFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let method = request.uri().path().rsplit('/').next().unwrap_or_default();
        let timeout = [
            self.policy.timeout_of(method),
            deadline::remaining(),
            requested(&request),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(timeout) = timeout else {
            let call = self.inner.call(request);
            return Box::pin(async move { call.await.map_err(Into::into) });
        };
        if let Ok(value) = http::HeaderValue::from_str(&deadline::encode_grpc_timeout(timeout)) {
            request.headers_mut().insert("grpc-timeout", value);
        }
        let call = self.inner.call(request);
        Box::pin(async move {
            match tokio::time::timeout(timeout, call).await {
                Ok(outcome) => outcome.map_err(Into::into),
                Err(_) => Err(Status::deadline_exceeded(format!(
                    "no answer within {} ms",
                    timeout.as_millis()
                ))
                .into()),
            }
        })
    }
}
