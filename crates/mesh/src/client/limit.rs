//! The most requests in flight to one upstream (Envoy's `maxRequests`):
//! past it a call fails at once with UNAVAILABLE instead of queueing.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use bazaar_observe::prometheus_client::metrics::counter::Counter;
use tokio::sync::Semaphore;
use tonic::{Status, body::Body};
use tower::BoxError;

use super::{CallFuture, NotSent};

#[derive(Debug, Clone)]
pub struct InFlightLimit<S> {
    inner: S,
    upstream: Arc<str>,
    permits: Arc<Semaphore>,
    refused: Counter,
}

impl<S> InFlightLimit<S> {
    /// At most `max` calls in flight; each refused one counts in `refused`.
    pub fn new(inner: S, upstream: &str, max: u32, refused: Counter) -> Self {
        Self {
            inner,
            upstream: upstream.into(),
            permits: Arc::new(Semaphore::new(max as usize)),
            refused,
        }
    }
}

impl<S> tower::Service<http::Request<Body>> for InFlightLimit<S>
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

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            self.refused.inc();
            let status =
                Status::unavailable(format!("too many requests in flight to {}", self.upstream));
            return Box::pin(async move { Err(NotSent(status).into()) });
        };
        let call = self.inner.call(request);
        Box::pin(async move {
            let outcome = call.await.map_err(Into::into);
            drop(permit);
            outcome
        })
    }
}
