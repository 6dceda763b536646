//! Headers ↔ gRPC metadata, as grpc-gateway maps them.
//!
//! Upstream: `Authorization`, every `Grpc-Metadata-<key>` as `<key>` (each
//! value; skipped, like grpc-gateway does, when `<key>` is not a valid gRPC
//! metadata key or the value not printable ASCII), the request id, the W3C
//! trace context (the gateway's own span as parent when telemetry is on,
//! else the caller's headers verbatim), and `X-Forwarded-For`/
//! `X-Forwarded-Host`. Back: every value of every response header and
//! trailer as `Grpc-Metadata-<key>`, except the transport's own.

use std::{
    net::SocketAddr,
    sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering},
    },
};

use http::{HeaderMap, HeaderName, HeaderValue, header};
use tonic::metadata::MetadataMap;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const PREFIX: &str = "grpc-metadata-";
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Keys that belong to HTTP/2 or gRPC framing: never forwarded either way.
fn is_transport(key: &str) -> bool {
    key.starts_with("grpc-")
        || key.starts_with(':')
        || matches!(
            key,
            "content-type"
                | "content-length"
                | "te"
                | "trailer"
                | "transfer-encoding"
                | "connection"
                | "keep-alive"
                | "upgrade"
                | "host"
                | "date"
                | "user-agent"
        )
}

/// A gRPC "Header-Name": `0-9 a-z _ - .` (HTTP names arrive lowercased).
/// Anything else makes the upstream call fail, so such a header is skipped
/// rather than failing the request, as grpc-gateway's
/// `isValidGRPCMetadataKey` does.
fn is_metadata_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'_' | b'-' | b'.'))
}

/// A gRPC "ASCII-Value": printable ASCII and space, as grpc-gateway's
/// `isValidGRPCMetadataTextValue` (`-bin` values are base64, not text).
fn is_metadata_text(value: &HeaderValue) -> bool {
    value.as_bytes().iter().all(|b| (0x20..=0x7e).contains(b))
}

/// The client's address as a header value, made once per connection.
pub fn peer(remote: SocketAddr) -> Option<HeaderValue> {
    HeaderValue::from_str(&remote.ip().to_string()).ok()
}

/// The metadata of the upstream call; `peer` is the client's address (see
/// [`peer`]).
pub fn outgoing(
    headers: &HeaderMap,
    request_id: &HeaderValue,
    peer: Option<&HeaderValue>,
) -> MetadataMap {
    let mut out = HeaderMap::with_capacity(8);
    for (name, value) in headers {
        let key = name.as_str();
        if key == "authorization" {
            out.append(header::AUTHORIZATION, value.clone());
        } else if let Some(stripped) = key.strip_prefix(PREFIX)
            && !is_transport(stripped)
            && is_metadata_key(stripped)
            && (stripped.ends_with("-bin") || is_metadata_text(value))
            && let Ok(stripped) = HeaderName::from_bytes(stripped.as_bytes())
        {
            out.append(stripped, value.clone());
        }
    }
    out.insert(X_REQUEST_ID, per_request(request_id.clone()));

    // A disabled span (telemetry off or filtered out) has no context to
    // inject; skipping saves the propagator's global lock.
    if !tracing::Span::current().is_disabled() {
        bazaar_runtime::telemetry::inject_current_context(&mut out);
    }
    if let Some(value) = out.get_mut(TRACEPARENT) {
        value.set_sensitive(true);
    } else {
        // Telemetry is off: pass the caller's context through untouched.
        if let Some(value) = headers.get(TRACEPARENT) {
            out.insert(TRACEPARENT, per_request(value.clone()));
        }
        if let Some(value) = headers.get(TRACESTATE) {
            out.insert(TRACESTATE, value.clone());
        }
    }

    if let Some(peer) = peer {
        match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
            Some(earlier) => {
                let chain = format!("{earlier}, {}", peer.to_str().unwrap_or_default());
                if let Ok(value) = HeaderValue::from_str(&chain) {
                    out.insert(X_FORWARDED_FOR, value);
                }
            }
            None => {
                out.insert(X_FORWARDED_FOR, peer.clone());
            }
        }
    }
    if let Some(host) = headers.get(header::HOST) {
        out.insert(X_FORWARDED_HOST, host.clone());
    }
    MetadataMap::from_headers(out)
}

/// Adds `metadata` (response headers and trailers) as `Grpc-Metadata-*`.
pub fn to_response_headers(metadata: &MetadataMap, out: &mut HeaderMap) {
    for (name, value) in metadata.as_ref() {
        let key = name.as_str();
        if is_transport(key) {
            continue;
        }
        let mut prefixed = String::with_capacity(PREFIX.len() + key.len());
        prefixed.push_str(PREFIX);
        prefixed.push_str(key);
        if let Ok(name) = HeaderName::from_bytes(prefixed.as_bytes()) {
            out.append(name, value.clone());
        }
    }
}

