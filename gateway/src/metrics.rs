//! The edge's Prometheus metrics: every request counted and timed by
//! method, route and status, every failed upstream call counted by
//! upstream and code. Labels are bounded: a route is a binding's template,
//! one of the edge's own paths or `unmatched`, never a raw path.
//!
//! This is on every request's path, so each series' handle is made once
//! (on first use) and kept: recording is an index and an atomic add, with
//! no label lookup and no allocation.

use std::sync::{Arc, OnceLock};

use bazaar_observe::{
    LatencyHistogram, Metrics,
    grpc::code_name,
    prometheus_client::{
        encoding::EncodeLabelSet,
        metrics::{counter::Counter, family::Family},
    },
};
use http::{Method, StatusCode};
use tonic::Code;

/// What answered a request, as its `route` label names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Served {
    /// The binding at this index of the gateway's routes.
    Binding(usize),
    Healthz,
    Readyz,
    OpenApi,
    Docs,
    /// A file of the storefront.
    Storefront,
    /// No binding for the path (404) or for its method (405).
    Unmatched,
}

/// The `route` labels of [`Served`]'s variants other than bindings, in
/// their order after the bindings' series.
const OWN_ROUTES: [&str; 6] = [
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/docs",
    "storefront",
    "unmatched",
];

/// The `method` labels: the standard methods, then everything else.
const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "other",
];

/// A request's `method` label, taken before the request is consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MethodLabel(usize);

impl MethodLabel {
    pub fn of(method: &Method) -> Self {
        Self(method_index(method))
    }
}

fn method_index(method: &Method) -> usize {
    match method.as_str() {
        "GET" => 0,
        "HEAD" => 1,
        "POST" => 2,
        "PUT" => 3,
        "DELETE" => 4,
        "PATCH" => 5,
        "OPTIONS" => 6,
        "CONNECT" => 7,
        "TRACE" => 8,
        _ => 9,
    }
}

/// Statuses the edge answers with (grpc-gateway's mapping and its own);
/// each keeps a handle per series. Any other is looked up by label.
const KEPT_STATUSES: usize = 16;

fn status_index(status: StatusCode) -> Option<usize> {
    Some(match status.as_u16() {
        200 => 0,
        204 => 1,
        400 => 2,
        401 => 3,
        403 => 4,
        404 => 5,
        405 => 6,
        409 => 7,
        413 => 8,
        429 => 9,
        499 => 10,
        500 => 11,
        501 => 12,
        502 => 13,
        503 => 14,
        504 => 15,
        _ => return None,
    })
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: Arc<str>,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    method: &'static str,
    route: Arc<str>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamErrorLabels {
    upstream: Arc<str>,
    code: &'static str,
}

/// `http_server_requests_total` and `http_server_request_duration_seconds`.
pub(crate) struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    durations: Family<DurationLabels, LatencyHistogram>,
    /// The bindings' series (by binding index), then [`OWN_ROUTES`]'.
    routes: Box<[RouteSeries]>,
    bindings: usize,
}

struct RouteSeries {
    route: Arc<str>,
    methods: [MethodSeries; METHODS.len()],
}

#[derive(Default)]
struct MethodSeries {
    duration: OnceLock<LatencyHistogram>,
    statuses: [OnceLock<Counter>; KEPT_STATUSES],
}

impl HttpMetrics {
    /// Registers the families in `metrics`; `templates` are the bindings'
    /// route labels, in binding order.
    pub fn register(metrics: &Metrics, templates: impl IntoIterator<Item = Arc<str>>) -> Self {
        let mut routes: Vec<RouteSeries> = templates.into_iter().map(RouteSeries::new).collect();
        let bindings = routes.len();
        routes.extend(
            OWN_ROUTES
                .iter()
                .map(|route| RouteSeries::new(Arc::from(*route))),
        );
        Self {
            requests: metrics.family(
                "http_server_requests",
                "HTTP requests answered by the gateway, by method, route template and status",
            ),
            durations: metrics.latency_family(
                "http_server_request_duration_seconds",
                "Time until the gateway had a response's head ready, in seconds, by method and \
                 route template",
            ),
            routes: routes.into_boxed_slice(),
            bindings,
        }
    }

