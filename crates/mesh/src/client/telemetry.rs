//! What the client stack reports: the gRPC client metrics and spans of every
//! call (through [`bazaar_observe::ObserveLayer`]), and per upstream its
//! retries, breaker and in-flight refusals.

use bazaar_observe::{
    GrpcMetrics, Metrics,
    prometheus_client::metrics::{counter::Counter, family::Family, gauge::Gauge},
};

type ByUpstream<M> = Family<[(&'static str, String); 1], M>;

/// The client-side metrics of one process, registered once and shared by
/// all its upstreams.
#[derive(Debug, Clone)]
pub struct ClientMetrics {
    pub grpc: GrpcMetrics,
    retries: ByUpstream<Counter>,
    budget_exhausted: ByUpstream<Counter>,
    ejections: ByUpstream<Counter>,
    circuit_open: ByUpstream<Gauge>,
    in_flight_refused: ByUpstream<Counter>,
}

impl ClientMetrics {
    pub fn register(metrics: &Metrics) -> Self {
        Self::register_with(metrics, [])
    }

    /// [`Self::register`], labelling `methods` (paths with how they
    /// stream) up front; others are labelled unary when first called.
    pub fn register_with<'a>(
        metrics: &Metrics,
        methods: impl IntoIterator<Item = (&'a str, bazaar_observe::GrpcType)>,
    ) -> Self {
        Self {
            grpc: GrpcMetrics::client(metrics, methods),
            retries: metrics.family(
                "bazaar_mesh_retries",
                "Retries of idempotent calls sent to an upstream",
            ),
            budget_exhausted: metrics.family(
                "bazaar_mesh_retry_budget_exhausted",
                "Retries not sent because the upstream's retry budget was spent",
            ),
            ejections: metrics.family(
                "bazaar_mesh_circuit_ejections",
                "Times the circuit breaker ejected an upstream",
            ),
            circuit_open: metrics.family(
                "bazaar_mesh_circuit_open",
                "1 while the circuit to an upstream is open (ejected), else 0",
            ),
            in_flight_refused: metrics.family(
                "bazaar_mesh_in_flight_refused",
                "Calls refused at once because too many were in flight to the upstream",
            ),
        }
    }

    /// The handles for the upstream `name`.
    pub fn upstream(&self, name: &str) -> UpstreamMetrics {
        let labels = [("upstream", name.to_owned())];
        let circuit_open = self.circuit_open.get_or_create_owned(&labels);
        circuit_open.set(0);
        UpstreamMetrics {
            retries: self.retries.get_or_create_owned(&labels),
            budget_exhausted: self.budget_exhausted.get_or_create_owned(&labels),
            ejections: self.ejections.get_or_create_owned(&labels),
            circuit_open,
            in_flight_refused: self.in_flight_refused.get_or_create_owned(&labels),
        }
    }
}

/// One upstream's resilience counters; the default is unregistered (counted
/// but not exposed).
#[derive(Debug, Clone, Default)]
pub struct UpstreamMetrics {
    pub retries: Counter,
    pub budget_exhausted: Counter,
    pub ejections: Counter,
    pub circuit_open: Gauge,
    pub in_flight_refused: Counter,
}
