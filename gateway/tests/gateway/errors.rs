//! gRPC statuses become HTTP statuses exactly as in grpc-gateway, with
//! `{"code", "message", "details"}` bodies; the edge's own errors look the
//! same.

use http::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::{
    support::{config, shapes, shapes_with, spawn_config, spawn_with},
    upstreams::{SHAPES_SET, bind},
};

#[tokio::test]
async fn every_status_code_maps_like_grpc_gateway() {
    let (_up, gw) = shapes().await;
    let expected = [
        (1, 499),  // CANCELLED
        (2, 500),  // UNKNOWN
        (3, 400),  // INVALID_ARGUMENT
        (4, 504),  // DEADLINE_EXCEEDED
        (5, 404),  // NOT_FOUND
        (6, 409),  // ALREADY_EXISTS
        (7, 403),  // PERMISSION_DENIED
        (8, 429),  // RESOURCE_EXHAUSTED
        (9, 400),  // FAILED_PRECONDITION
        (10, 409), // ABORTED
        (11, 400), // OUT_OF_RANGE
        (12, 501), // UNIMPLEMENTED
        (13, 500), // INTERNAL
        (14, 503), // UNAVAILABLE
        (15, 500), // DATA_LOSS
        (16, 401), // UNAUTHENTICATED
    ];
    for (code, http) in expected {
        let answer = gw
            .get(&format!("/v1/fail/{code}?message=boom%20{code}"))
            .await;
        assert_eq!(
            answer.status.as_u16(),
            http,
            "code {code}: {}",
            answer.text()
        );
        assert_eq!(answer.header("content-type"), Some("application/json"));
        assert_eq!(
            answer.json(),
            json!({"code": code, "message": format!("boom {code}"), "details": []}),
            "code {code}"
        );
        // The status's metadata comes back as headers.
        assert_eq!(answer.header("grpc-metadata-x-failure"), Some("on-purpose"));
        // grpc-gateway's challenge: the status message, on 401 only.
        let challenge = answer.header("www-authenticate");
        if http == 401 {
            assert_eq!(challenge, Some("boom 16"));
        } else {
            assert_eq!(challenge, None, "code {code}");
        }
    }
}

#[tokio::test]
async fn unauthenticated_sends_the_message_as_www_authenticate() {
    let (_up, gw) = shapes().await;
    let answer = gw
        .get("/v1/fail/16?message=a%20bearer%20token%20is%20required")
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.header("www-authenticate"),
        Some("a bearer token is required")
    );
    assert_eq!(answer.json()["code"], 16);
}

