//! The HTTP server: accepts connections (HTTP/1.1 and h2c, detected per
//! connection), serves each on its own task, and stops gracefully: no new
//! connections after the shutdown signal, in-flight requests drain for at
//! most the grace period.

use std::{convert::Infallible, future::Future, sync::Arc, time::Duration};

use hyper::service::service_fn;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{
        conn::auto,
        graceful::{GracefulShutdown, Watcher},
    },
};
use tokio::net::TcpListener;

use crate::{gateway::Gateway, workers::Workers};

pub async fn serve(
    gateway: Arc<Gateway>,
    workers: &Workers,
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
    tracing::info!(%addr, routes = gateway.routes.len(), workers = workers.len(), "REST gateway listening");

    // Each worker's own, on its own runtime.
    let _anchors: Vec<AbortOnDrop> = workers
        .each(|| Ok::<_, Infallible>(AbortOnDrop(tokio::spawn(timer_anchor()))))
        .unwrap_or_default();
    let mut next_worker = 0usize;
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = bazaar_mesh::incoming::accept(&listener) => accepted,
            () = &mut shutdown => break,
        };
        // Small JSON answers must not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            gateway: Arc::clone(&gateway),
            builder: builder.clone(),
            watcher: graceful.watcher(),
            peer: crate::metadata::peer(remote),
        };
        // Round robin: the connections of a keep-alive load spread evenly.
        let worker = next_worker % workers.len();
        next_worker = next_worker.wrapping_add(1);
        if worker == 0 {
            tokio::spawn(connection.serve(stream));
            continue;
        }
        // Moved to the worker's reactor: deregistered here, registered there.
        match stream.into_std() {
            Ok(stream) => workers.spawn_on(worker, async move {
                match tokio::net::TcpStream::from_std(stream) {
                    Ok(stream) => connection.serve(stream).await,
                    Err(error) => tracing::debug!(%error, "cannot take over a connection"),
                }
            }),
            Err(error) => tracing::debug!(%error, "cannot hand a connection over"),
        }
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

/// One accepted connection, served on whichever worker runs it.
struct Connection {
    gateway: Arc<Gateway>,
    builder: auto::Builder<TokioExecutor>,
    watcher: Watcher,
    peer: Option<http::HeaderValue>,
}

impl Connection {
    async fn serve(self, stream: tokio::net::TcpStream) {
        let Self {
            gateway,
            builder,
            watcher,
            peer,
        } = self;
        let service = service_fn(move |request| {
            let gateway = Arc::clone(&gateway);
            let peer = peer.clone();
            async move { Ok::<_, Infallible>(gateway.handle(request, peer.as_ref()).await) }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        if let Err(error) = watcher.watch(connection).await {
            tracing::debug!(%error, "connection ended with an error");
        }
    }
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