/// A value that differs on every request (request id, trace context): sent
/// as an HPACK never-indexed literal, so it neither evicts the upstream
/// connection's reusable entries from the dynamic table nor lengthens the
/// encoder's search of it on every request.
fn per_request(mut value: HeaderValue) -> HeaderValue {
    value.set_sensitive(true);
    value
}

/// The caller's request id when it is sane, else a fresh one.
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(X_REQUEST_ID)
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.to_str().is_ok())
        .cloned()
        .unwrap_or_else(new_request_id)
}

/// A UUID-shaped id: a random per-process prefix and a counter. Unique
/// without asking the kernel for randomness on every request.
fn new_request_id() -> HeaderValue {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut buffer = uuid::Uuid::encode_buffer();
    let text = uuid::Uuid::from_u64_pair(prefix, count)
        .hyphenated()
        .encode_lower(&mut buffer);
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("unknown"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_authorization_and_prefixed_metadata_only() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer t"));
        headers.insert("grpc-metadata-tenant", HeaderValue::from_static("acme"));
        headers.insert("grpc-metadata-content-type", HeaderValue::from_static("x"));
        headers.insert("cookie", HeaderValue::from_static("secret"));
        headers.insert("host", HeaderValue::from_static("edge:8080"));
        let id = HeaderValue::from_static("req-1");
        let peer = peer(SocketAddr::from(([10, 0, 0, 1], 5)));
        let md = outgoing(&headers, &id, peer.as_ref());
        let md = md.into_headers();
        assert_eq!(md.get("authorization").unwrap(), "Bearer t");
        assert_eq!(md.get("tenant").unwrap(), "acme");
        assert_eq!(md.get("x-request-id").unwrap(), "req-1");
        assert!(md.get("x-request-id").unwrap().is_sensitive());
        assert_eq!(md.get("x-forwarded-for").unwrap(), "10.0.0.1");
        assert_eq!(md.get("x-forwarded-host").unwrap(), "edge:8080");
        assert!(md.get("cookie").is_none());
        assert!(md.get("content-type").is_none());
    }

    #[test]
    fn metadata_grpc_cannot_carry_is_skipped() {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-metadata-ten!ant", HeaderValue::from_static("a"));
        headers.insert("grpc-metadata-tab", HeaderValue::from_static("a\tb"));
        headers.insert(
            "grpc-metadata-accent",
            HeaderValue::from_bytes("caf\u{e9}".as_bytes()).unwrap(),
        );
        headers.insert("grpc-metadata-", HeaderValue::from_static("empty key"));
        headers.insert("grpc-metadata-ok.key_1", HeaderValue::from_static("x y"));
        headers.append("grpc-metadata-ok.key_1", HeaderValue::from_static("z"));
        // Binary values are base64: not held to the text rule.
        headers.insert("grpc-metadata-blob-bin", HeaderValue::from_static("AAE="));
        let id = HeaderValue::from_static("req-1");
        let md = outgoing(&headers, &id, None).into_headers();
        for skipped in ["ten!ant", "tab", "accent", ""] {
            assert!(
                !md.keys().any(|k| k.as_str() == skipped),
                "{skipped}: {md:?}"
            );
        }
        let kept: Vec<_> = md.get_all("ok.key_1").iter().collect();
        assert_eq!(kept, ["x y", "z"]);
        assert_eq!(md.get("blob-bin").unwrap(), "AAE=");
    }

    #[test]
    fn every_value_goes_back_prefixed() {
        let mut headers = HeaderMap::new();
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        headers.insert("content-type", HeaderValue::from_static("application/grpc"));
        headers.insert("grpc-status", HeaderValue::from_static("0"));
        let mut out = HeaderMap::new();
        out.insert("grpc-metadata-x-a", HeaderValue::from_static("0"));
        to_response_headers(&MetadataMap::from_headers(headers), &mut out);
        let values: Vec<_> = out.get_all("grpc-metadata-x-a").iter().collect();
        assert_eq!(values, ["0", "1", "2"]);
        assert_eq!(out.len(), 3, "{out:?}");
    }

    #[test]
    fn request_ids_are_kept_or_generated() {
        let mut headers = HeaderMap::new();
        let (a, b) = (request_id(&headers), request_id(&headers));
        assert_eq!(a.len(), 36);
        assert_ne!(a, b);
        headers.insert("x-request-id", HeaderValue::from_static("abc"));
        assert_eq!(request_id(&headers), "abc");
    }
}