    /// Counts and times one answered request.
    pub fn record(&self, served: Served, method: MethodLabel, status: StatusCode, seconds: f64) {
        let index = match served {
            Served::Binding(index) => index,
            Served::Healthz => self.bindings,
            Served::Readyz => self.bindings + 1,
            Served::OpenApi => self.bindings + 2,
            Served::Docs => self.bindings + 3,
            Served::Storefront => self.bindings + 4,
            Served::Unmatched => self.bindings + 5,
        };
        let Some(series) = self.routes.get(index) else {
            return;
        };
        let MethodLabel(method_index) = method;
        let (Some(method), Some(by_method)) =
            (METHODS.get(method_index), series.methods.get(method_index))
        else {
            return;
        };
        let method = *method;
        by_method
            .duration
            .get_or_init(|| {
                self.durations.get_or_create_owned(&DurationLabels {
                    method,
                    route: Arc::clone(&series.route),
                })
            })
            .observe(seconds);
        let labels = || RequestLabels {
            method,
            route: Arc::clone(&series.route),
            status: status.as_u16(),
        };
        match status_index(status) {
            Some(kept) => by_method.statuses[kept]
                .get_or_init(|| self.requests.get_or_create_owned(&labels()))
                .inc(),
            None => self.requests.get_or_create(&labels()).inc(),
        };
    }
}

impl RouteSeries {
    fn new(route: Arc<str>) -> Self {
        Self {
            route,
            methods: Default::default(),
        }
    }
}

/// `bazaar_gateway_upstream_errors_total`: the family, from which each
/// upstream gets its [`UpstreamErrors`].
#[derive(Clone)]
pub(crate) struct UpstreamErrorFamily(Family<UpstreamErrorLabels, Counter>);

impl UpstreamErrorFamily {
    pub fn register(metrics: &Metrics) -> Self {
        Self(metrics.family(
            "bazaar_gateway_upstream_errors",
            "Upstream calls from the gateway that failed, by upstream and gRPC code",
        ))
    }

    /// The counters of the upstream `name` (make one per upstream and share
    /// it between its routes).
    pub fn upstream(&self, name: &str) -> Arc<UpstreamErrors> {
        Arc::new(UpstreamErrors {
            family: self.0.clone(),
            upstream: Arc::from(name),
            by_code: Default::default(),
        })
    }
}

/// One upstream's failed calls, a handle per code made on first use.
pub struct UpstreamErrors {
    family: Family<UpstreamErrorLabels, Counter>,
    upstream: Arc<str>,
    by_code: [OnceLock<Counter>; 17],
}

impl UpstreamErrors {
    pub fn record(&self, code: Code) {
        let Some(slot) = self.by_code.get(code as usize) else {
            return;
        };
        slot.get_or_init(|| {
            self.family.get_or_create_owned(&UpstreamErrorLabels {
                upstream: Arc::clone(&self.upstream),
                code: code_name(code),
            })
        })
        .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_methods_and_statuses_are_bounded_labels() {
        let metrics = Metrics::new();
        let http = HttpMetrics::register(&metrics, [Arc::from("/v1/items/{item_id}")]);
        http.record(
            Served::Binding(0),
            MethodLabel::of(&Method::GET),
            StatusCode::OK,
            0.002,
        );
        http.record(
            Served::Binding(0),
            MethodLabel::of(&Method::GET),
            StatusCode::OK,
            0.002,
        );
        http.record(
            Served::Unmatched,
            MethodLabel::of(&Method::GET),
            StatusCode::NOT_FOUND,
            0.0,
        );
        let odd = Method::from_bytes(b"BREW").expect("an extension method");
        http.record(
            Served::Unmatched,
            MethodLabel::of(&odd),
            StatusCode::METHOD_NOT_ALLOWED,
            0.0,
        );
        http.record(
            Served::Docs,
            MethodLabel::of(&Method::HEAD),
            StatusCode::IM_A_TEAPOT,
            0.0,
        );
        let text = metrics.encode();
        for line in [
            r#"http_server_requests_total{method="GET",route="/v1/items/{item_id}",status="200"} 2"#,
            r#"http_server_requests_total{method="GET",route="unmatched",status="404"} 1"#,
            r#"http_server_requests_total{method="other",route="unmatched",status="405"} 1"#,
            r#"http_server_requests_total{method="HEAD",route="/docs",status="418"} 1"#,
            r#"http_server_request_duration_seconds_count{method="GET",route="/v1/items/{item_id}"} 2"#,
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
        assert!(!text.contains("BREW"), "{text}");
    }

    #[test]
    fn upstream_errors_count_by_code() {
        let metrics = Metrics::new();
        let family = UpstreamErrorFamily::register(&metrics);
        let order = family.upstream("order");
        order.record(Code::Unavailable);
        order.record(Code::Unavailable);
        order.record(Code::DeadlineExceeded);
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"bazaar_gateway_upstream_errors_total{upstream="order",code="Unavailable"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"bazaar_gateway_upstream_errors_total{upstream="order",code="DeadlineExceeded"} 1"#
            ),
            "{text}"
        );
    }
}
