//! Server streams become newline-delimited JSON, one line per message,
//! flushed as each arrives.

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};

use crate::support::shapes;

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

#[tokio::test]
async fn stream_as_ndjson() {
    let (_up, gw) = shapes().await;
    let answer = gw.get("/v1/count/3").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(answer.header("grpc-metadata-x-stream"), Some("counting"));
    assert!(answer.text().ends_with('\n'));
    assert_eq!(
        lines(&answer.text()),
        [
            json!({"result": {"number": 1}}),
            json!({"result": {"number": 2}}),
            json!({"result": {"number": 3}}),
        ]
    );
}

#[tokio::test]
async fn each_message_is_flushed_when_it_arrives() {
    let (_up, gw) = shapes().await;
    let started = Instant::now();
    let response = gw
        .request(Method::GET, "/v1/count/3?delay_millis=400", &[], None)
        .await;
    let mut body = response.into_body();
    let first = loop {
        let frame = body.frame().await.expect("a frame").expect("no error");
        if let Ok(data) = frame.into_data() {
            break data;
        }
    };
    let first_at = started.elapsed();
    assert_eq!(&first[..], b"{\"result\":{\"number\":1}}\n");
    let rest = body.collect().await.expect("the rest").to_bytes();
    let total = started.elapsed();
    assert_eq!(lines(std::str::from_utf8(&rest).unwrap()).len(), 2);
    assert!(total >= Duration::from_millis(800), "{total:?}");
    assert!(
        first_at < Duration::from_millis(400),
        "first line after {first_at:?}, not before the next message"
    );
}

#[tokio::test]
async fn an_error_mid_stream_is_the_last_line() {
    let (_up, gw) = shapes().await;
    let answer = gw.get("/v1/count/5?fail_after=2&fail_code=9").await;
    // The headers went out with the first message.
    assert_eq!(answer.status, StatusCode::OK);
    let lines = lines(&answer.text());
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[1], json!({"result": {"number": 2}}));
    let error = &lines[2]["error"];
    assert_eq!(error["code"], 9);
    assert_eq!(error["message"], "failed after 2");
    assert_eq!(
        error["details"][0]["@type"],
        "type.googleapis.com/google.rpc.BadRequest"
    );
    assert_eq!(error["details"][0]["field_violations"][0]["field"], "count");
}

#[tokio::test]
async fn an_error_before_any_message_gets_its_http_status() {
    let (_up, gw) = shapes().await;
    let answer = gw.get("/v1/count/3?fail_after=0&fail_code=5").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.json()["code"], 5);
    // The headers sent before the failure, and every value of the
    // trailers' metadata.
    assert_eq!(answer.header("grpc-metadata-x-stream"), Some("counting"));
    let stopped: Vec<_> = answer
        .headers
        .get_all("grpc-metadata-x-stopped")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(stopped, ["early", "on-purpose"]);
}

#[tokio::test]
async fn an_empty_stream_is_an_empty_body() {
    let (_up, gw) = shapes().await;
    let answer = gw.get("/v1/count/0").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.is_empty());
}
