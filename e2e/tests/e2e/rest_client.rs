//! A small JSON-over-HTTP/1.1 client for the REST gateway.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde_json::Value;

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
    ) -> Request<Full<Bytes>> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
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
        let request = self.request(method.clone(), path, token, body);
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
        let request = self.request(Method::GET, path, token, None);
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
