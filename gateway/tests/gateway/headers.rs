//! Headers become metadata and back; deadlines and trace context travel.

use std::time::Duration;

use bazaar_runtime::server::parse_grpc_timeout;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::Full;

use crate::{
    support::{HttpClient, shapes, shapes_with, spawn_with},
    upstreams::{SHAPES_SET, start_raw_echo},
};

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

#[tokio::test]
async fn authorization_and_grpc_metadata_are_forwarded() {
    let (_up, gw) = shapes().await;
    let answer = gw
        .send(
            Method::GET,
            "/v1/echo/pv",
            &[
                ("authorization", "Bearer abc"),
                ("grpc-metadata-tenant", "acme"),
                ("cookie", "session=secret"),
                ("x-request-id", "req-123"),
            ],
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let metadata = &answer.json()["metadata"];
    assert_eq!(metadata["authorization"], "Bearer abc");
    assert_eq!(metadata["tenant"], "acme");
    assert_eq!(metadata["x-request-id"], "req-123");
    assert_eq!(metadata["x-forwarded-for"], "127.0.0.1");
    assert!(
        metadata["x-forwarded-host"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert!(metadata.get("cookie").is_none(), "{metadata}");
    // The request id is echoed; response metadata comes back prefixed.
    assert_eq!(answer.header("x-request-id"), Some("req-123"));
    assert_eq!(answer.header("grpc-metadata-x-served-by"), Some("shapes"));
    assert!(answer.header("grpc-metadata-content-type").is_none());
}

/// Every value of a header named `name`, in order.
fn all<'a>(answer: &'a crate::support::Answer, name: &str) -> Vec<&'a str> {
    answer
        .headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().expect("ASCII"))
        .collect()
}