#[tokio::test]
async fn error_details_render_as_json() {
    let (_up, gw) = shapes().await;
    let answer = gw
        .get("/v1/fail/3?with_details=true&message=bad%20item")
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let body = answer.json();
    assert_eq!(body["code"], 3);
    assert_eq!(body["message"], "bad item");
    let details = body["details"].as_array().expect("details");
    let bad_request = details
        .iter()
        .find(|d| d["@type"] == "type.googleapis.com/google.rpc.BadRequest")
        .expect("a BadRequest detail");
    let violations = bad_request["field_violations"]
        .as_array()
        .expect("violations");
    assert_eq!(violations.len(), 2);
    assert_eq!(violations[0]["field"], "item.title");
    assert_eq!(violations[0]["description"], "must not be empty");
    assert_eq!(violations[1]["field"], "item.quantity");
    let info = details
        .iter()
        .find(|d| d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo")
        .expect("an ErrorInfo detail");
    assert_eq!(info["reason"], "OUT_OF_STOCK");
    assert_eq!(info["domain"], "shapes.test");
    assert_eq!(info["metadata"], json!({"sku": "A-1"}));
}

#[tokio::test]
async fn malformed_json_is_400() {
    let (_up, gw) = shapes().await;
    for body in [
        &b"{\"title\": "[..],
        b"not json",
        b"{\"title\": \"x\"} trailing",
        b"[1, 2]",
    ] {
        let answer = gw
            .send(
                Method::POST,
                "/v1/items",
                &[("content-type", "application/json")],
                Some(body.to_vec()),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(body)
        );
        let error = answer.json();
        assert_eq!(error["code"], 3);
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("invalid JSON body"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn unknown_and_mistyped_json_fields_are_400() {
    let (_up, gw) = shapes().await;
    let answer = gw
        .send_json(Method::POST, "/v1/items", json!({"title": "x", "nope": 1}))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.json()["message"].as_str().unwrap().contains("nope"));
    let answer = gw
        .send_json(Method::POST, "/v1/items", json!({"quantity": "lots"}))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json()["code"], 3);
}

#[tokio::test]
async fn unknown_nested_json_fields_are_400_and_named() {
    let (_up, gw) = shapes().await;
    // In the body field's message, two levels down.
    let answer = gw
        .send_json(
            Method::POST,
            "/v1/items",
            json!({"title": "x", "details": {"label": "l", "deep": {"mystery": 1}}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());
    let error = answer.json();
    assert_eq!(error["code"], 3);
    assert!(
        error["message"].as_str().unwrap().contains("mystery"),
        "{error}"
    );
    // In a whole-message body.
    let answer = gw
        .send_json(
            Method::PUT,
            "/v1/echo/pv/all",
            json!({"inner": {"deep": {"note": "n", "stray": true}}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());
    assert!(
        answer.json()["message"].as_str().unwrap().contains("stray"),
        "{}",
        answer.text()
    );
}

#[tokio::test]
async fn oversized_body_is_413() {
    let (_up, gw) = shapes_with(|c| c.max_body_bytes = 1024).await;
    let title = "x".repeat(2048);
    let answer = gw
        .send_json(Method::POST, "/v1/items", json!({"title": title}))
        .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.json()["code"], 8);
    // Just under the limit is fine.
    let answer = gw
        .send_json(Method::POST, "/v1/items", json!({"title": "x".repeat(900)}))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn oversized_chunked_body_is_413() {
    let (_up, gw) = shapes_with(|c| c.max_body_bytes = 1024).await;
    // No Content-Length: the limit applies while reading.
    let mut stream = tokio::net::TcpStream::connect(gw.addr)
        .await
        .expect("connect");
    let chunk = "y".repeat(700);
    let request = format!(
        "POST /v1/items HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\n\
         content-type: application/json\r\n\r\n{len:x}\r\n{chunk}\r\n{len:x}\r\n{chunk}\r\n0\r\n\r\n",
        len = chunk.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = vec![0; 1024];
    let n = stream.read(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test]
async fn unknown_path_is_404() {
    let (_up, gw) = shapes().await;
    let answer = gw.get("/v1/nothing/here").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(
        answer.json(),
        json!({"code": 5, "message": "Not Found", "details": []})
    );
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let (_up, gw) = shapes().await;
    let answer = gw.send(Method::PUT, "/v1/items/1", &[], None).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.header("allow"), Some("GET, PATCH, DELETE"));
    assert_eq!(
        answer.json(),
        json!({"code": 12, "message": "Method Not Allowed", "details": []})
    );
}

#[tokio::test]
async fn a_path_with_a_verb_allows_only_the_verbs_methods() {
    let (_up, gw) = shapes().await;
    // GET too: the path is the `:archive` resource, not GetItem with the
    // id `1:archive` (where grpc-gateway would route it).
    for method in [Method::PUT, Method::OPTIONS, Method::GET] {
        let answer = gw
            .send(method.clone(), "/v1/items/1:archive", &[], None)
            .await;
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(answer.header("allow"), Some("POST"), "{method}");
    }
    // Without the verb, the item's own methods.
    let answer = gw.send(Method::OPTIONS, "/v1/items/1", &[], None).await;
    assert_eq!(answer.header("allow"), Some("GET, PATCH, DELETE"));
}

#[tokio::test]
async fn unreachable_upstream_is_503() {
    // A port nothing listens on any more.
    let listener = bind().await;
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let gw = spawn_with(SHAPES_SET, |c| c.upstream = Some(url)).await;
    let answer = gw.get("/v1/items/1").await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.text()
    );
    assert_eq!(answer.json()["code"], 14);
}

#[tokio::test]
async fn a_connection_cut_by_the_upstream_is_503_not_500() {
    // Accepts, reads the start of the HTTP/2 conversation, hangs up: the
    // call fails with no gRPC status at all (tonic says UNKNOWN).
    let listener = bind().await;
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = [0u8; 64];
            let _ = stream.read(&mut buffer).await;
            let _ = stream.shutdown().await;
        }
    });
    let gw = spawn_with(SHAPES_SET, |c| c.upstream = Some(url)).await;
    for _ in 0..3 {
        let answer = gw.get("/v1/items/1").await;
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            answer.text()
        );
        assert_eq!(answer.json()["code"], 14);
    }
}

#[tokio::test]
async fn invalid_grpc_timeout_header_is_400() {
    let (_up, gw) = shapes().await;
    let answer = gw
        .send(
            Method::GET,
            "/v1/items/1",
            &[("grpc-timeout", "soon")],
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
}

/// The Bazaar API as the OpenAPI document describes it: `Allow` on each of
/// its paths (variables filled in) names exactly the methods the document
/// lists for the paths that match it, only those with the verb when the
/// path ends in one. The gateway answers neither OPTIONS nor HEAD on
/// bindings, so neither is listed.
#[tokio::test]
async fn every_documented_path_allows_exactly_its_documented_methods() {
    let gw = spawn_config(config()).await;
    let spec = gw.get("/openapi.json").await.json();
    let paths = spec["paths"].as_object().expect("paths");
    assert!(paths.len() > 10, "{} paths", paths.len());
    for (path, _) in paths {
        assert!(
            !path.contains('=') && !path.contains("**"),
            "{path}: a multi-segment variable; filling it in needs its pattern"
        );
        let request_path = fill_in(path);
        let matching: Vec<&String> = paths
            .keys()
            .filter(|other| template_matches(other, &request_path))
            .collect();
        let with_verb: Vec<&String> = matching
            .iter()
            .copied()
            .filter(|other| verb_of(other).is_some())
            .collect();
        let documented = if with_verb.is_empty() {
            matching
        } else {
            with_verb
        };
        let mut expected: Vec<String> = documented
            .iter()
            .flat_map(|other| documented_methods(&paths[other.as_str()]))
            .collect();
        expected.sort();
        expected.dedup();
        assert!(
            !expected.iter().any(|m| m == "OPTIONS"),
            "{path} binds OPTIONS"
        );
        let answer = gw.send(Method::OPTIONS, &request_path, &[], None).await;
        assert_eq!(
            answer.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{request_path}: {}",
            answer.text()
        );
        let mut allowed: Vec<String> = answer
            .header("allow")
            .unwrap_or_default()
            .split(", ")
            .map(str::to_owned)
            .collect();
        allowed.sort();
        assert_eq!(allowed, expected, "{path} as {request_path}");
    }
}

/// The methods of an OpenAPI path item (custom ones as `x-method-<name>`).
fn documented_methods(item: &serde_json::Value) -> Vec<String> {
    const STANDARD: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    item.as_object()
        .expect("path item")
        .keys()
        .filter_map(|key| match key.strip_prefix("x-method-") {
            Some(custom) => Some(custom.to_ascii_uppercase()),
            None => STANDARD
                .contains(&key.as_str())
                .then(|| key.to_ascii_uppercase()),
        })
        .collect()
}

/// A request path for an OpenAPI path: every `{variable}` as `x1`.
fn fill_in(path: &str) -> String {
    fill_with(path, "x1")
}

fn fill_with(path: &str, value: &str) -> String {
    let mut out = String::new();
    let mut in_variable = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_variable = true;
                out.push_str(value);
            }
            '}' => in_variable = false,
            _ if in_variable => {}
            c => out.push(c),
        }
    }
    out
}

/// The `:verb` of an OpenAPI path, if it has one.
fn verb_of(path: &str) -> Option<&str> {
    let last = path.rsplit('/').next()?;
    let after_variable = last.rsplit('}').next()?;
    after_variable.split_once(':').map(|(_, verb)| verb)
}

/// Whether a request path matches an OpenAPI path, segment by segment, a
/// `{variable}` taking one non-empty run of characters (a colon included).
fn template_matches(template: &str, path: &str) -> bool {
    fn glob(pattern: &[u8], text: &[u8]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some((b'*', rest)) => (1..=text.len()).any(|n| glob(rest, &text[n..])),
            Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
        }
    }
    let template: Vec<String> = template.split('/').map(|s| fill_with(s, "*")).collect();
    let path: Vec<&str> = path.split('/').collect();
    template.len() == path.len()
        && template
            .iter()
            .zip(&path)
            .all(|(t, p)| glob(t.as_bytes(), p.as_bytes()))
}
