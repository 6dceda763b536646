//! CORS for browser frontends: configured origins get
//! `Access-Control-Allow-Origin` on every answer, and preflights are
//! answered from the routing table (the methods the path really accepts).
//!
//! Written here rather than taken from tower-http because the edge serves
//! hyper directly and the preflight answer needs the router.

use http::{HeaderMap, HeaderValue, Method, header, request::Parts};

use crate::config::CorsConfig;

#[derive(Debug, Clone)]
pub struct Cors {
    any: bool,
    origins: Vec<HeaderValue>,
    credentials: bool,
    max_age: HeaderValue,
}

/// What a preflight gets.
pub enum Preflight {
    /// 204 with these headers.
    Allowed(HeaderMap),
    /// The origin is not allowed.
    Forbidden,
    /// No binding has this path.
    UnknownPath,
}

impl Cors {
    pub fn new(config: &CorsConfig) -> Result<Self, String> {
        let mut origins = Vec::new();
        let mut any = false;
        for origin in &config.allowed_origins {
            if origin == "*" {
                any = true;
            } else {
                origins.push(
                    HeaderValue::from_str(origin.trim_end_matches('/'))
                        .map_err(|e| format!("invalid CORS origin {origin:?}: {e}"))?,
                );
            }
        }
        Ok(Self {
            any,
            origins,
            credentials: config.allow_credentials,
            max_age: HeaderValue::from(config.max_age.as_secs()),
        })
    }

    pub fn enabled(&self) -> bool {
        self.any || !self.origins.is_empty()
    }

    fn allow_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        if self.origins.contains(origin) || (self.any && self.credentials) {
            // With credentials browsers refuse `*`: echo the origin.
            Some(origin.clone())
        } else if self.any {
            Some(HeaderValue::from_static("*"))
        } else {
            None
        }
    }

    pub fn is_preflight(&self, parts: &Parts) -> bool {
        self.enabled()
            && parts.method == Method::OPTIONS
            && parts.headers.contains_key(header::ORIGIN)
            && parts
                .headers
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    }

    pub fn preflight(&self, parts: &Parts, methods: &[Method]) -> Preflight {
        let Some(origin) = parts
            .headers
            .get(header::ORIGIN)
            .and_then(|o| self.allow_origin(o))
        else {
            return Preflight::Forbidden;
        };
        if methods.is_empty() {
            return Preflight::UnknownPath;
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        let list = methods
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        if let Ok(list) = HeaderValue::from_str(&list) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, list);
        }
        // Any request header may be sent (Authorization, Grpc-Metadata-*,
        // traceparent...): the gateway decides what it forwards.
        if let Some(requested) = parts.headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
        }
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
        if self.credentials {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        headers.insert(
            header::VARY,
            HeaderValue::from_static(
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            ),
        );
        Preflight::Allowed(headers)
    }

    /// Adds the CORS headers of an actual (non-preflight) answer.
    pub fn decorate(&self, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
        let Some(allowed) = origin
            .filter(|_| self.enabled())
            .and_then(|o| self.allow_origin(o))
        else {
            return;
        };
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        if self.credentials {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        // Let scripts read the request id and the forwarded metadata.
        let exposed: Vec<&str> = headers
            .keys()
            .map(http::HeaderName::as_str)
            .filter(|name| *name == "x-request-id" || name.starts_with("grpc-metadata-"))
            .collect();
        if !exposed.is_empty()
            && let Ok(value) = HeaderValue::from_str(&exposed.join(", "))
        {
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, value);
        }
    }
}
