//! The go-grpc-prometheus metrics of one side (server or client) and the
//! per-method handles a call updates without any lookup by label.

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock, PoisonError, RwLock},
};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
};
use tonic::Code;

use crate::metrics::{LatencyHistogram, Metrics};

/// Methods a client labels by name; calls to more are `unknown`.
pub const MAX_CLIENT_METHODS: usize = 256;

/// Which end of a call is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Server,
    Client,
}

impl Side {
    fn prefix(self) -> &'static str {
        match self {
            Self::Server => "grpc_server",
            Self::Client => "grpc_client",
        }
    }

    /// Whether a call that ended with `code` is an error span, as
    /// OpenTelemetry's RPC conventions say: on the server only the codes
    /// that mean a fault of its own, on the client any code but OK.
    pub fn is_error(self, code: Code) -> bool {
        match self {
            Self::Client => code != Code::Ok,
            Self::Server => matches!(
                code,
                Code::Unknown
                    | Code::DeadlineExceeded
                    | Code::Unimplemented
                    | Code::Internal
                    | Code::Unavailable
                    | Code::DataLoss
            ),
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    grpc_type: &'static str,
    grpc_service: String,
    grpc_method: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    grpc_type: &'static str,
    grpc_service: String,
    grpc_method: String,
    grpc_code: &'static str,
}

/// How a method streams, as go-grpc-prometheus's `grpc_type` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcType {
    Unary,
    ClientStream,
    ServerStream,
    BidiStream,
}

impl GrpcType {
    pub fn new(client_streaming: bool, server_streaming: bool) -> Self {
        match (client_streaming, server_streaming) {
            (false, false) => Self::Unary,
            (true, false) => Self::ClientStream,
            (false, true) => Self::ServerStream,
            (true, true) => Self::BidiStream,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Unary => "unary",
            Self::ClientStream => "client_stream",
            Self::ServerStream => "server_stream",
            Self::BidiStream => "bidi_stream",
        }
    }
}

/// The metrics of one method, resolved once.
#[derive(Debug)]
pub struct MethodMetrics {
    grpc_type: &'static str,
    service: String,
    method: String,
    started: Counter,
    handling: LatencyHistogram,
    /// One counter per status code, made on first use.
    handled: [OnceLock<Counter>; 17],
    families: Arc<Families>,
}

impl MethodMetrics {
    pub(crate) fn started(&self) {
        self.started.inc();
    }

    pub(crate) fn handled(&self, code: Code, seconds: f64) {
        self.handling.observe(seconds);
        let index = (code as usize).min(16);
        self.handled[index]
            .get_or_init(|| {
                self.families.handled.get_or_create_owned(&CodeLabels {
                    grpc_type: self.grpc_type,
                    grpc_service: self.service.clone(),
                    grpc_method: self.method.clone(),
                    grpc_code: code_name(code),
                })
            })
            .inc();
    }
}

#[derive(Debug)]
struct Families {
    started: Family<MethodLabels, Counter>,
    handled: Family<CodeLabels, Counter>,
    handling: Family<MethodLabels, LatencyHistogram>,
}

impl Families {
    fn resolve(
        self: &Arc<Self>,
        grpc_type: GrpcType,
        service: &str,
        method: &str,
    ) -> MethodMetrics {
        let labels = MethodLabels {
            grpc_type: grpc_type.as_str(),
            grpc_service: service.to_owned(),
            grpc_method: method.to_owned(),
        };
        MethodMetrics {
            grpc_type: grpc_type.as_str(),
            service: service.to_owned(),
            method: method.to_owned(),
            started: self.started.get_or_create_owned(&labels),
            handling: self.handling.get_or_create_owned(&labels),
            handled: Default::default(),
            families: Arc::clone(self),
        }
    }
}

type ByPath = HashMap<String, Arc<MethodMetrics>>;

/// One side's metrics: the families and a handle per method.
#[derive(Debug, Clone)]
pub struct GrpcMetrics {
    side: Side,
    families: Arc<Families>,
    /// Handles of the methods listed up front, by path
    /// (`/package.Service/Method`): read without a lock.
    known: Arc<ByPath>,
    /// Methods first seen when called (clients only: their paths come from
    /// our code; a server's caller picks the path, so there it is `None`
    /// and other paths count as `unknown`).
    seen: Option<Arc<RwLock<ByPath>>>,
    unknown: Arc<MethodMetrics>,
    pub(crate) in_flight: Gauge,
    /// Calls refused by load shedding (servers only).
    pub(crate) shed: Option<Counter>,
}

impl GrpcMetrics {
    /// Server metrics labelling the `methods` served (paths
    /// `/package.Service/Method`); any other path counts as `unknown`.
    pub fn server<'a>(
        metrics: &Metrics,
        methods: impl IntoIterator<Item = (&'a str, GrpcType)>,
    ) -> Self {
        Self::register(metrics, Side::Server, methods, false)
    }

