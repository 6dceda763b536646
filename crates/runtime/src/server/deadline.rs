//! The server's own limit on a request. A request past it ends with
//! `DEADLINE_EXCEEDED`, as the gRPC spec asks (tonic's `Server::timeout`
//! answers `CANCELLED`). A shorter client `grpc-timeout` is also honoured
//! here, though tonic's transport usually ends such a call first. The
//! deadline is also recorded for the handler's task, so the calls it makes
//! to other services carry what is left of it.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use pin_project_lite::pin_project;
use tokio::{task::futures::TaskLocalFuture, time::Sleep};
use tonic::Status;

#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer {
    limit: Duration,
}

impl DeadlineLayer {
    pub fn new(limit: Duration) -> Self {
        Self { limit }
    }
}

impl<S> tower::Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Deadline {
            inner,
            limit: self.limit,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Deadline<S> {
    inner: S,
    limit: Duration,
}

impl<S, B, RB> tower::Service<http::Request<B>> for Deadline<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    RB: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = DeadlineFuture<TaskLocalFuture<std::time::Instant, S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let client = request
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout);
        let deadline = client.map_or(self.limit, |c| c.min(self.limit));
        // The handler's own calls get at most what is left of it.
        let at = std::time::Instant::now() + deadline;
        DeadlineFuture {
            inner: bazaar_mesh::deadline::scope(at, self.inner.call(request)),
            sleep: tokio::time::sleep(deadline),
        }
    }
}

pin_project! {
    pub struct DeadlineFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        sleep: Sleep,
    }
}

impl<F, RB, E> Future for DeadlineFuture<F>
where
    F: Future<Output = Result<http::Response<RB>, E>>,
    RB: Default,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.inner.poll(cx) {
            return Poll::Ready(output);
        }
        match this.sleep.poll(cx) {
            Poll::Ready(()) => Poll::Ready(Ok(
                Status::deadline_exceeded("deadline exceeded").into_http()
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

pub use bazaar_mesh::deadline::parse_grpc_timeout;
