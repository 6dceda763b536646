//! A small JSON-over-HTTP/1.1 client for the REST gateway.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde_json::{Value, json};

use crate::journeys::PASSWORD;

const TIMEOUT: Duration = Duration::from_secs(20);

pub struct Rest {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// An answer: its status, content type and body (JSON when it parses,
/// else the text as a JSON string; `null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Value,
}

impl Rest {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Request<Full<Bytes>> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(json) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(json.to_string()))
            }
            None => Full::new(Bytes::new()),
        };
        builder.body(body).expect("a valid request")
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        self.call_with(method, path, token, body, &[]).await
    }

    /// [`Self::call`] with extra request headers (e.g. `traceparent`).
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let request = self.request(method.clone(), path, token, body, headers);
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            let status = response.status();
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let bytes = response
                .into_body()
                .collect()
                .await
                .unwrap_or_else(|e| panic!("{method} {path}: body: {e}"))
                .to_bytes();
            Reply {
                status,
                content_type,
                body: parse(&bytes),
            }
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no answer within {TIMEOUT:?}"))
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.call(Method::PATCH, path, token, Some(body)).await
    }

    /// The status and the first line of a streamed (NDJSON) answer; the
    /// rest of the stream is dropped.
    pub async fn first_line(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let request = self.request(Method::GET, path, token, None, &[]);
        let exchange = async {
            let response = self.client.request(request).await.expect("stream request");
            let status = response.status();
            let mut body = response.into_body();
            let mut line = Vec::new();
            while !line.contains(&b'\n') {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Some(data) = frame.data_ref() {
                            line.extend_from_slice(data);
                        }
                    }
                    Some(Err(e)) => panic!("GET {path}: stream: {e}"),
                    None => break,
                }
            }
            let first = line.split(|b| *b == b'\n').next().unwrap_or_default();
            (status, parse(first))
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| panic!("GET {path}: no first line within {TIMEOUT:?}"))
    }
}

fn parse(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// A proto3-JSON integer: int64 fields arrive as strings, int32 as numbers.
pub fn int(value: &Value) -> i64 {
    match value {
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("not an integer: {s}")),
        Value::Number(n) => n.as_i64().unwrap_or_else(|| panic!("not an i64: {n}")),
        Value::Null => 0,
        other => panic!("not an integer: {other}"),
    }
}

/// A string field (`""` when absent).
pub fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// A signed-in user.
pub struct Account {
    pub id: String,
    pub token: String,
}

/// Registers `name` (`<name>@example.com`) and signs in.
pub async fn sign_up(rest: &Rest, name: &str) -> Account {
    let email = format!("{name}@example.com");
    let registered = rest
        .post(
            "/v1/users",
            None,
            &json!({"email": email, "password": PASSWORD, "display_name": name}),
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::OK,
        "register: {registered:?}"
    );
    sign_in(rest, &email, PASSWORD).await
}

/// Signs in with an existing account.
pub async fn sign_in(rest: &Rest, email: &str, password: &str) -> Account {
    let session = rest
        .post(
            "/v1/sessions",
            None,
            &json!({"email": email, "password": password}),
        )
        .await;
    assert_eq!(session.status, StatusCode::OK, "login: {session:?}");
    assert_eq!(session.body["token_type"], "Bearer");
    let account = Account {
        id: text(&session.body["user"]["id"]),
        token: text(&session.body["access_token"]),
    };
    assert!(!account.id.is_empty(), "login: {session:?}");
    account
}

/// A PlaceOrder body: `lines` of (product id, quantity), paid with `card`.
pub fn order_body(key: &str, lines: &[(&str, i64)], card: &str) -> Value {
    let items: Vec<Value> = lines
        .iter()
        .map(|(id, quantity)| json!({"product_id": id, "quantity": quantity}))
        .collect();
    json!({
        "idempotency_key": key,
        "items": items,
        "payment_method": {"card": {
            "number": card, "exp_month": 12, "exp_year": 2099,
            "cvc": "123", "holder_name": "Ada Lovelace"
        }}
    })
}

/// Waits (bounded) until `order` leaves PENDING; its final form.
pub async fn settled(rest: &Rest, token: &str, order: Value) -> Value {
    let id = text(&order["id"]);
    let mut order = order;
    for _ in 0..200 {
        if order["status"] != "ORDER_STATUS_PENDING" {
            return order;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        order = rest
            .get(&format!("/v1/orders/{id}"), Some(token))
            .await
            .body["order"]
            .clone();
    }
    panic!("order stayed PENDING: {order}");
}

/// A query-string value: everything but unreserved characters escaped.
pub fn query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
