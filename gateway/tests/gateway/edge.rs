//! The edge's own duties: health, readiness, CORS, the per-request timeout,
//! graceful shutdown, the docs.

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use tonic_health::ServingStatus;

use crate::{
    support::{fetch, shapes, shapes_with, spawn_with},
    upstreams::{SHAPES_SET, bind, serve_on, shapes_builder},
};

const SHAPE_SERVICE: &str = "gwtest.shapes.v1.ShapeService";

#[tokio::test]
async fn readyz_follows_the_upstream_health() {
    // Bound but not serving yet: connections queue, health checks time out.
    let listener = bind().await;
    let url = format!("http://{}", listener.local_addr().unwrap());
    let gw = spawn_with(SHAPES_SET, |c| c.upstream = Some(url)).await;

    assert_eq!(gw.get("/healthz").await.status, StatusCode::OK);
    let answer = gw.get("/readyz").await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.text()
    );
    assert_eq!(answer.json()["ready"], false);

    let upstream = serve_on(shapes_builder(), listener);
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let answer = gw.get("/readyz").await;
        if answer.status == StatusCode::OK || Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.json()["upstreams"][SHAPE_SERVICE], "SERVING");

    upstream
        .health
        .set_service_status(SHAPE_SERVICE, ServingStatus::NotServing)
        .await;
    let answer = gw.get("/readyz").await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.json()["upstreams"][SHAPE_SERVICE], "NOT_SERVING");
    // Liveness does not depend on upstreams.
    assert_eq!(gw.get("/healthz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn cors_preflight_lists_the_paths_methods() {
    let (_up, gw) =
        shapes_with(|c| c.cors.allowed_origins = vec!["https://shop.example".to_owned()]).await;
    let answer = gw
        .send(
            Method::OPTIONS,
            "/v1/items/1",
            &[
                ("origin", "https://shop.example"),
                ("access-control-request-method", "PATCH"),
                (
                    "access-control-request-headers",
                    "authorization, content-type",
                ),
            ],
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some("https://shop.example")
    );
    assert_eq!(
        answer.header("access-control-allow-methods"),
        Some("GET, PATCH, DELETE")
    );
    assert_eq!(
        answer.header("access-control-allow-headers"),
        Some("authorization, content-type")
    );
    assert_eq!(answer.header("access-control-max-age"), Some("600"));

    let refused = gw
        .send(
            Method::OPTIONS,
            "/v1/items/1",
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "GET"),
            ],
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn cors_headers_on_answers_to_allowed_origins() {
    let (_up, gw) =
        shapes_with(|c| c.cors.allowed_origins = vec!["https://shop.example".to_owned()]).await;
    let answer = gw
        .send(
            Method::GET,
            "/v1/echo/x",
            &[("origin", "https://shop.example")],
            None,
        )
        .await;
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some("https://shop.example")
    );
    let exposed = answer
        .header("access-control-expose-headers")
        .unwrap_or_default();
    assert!(
        exposed.contains("x-request-id") && exposed.contains("grpc-metadata-x-served-by"),
        "{exposed}"
    );
    let other = gw
        .send(
            Method::GET,
            "/v1/echo/x",
            &[("origin", "https://evil.example")],
            None,
        )
        .await;
    assert_eq!(other.status, StatusCode::OK);
    assert!(other.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn cors_any_origin() {
    let (_up, gw) = shapes_with(|c| c.cors.allowed_origins = vec!["*".to_owned()]).await;
    let answer = gw
        .send(
            Method::GET,
            "/v1/items/1",
            &[("origin", "https://anyone.example")],
            None,
        )
        .await;
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn without_cors_a_preflight_is_just_an_options_request() {
    let (_up, gw) = shapes().await;
    let answer = gw
        .send(
            Method::OPTIONS,
            "/v1/items/1",
            &[
                ("origin", "https://shop.example"),
                ("access-control-request-method", "GET"),
            ],
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(answer.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn requests_past_the_edge_timeout_are_504() {
    let (_up, gw) = shapes_with(|c| c.request_timeout = Duration::from_millis(200)).await;
    let started = Instant::now();
    let answer = gw.get("/v1/sleep/3000").await;
    assert_eq!(
        answer.status,
        StatusCode::GATEWAY_TIMEOUT,
        "{}",
        answer.text()
    );
    assert_eq!(answer.json()["code"], 4);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn shutdown_drains_requests_in_flight() {
    let (_up, gw) = shapes().await;
    let addr = gw.addr;
    let url = gw.url("/v1/sleep/600");
    let slow = tokio::spawn(fetch(url));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let stopping = Instant::now();
    gw.stop().await.expect("a clean stop");
    // `run` returned only once the request in flight was answered.
    assert!(
        stopping.elapsed() >= Duration::from_millis(250),
        "{:?}",
        stopping.elapsed()
    );
    let answer = slow.await.expect("request task");
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn docs_and_openapi_are_served() {
    let (_up, gw) = shapes().await;
    let docs = gw.get("/docs").await;
    assert_eq!(docs.status, StatusCode::OK);
    assert!(
        docs.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(docs.text().contains("openapi.json"));
    let spec = gw.get("/openapi.json").await;
    assert_eq!(spec.status, StatusCode::OK);
    assert_eq!(spec.json()["openapi"], "3.1.0");
    let older = gw.get("/openapi-3.0.json").await;
    assert_eq!(older.status, StatusCode::OK);
    assert_eq!(older.json()["openapi"], "3.0.3");
}

#[tokio::test]
async fn http2_without_tls_is_served_too() {
    use http_body_util::{BodyExt as _, Full};
    let (_up, gw) = shapes().await;
    let client: hyper_util::client::legacy::Client<_, Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .http2_only(true)
            .build_http();
    let request = http::Request::get(gw.url("/v1/items/h2"))
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
    let response = client.request(request).await.expect("h2c response");
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let item: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(item["id"], "h2");
}

/// A TCP forwarder to `target` that counts the connections made through it.
async fn counting_forwarder(
    target: std::net::SocketAddr,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::{Arc, atomic::AtomicUsize};
    let listener = bind().await;
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    (url, connections)
}

#[tokio::test]
async fn connections_are_spread_over_the_workers_and_each_worker_has_its_own_upstream_connection() {
    for workers in [1, 3] {
        let upstream = serve_on(shapes_builder(), bind().await);
        let (url, upstream_connections) = counting_forwarder(upstream.addr).await;
        let gw = spawn_with(SHAPES_SET, |c| {
            c.upstream = Some(url);
            c.workers = workers;
        })
        .await;
        // Each fetch is a new client connection: round robin gives each
        // worker two of the six.
        for n in 0..6 {
            let answer = fetch(gw.url(&format!("/v1/echo/c{n}?text=hi"))).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
            assert!(answer.text().contains("\"hi\""), "{}", answer.text());
        }
        assert_eq!(
            upstream_connections.load(std::sync::atomic::Ordering::SeqCst),
            workers,
            "one HTTP/2 connection upstream per worker"
        );
        gw.stop().await.expect("stopped");
    }
}
