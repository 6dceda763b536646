//! The HTTP server: accepts connections (HTTP/1.1 and h2c, detected per
//! connection), serves each on its own task, and stops gracefully: no new
//! connections after the shutdown signal, in-flight requests drain for at
//! most the grace period.

use std::{convert::Infallible, future::Future, sync::Arc, time::Duration};

use hyper::service::service_fn;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use tokio::net::TcpListener;

use crate::gateway::Gateway;

pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let addr = listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    tracing::info!(%addr, routes = gateway.routes.len(), "REST gateway listening");

    let _anchor = AbortOnDrop(tokio::spawn(timer_anchor()));
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = bazaar_mesh::incoming::accept(&listener) => accepted,
            () = &mut shutdown => break,
        };
        // Small JSON answers must not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let gateway = Arc::clone(&gateway);
        let peer = crate::metadata::peer(remote);
        let service = service_fn(move |request| {
            let gateway = Arc::clone(&gateway);
            let peer = peer.clone();
            async move { Ok::<_, Infallible>(gateway.handle(request, peer.as_ref()).await) }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }

    drop(listener);
    let grace = gateway.shutdown_grace;
    tracing::info!("stopping: refusing new connections, draining requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("REST gateway stopped"),
        () = tokio::time::sleep(grace) => {
            tracing::warn!(?grace, "requests still running after the grace period; dropping them");
        }
    }
    Ok(())
}

/// How often the timer anchor wakes: shorter than any per-request deadline
/// worth saving a wake-up for (the defaults are 10 s and 30 s).
const ANCHOR_PERIOD: Duration = Duration::from_millis(500);

/// Keeps a timer due sooner than every per-request deadline. Tokio's time
/// driver wakes its own parked thread (an eventfd write, then an extra
/// `epoll_wait`) whenever a new timer is due before the earliest one it
/// knew of when it last parked; each request arms such timers (the
/// request timeout, the upstream deadline), so without an earlier timer
/// every request paid those two system calls. Two wake-ups a second when
/// idle is the price.
async fn timer_anchor() {
    loop {
        tokio::time::sleep(ANCHOR_PERIOD).await;
    }
}

/// Ends a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
