//! The HTTP server: accepts connections (HTTP/1.1 and h2c, detected per
//! connection), serves each on its own task, and stops gracefully: no new
//! connections after the shutdown signal, in-flight requests drain for at
//! most the grace period.

use std::{convert::Infallible, future::Future, sync::Arc};

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