#[tokio::test]
async fn metadata_headers_grpc_cannot_carry_are_skipped() {
    let (_up, gw) = shapes().await;
    // `!` is fine in an HTTP name but not in a gRPC key; a tab is fine in an
    // HTTP value but not in gRPC text metadata.
    let answer = gw
        .send(
            Method::GET,
            "/v1/echo/pv",
            &[
                ("grpc-metadata-ten!ant", "acme"),
                ("grpc-metadata-tenant", "tab\there"),
                ("authorization", "Bearer abc"),
            ],
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let metadata = &answer.json()["metadata"];
    assert!(metadata.get("tenant").is_none(), "{metadata}");
    assert_eq!(metadata["authorization"], "Bearer abc");

    // Bytes past ASCII: the request still goes through, without them.
    let client: HttpClient =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let mut request = Request::get(gw.url("/v1/echo/pv"))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let headers = request.headers_mut();
    headers.insert(
        "grpc-metadata-tenant",
        HeaderValue::from_bytes("caf\u{e9}".as_bytes()).expect("obs-text"),
    );
    headers.append("grpc-metadata-tenant", HeaderValue::from_static("acme"));
    let response = client.request(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("body")
        .to_bytes();
    let echoed: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(echoed["metadata"]["tenant"], "acme", "{echoed}");
}

#[tokio::test]
async fn every_value_of_repeated_response_metadata_comes_back() {
    let (_up, gw) = shapes().await;
    let answer = gw.get("/v1/echo/pv").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        all(&answer, "grpc-metadata-x-served-on"),
        ["port-0", "loopback"]
    );
    // On errors too.
    let answer = gw.get("/v1/fail/5").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(
        all(&answer, "grpc-metadata-x-failure-reason"),
        ["asked", "tested"]
    );
}

#[tokio::test]
async fn trailers_come_back_with_the_headers_each_value_kept() {
    let up = start_raw_echo(
        &[("x-multi", "h1"), ("x-multi", "h2"), ("x-both", "header")],
        &[
            ("x-trailer", "t1"),
            ("x-trailer", "t2"),
            ("x-both", "trailer"),
        ],
    )
    .await;
    let url = up.url();
    let gw = spawn_with(SHAPES_SET, |c| c.upstream = Some(url)).await;
    let answer = gw.get("/v1/echo/pv").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(all(&answer, "grpc-metadata-x-multi"), ["h1", "h2"]);
    assert_eq!(all(&answer, "grpc-metadata-x-trailer"), ["t1", "t2"]);
    // A trailer does not replace the header of the same key.
    assert_eq!(all(&answer, "grpc-metadata-x-both"), ["header", "trailer"]);
    assert!(answer.header("grpc-metadata-grpc-status").is_none());
}

#[tokio::test]
async fn a_request_id_is_generated_when_absent() {
    let (_up, gw) = shapes().await;
    let answer = gw.get("/v1/echo/pv").await;
    let id = answer
        .header("x-request-id")
        .expect("a request id")
        .to_owned();
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(answer.json()["metadata"]["x-request-id"], id.as_str());
    // Errors carry it too.
    assert!(gw.get("/nope").await.header("x-request-id").is_some());
}

#[tokio::test]
async fn trace_context_passes_through_without_telemetry() {
    let (_up, gw) = shapes().await;
    let answer = gw
        .send(
            Method::GET,
            "/v1/echo/pv",
            &[("traceparent", TRACEPARENT), ("tracestate", "vendor=1")],
            None,
        )
        .await;
    let metadata = &answer.json()["metadata"];
    assert_eq!(metadata["traceparent"], TRACEPARENT);
    assert_eq!(metadata["tracestate"], "vendor=1");
}

#[tokio::test]
async fn grpc_timeout_comes_from_the_header_or_the_default() {
    let (_up, gw) = shapes_with(|c| c.upstream_timeout = Duration::from_secs(3)).await;
    let sent = |answer: serde_json::Value| {
        parse_grpc_timeout(answer["grpc_timeout"].as_str().expect("grpc_timeout"))
            .expect("a valid grpc-timeout")
    };
    let with_header = gw
        .send(
            Method::GET,
            "/v1/sleep/1",
            &[("grpc-timeout", "1500m")],
            None,
        )
        .await
        .json();
    let timeout = sent(with_header);
    assert!(
        timeout <= Duration::from_millis(1500) && timeout > Duration::from_secs(1),
        "{timeout:?}"
    );
    let timeout = sent(gw.get("/v1/sleep/1").await.json());
    assert!(
        timeout <= Duration::from_secs(3) && timeout > Duration::from_secs(2),
        "{timeout:?}"
    );
}

#[tokio::test]
async fn an_expired_deadline_is_504() {
    let (_up, gw) = shapes().await;
    let answer = gw
        .send(
            Method::GET,
            "/v1/sleep/2000",
            &[("grpc-timeout", "100m")],
            None,
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::GATEWAY_TIMEOUT,
        "{}",
        answer.text()
    );
    assert_eq!(answer.json()["code"], 4);
}

#[tokio::test]
async fn the_gateway_span_joins_the_callers_trace() {
    let config = bazaar_runtime::telemetry::TelemetryConfig {
        log_filter: "bazaar_gateway=info,warn".to_owned(),
        ..Default::default()
    };
    // nextest runs each test in its own process; under `cargo test` another
    // test may have installed the subscriber first, which is as good.
    let _telemetry = bazaar_runtime::telemetry::init("gateway-test", &config).ok();
    let (_up, gw) = shapes().await;

    let answer = gw
        .send(
            Method::GET,
            "/v1/echo/pv",
            &[("traceparent", TRACEPARENT)],
            None,
        )
        .await;
    let forwarded = answer.json()["metadata"]["traceparent"]
        .as_str()
        .expect("a traceparent upstream")
        .to_owned();
    let parts: Vec<&str> = forwarded.split('-').collect();
    assert_eq!(parts.len(), 4, "{forwarded}");
    // Same trace, with the gateway's own span as the parent.
    assert_eq!(parts[1], "0af7651916cd43dd8448eb211c80319c");
    assert_ne!(parts[2], "b7ad6b7169203331");

    // Without one, the gateway starts a trace.
    let answer = gw.get("/v1/echo/pv").await;
    let started = answer.json()["metadata"]["traceparent"]
        .as_str()
        .expect("a traceparent upstream")
        .to_owned();
    assert_eq!(started.len(), 55, "{started}");
}