    /// Client metrics: the `methods` listed up front, then each other
    /// method called (as unary), up to [`MAX_CLIENT_METHODS`].
    pub fn client<'a>(
        metrics: &Metrics,
        methods: impl IntoIterator<Item = (&'a str, GrpcType)>,
    ) -> Self {
        Self::register(metrics, Side::Client, methods, true)
    }

    pub fn side(&self) -> Side {
        self.side
    }

    fn register<'a>(
        metrics: &Metrics,
        side: Side,
        methods: impl IntoIterator<Item = (&'a str, GrpcType)>,
        open: bool,
    ) -> Self {
        let prefix = side.prefix();
        let (what, at, in_flight) = match side {
            Side::Server => (
                "RPCs started on the server",
                "handled by the server",
                "Server",
            ),
            Side::Client => (
                "RPCs started by the client",
                "completed by the client",
                "Client",
            ),
        };
        let families = Arc::new(Families {
            started: metrics.family(&format!("{prefix}_started"), &format!("Total {what}")),
            handled: metrics.family(
                &format!("{prefix}_handled"),
                &format!("Total RPCs {at}, by status code"),
            ),
            handling: metrics.latency_family(
                &format!("{prefix}_handling_seconds"),
                &format!("Latency of RPCs {at}, in seconds, until the last response byte"),
            ),
        });
        let in_flight = metrics.gauge(
            &format!("{prefix}_in_flight_requests"),
            &format!("{in_flight} RPCs: started and not yet ended"),
        );
        let shed = (side == Side::Server).then(|| {
            metrics.counter(
                "grpc_server_load_shed",
                "Calls refused with RESOURCE_EXHAUSTED because the server was at its concurrency limit",
            )
        });
        let known = methods
            .into_iter()
            .filter_map(|(path, grpc_type)| {
                let (service, method) = split_path(path)?;
                let resolved = families.resolve(grpc_type, service, method);
                Some((path.to_owned(), Arc::new(resolved)))
            })
            .collect();
        Self {
            side,
            unknown: Arc::new(families.resolve(GrpcType::Unary, "unknown", "unknown")),
            families,
            known: Arc::new(known),
            seen: open.then(Arc::default),
            in_flight,
            shed,
        }
    }

    /// The handles for a call to `path`.
    pub fn method(&self, path: &str) -> Arc<MethodMetrics> {
        if let Some(found) = self.known.get(path) {
            return Arc::clone(found);
        }
        let (Some(seen), Some((service, method))) = (&self.seen, split_path(path)) else {
            return Arc::clone(&self.unknown);
        };
        if let Some(found) = seen
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path)
        {
            return Arc::clone(found);
        }
        let mut seen = seen.write().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= MAX_CLIENT_METHODS {
            return Arc::clone(&self.unknown);
        }
        let resolved = Arc::new(self.families.resolve(GrpcType::Unary, service, method));
        Arc::clone(seen.entry(path.to_owned()).or_insert(resolved))
    }
}

/// `/package.Service/Method` → (`package.Service`, `Method`).
pub fn split_path(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    (!service.is_empty() && !method.is_empty() && !method.contains('/'))
        .then_some((service, method))
}

/// The code's name as go-grpc-prometheus writes it (`OK`, `NotFound`...).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_labels_only_what_it_serves() {
        let metrics = Metrics::new();
        let grpc = GrpcMetrics::server(
            &metrics,
            [("/bazaar.order.v1.OrderService/PlaceOrder", GrpcType::Unary)],
        );
        grpc.method("/bazaar.order.v1.OrderService/PlaceOrder")
            .handled(Code::Ok, 0.002);
        for n in 0..50 {
            grpc.method(&format!("/bazaar.order.v1.OrderService/Probe{n}"))
                .handled(Code::Unimplemented, 0.001);
        }
        let text = metrics.encode();
        assert!(text.contains(r#"grpc_server_handled_total{grpc_type="unary",grpc_service="bazaar.order.v1.OrderService",grpc_method="PlaceOrder",grpc_code="OK"} 1"#), "{text}");
        assert!(
            text.contains(r#"grpc_method="unknown",grpc_code="Unimplemented"} 50"#),
            "{text}"
        );
        assert!(!text.contains("Probe"), "{text}");
    }

    #[test]
    fn a_client_labels_at_most_its_cap() {
        let metrics = Metrics::new();
        let grpc = GrpcMetrics::client(&metrics, []);
        for n in 0..MAX_CLIENT_METHODS + 10 {
            grpc.method(&format!("/p.S/M{n}")).started();
        }
        let text = metrics.encode();
        let labelled = text
            .lines()
            .filter(|l| l.starts_with("grpc_client_started_total{") && !l.contains("unknown"))
            .count();
        assert_eq!(labelled, MAX_CLIENT_METHODS);
        assert!(text.contains(r#"grpc_method="unknown"} 10"#), "{text}");
    }

    #[test]
    fn error_status_follows_the_rpc_conventions() {
        assert!(!Side::Server.is_error(Code::NotFound));
        assert!(Side::Server.is_error(Code::Internal));
        assert!(Side::Client.is_error(Code::NotFound));
        assert!(!Side::Client.is_error(Code::Ok));
    }
}
