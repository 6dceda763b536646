//! Telemetry on the wire, the same for every Bazaar process: Prometheus
//! metrics and OpenTelemetry spans for each gRPC call, on the server side
//! and the client side.
//!
//! Metric names follow go-grpc-prometheus, which existing Grafana
//! dashboards use: `grpc_server_started_total`, `grpc_server_handled_total`
//! (with `grpc_code`), `grpc_server_handling_seconds`, and their
//! `grpc_client_*` twins. Spans follow OpenTelemetry's RPC conventions:
//! named `package.Service/Method`, carrying `rpc.system`, `rpc.service`,
//! `rpc.method` and `rpc.grpc.status_code`, with status ERROR for a server
//! fault (server side) or any failure (client side).
//!
//! Labels are bounded: a server labels only the methods it serves (others
//! count as `unknown`), a client at most [`grpc::MAX_CLIENT_METHODS`].

pub mod grpc;
mod histogram;
mod layer;
pub mod metrics;
pub mod propagation;

pub use grpc::{GrpcMetrics, GrpcType, Side};
pub use layer::{ErrorCode, Observe, ObserveLayer, ObservedBody, code_of_error};
pub use metrics::{LatencyHistogram, Metrics};
pub use prometheus_client;
