//! The admin port: plain HTTP beside the gRPC port, for Prometheus
//! (`GET /metrics`, the text exposition) and liveness probes
//! (`GET /healthz`). It serves nothing else and carries no user data, so it
//! needs no mTLS; keep it off public networks all the same.

use std::{convert::Infallible, future::Future, net::SocketAddr};

use bazaar_observe::Metrics;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The Prometheus text format's content type.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves `/metrics` and `/healthz` on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, metrics: Metrics, shutdown: impl Future<Output = ()>) {
    let addr = listener.local_addr().ok();
    tracing::info!(addr = ?addr, "admin HTTP listening (/metrics, /healthz)");
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = bazaar_mesh::incoming::accept(&listener) => accepted,
            () = &mut shutdown => break,
        };
        let metrics = metrics.clone();
        let service = service_fn(move |request| {
            let metrics = metrics.clone();
            async move { Ok::<_, Infallible>(answer(&request, &metrics)) }
        });
        tokio::spawn(async move {
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "admin connection ended with an error");
            }
        });
    }
}

/// Binds `addr` and serves it in a task that ends with `shutdown`.
pub async fn spawn(
    addr: SocketAddr,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = crate::server::bind(addr).await?;
    Ok(tokio::spawn(serve(listener, metrics, shutdown)))
}

fn answer(request: &Request<Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
    }
    match request.uri().path() {
        "/metrics" => {
            let mut response = Response::new(Full::new(Bytes::from(metrics.encode())));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(TEXT_FORMAT),
            );
            response
        }
        "/healthz" => plain(StatusCode::OK, "ok\n"),
        _ => plain(
            StatusCode::NOT_FOUND,
            "not found: try /metrics or /healthz\n",
        ),
    }
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}
