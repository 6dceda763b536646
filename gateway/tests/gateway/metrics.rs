//! The admin port: Prometheus metrics of every request (by route template,
//! never by raw path), of failed upstream calls, and the gRPC client
//! metrics of the calls themselves.

use bazaar_runtime::testing::{free_addr, get, sample, scrape};
use http::{Method, StatusCode};

use crate::support::{shapes_with, spawn_with};
use crate::upstreams::SHAPES_SET;

const SHAPES: &str = "gwtest.shapes.v1.ShapeService";

fn requests(method: &str, route: &str, status: u16) -> String {
    format!(r#"http_server_requests_total{{method="{method}",route="{route}",status="{status}"}}"#)
}

fn upstream_errors(code: &str) -> String {
    format!(r#"bazaar_gateway_upstream_errors_total{{upstream="{SHAPES}",code="{code}"}}"#)
}

fn client_handled(grpc_type: &str, method: &str, code: &str) -> String {
    format!(
        r#"grpc_client_handled_total{{grpc_type="{grpc_type}",grpc_service="{SHAPES}",grpc_method="{method}",grpc_code="{code}"}}"#
    )
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_upstream_failures_by_code() {
    let admin = free_addr();
    let (_up, gw) = shapes_with(|c| c.admin_listen = Some(admin)).await;

    for id in ["42", "43"] {
        let item = gw.get(&format!("/v1/items/{id}")).await;
        assert_eq!(item.status, StatusCode::OK, "{}", item.text());
    }
    assert_eq!(gw.get("/v1/nowhere/42").await.status, StatusCode::NOT_FOUND);
    let wrong_method = gw.send(Method::POST, "/v1/fail/3", &[], None).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    let unavailable = gw.get("/v1/fail/14").await;
    assert_eq!(unavailable.status, StatusCode::SERVICE_UNAVAILABLE);
    // A stream that fails after its head went out: still a failed call.
    let stream = gw.get("/v1/count/5?fail_after=2&fail_code=9").await;
    assert_eq!(stream.status, StatusCode::OK);
    assert!(
        stream.text().contains("failed after 2"),
        "{}",
        stream.text()
    );
    let purge = Method::from_bytes(b"PURGE").expect("a method");
    assert_eq!(
        gw.send(purge, "/v1/cache/k1", &[], None).await.status,
        StatusCode::OK
    );
    assert_eq!(gw.get("/healthz").await.status, StatusCode::OK);

    let text = scrape(admin).await;
    let expected = [
        (requests("GET", "/v1/items/{item_id}", 200), 2.0),
        (requests("GET", "unmatched", 404), 1.0),
        (requests("POST", "unmatched", 405), 1.0),
        (requests("GET", "/v1/fail/{code}", 503), 1.0),
        (requests("GET", "/v1/count/{count}", 200), 1.0),
        // A method outside the standard ones is `other`.
        (requests("other", "/v1/cache/{key}", 200), 1.0),
        (requests("GET", "/healthz", 200), 1.0),
        (
            r#"http_server_request_duration_seconds_count{method="GET",route="/v1/items/{item_id}"}"#
                .to_owned(),
            2.0,
        ),
        (upstream_errors("Unavailable"), 1.0),
        (upstream_errors("FailedPrecondition"), 1.0),
        (client_handled("unary", "GetItem", "OK"), 2.0),
        (client_handled("unary", "Fail", "Unavailable"), 1.0),
        (client_handled("unary", "PurgeCache", "OK"), 1.0),
    ];
    for (series, value) in expected {
        assert_eq!(sample(&text, &series), Some(value), "{series} in\n{text}");
    }
    // Raw paths never become labels.
    for raw in ["/v1/items/42", "/v1/nowhere", "/v1/fail/14", "k1"] {
        assert!(!text.contains(raw), "{raw} in\n{text}");
    }
    // Successful calls are not upstream errors.
    assert_eq!(sample(&text, &upstream_errors("OK")), None, "{text}");

    assert_eq!(get(admin, "/healthz").await.expect("admin /healthz").0, 200);
}

#[tokio::test]
async fn an_unreachable_upstream_is_an_unavailable_call() {
    let admin = free_addr();
    // Nothing listens on port 1.
    let gw = spawn_with(SHAPES_SET, |c| {
        c.upstream = Some("http://127.0.0.1:1".to_owned());
        c.admin_listen = Some(admin);
    })
    .await;
    let answer = gw.get("/v1/items/1").await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.text()
    );

    let text = scrape(admin).await;
    assert_eq!(
        sample(&text, &upstream_errors("Unavailable")),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, &requests("GET", "/v1/items/{item_id}", 503)),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test]
async fn the_admin_port_stops_with_the_gateway() {
    let admin = free_addr();
    let (_up, gw) = shapes_with(|c| c.admin_listen = Some(admin)).await;
    assert_eq!(gw.get("/healthz").await.status, StatusCode::OK);
    let text = scrape(admin).await;
    assert_eq!(
        sample(&text, &requests("GET", "/healthz", 200)),
        Some(1.0),
        "{text}"
    );
    gw.stop().await.expect("a clean stop");
    // The admin task is aborted as `run` returns; give it a moment to go.
    let mut refused = false;
    for _ in 0..50 {
        if get(admin, "/healthz").await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(refused, "the admin port outlived the gateway");
}

#[tokio::test]
async fn a_taken_admin_port_fails_the_start() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = taken.local_addr().expect("addr");
    let (_up, gw) = shapes_with(|c| c.admin_listen = Some(addr)).await;
    let error = gw.stop().await.expect_err("the admin port is taken");
    assert!(
        matches!(error, bazaar_gateway::Error::Admin { addr: a, .. } if a == addr),
        "{error}"
    );
}

#[tokio::test]
async fn an_upstream_past_the_deadline_is_counted_once() {
    let admin = free_addr();
    let (_up, gw) = shapes_with(|c| {
        c.admin_listen = Some(admin);
        c.request_timeout = std::time::Duration::from_millis(200);
    })
    .await;
    let answer = gw.get("/v1/sleep/2000").await;
    assert_eq!(
        answer.status,
        StatusCode::GATEWAY_TIMEOUT,
        "{}",
        answer.text()
    );

    let text = scrape(admin).await;
    // Whichever timer fires first (the edge's or the call's own), one
    // failed call.
    assert_eq!(
        sample(&text, &upstream_errors("DeadlineExceeded")),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, &requests("GET", "/v1/sleep/{millis}", 504)),
        Some(1.0),
        "{text}"
    );
}
