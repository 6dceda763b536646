//! The gateway's typed configuration: the `[gateway]` section (environment
//! `BAZAAR__GATEWAY__...`) and the shared `[telemetry]` and `[mesh]`
//! sections (the same keys as every service's), loaded by
//! `bazaar_runtime::config`; the command line overrides them (see `cli`).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use bazaar_mesh::MeshConfig;
use bazaar_runtime::telemetry::TelemetryConfig;
use serde::{Deserialize, Serialize};

/// The gateway's workload in the mesh policy: its identity towards the
/// services (certificate `<certs_dir>/gateway.pem`).
pub const WORKLOAD: &str = "gateway";

/// The port the edge listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 8080;

/// The admin port (`/metrics`, `/healthz`) unless told otherwise: the
/// edge's port plus 1000, as for every service.
pub const DEFAULT_ADMIN_PORT: u16 = DEFAULT_PORT + bazaar_runtime::server::ADMIN_PORT_OFFSET;

/// Where each Bazaar service listens by default; used when the embedded
/// Bazaar descriptor set is served and no upstream is configured.
pub const BAZAAR_DEFAULT_ROUTES: [(&str, &str); 5] = [
    ("bazaar.user.v1.UserService", "http://127.0.0.1:50051"),
    ("bazaar.product.v1.ProductService", "http://127.0.0.1:50052"),
    ("bazaar.order.v1.OrderService", "http://127.0.0.1:50053"),
    ("bazaar.payment.v1.PaymentService", "http://127.0.0.1:50054"),
    (
        "bazaar.notification.v1.NotificationService",
        "http://127.0.0.1:50055",
    ),
];

/// The whole configuration of the `bazaar-gateway` binary.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub gateway: GatewayConfig,
    pub telemetry: TelemetryConfig,
    /// How upstream calls are secured: mTLS as `gateway` with the policy's
    /// client stack (proxyless), or plaintext to a sidecar (Istio).
    pub mesh: MeshConfig,
}

/// The `[gateway]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayConfig {
    /// Where to listen (the binary binds it; `run` takes a bound listener).
    pub listen: SocketAddr,
    /// Where to serve Prometheus metrics (`GET /metrics`) and a liveness
    /// probe (`GET /healthz`) over plain HTTP; `None` for no admin port.
    pub admin_listen: Option<SocketAddr>,
    /// An encoded `google.protobuf.FileDescriptorSet` to serve; unset, the
    /// embedded Bazaar contracts.
    pub descriptor_set: Option<PathBuf>,
    /// The upstream of every service without a route of its own.
    pub upstream: Option<String>,
    /// Per-service upstreams, each `package.Service=http://host:port`.
    pub routes: Vec<String>,
    /// Upper bound on one request at the edge (504 past it). For a
    /// server-streaming call it bounds the wait for the first message only.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// The `grpc-timeout` sent upstream on unary calls when the client sends
    /// no `Grpc-Timeout` header.
    #[serde(with = "humantime_serde")]
    pub upstream_timeout: Duration,
    /// How long connecting to an upstream may take.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Largest accepted request body, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// How long in-flight requests may take to finish after a stop signal.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// How long `/readyz` waits for each upstream's health check.
    #[serde(with = "humantime_serde")]
    pub readiness_timeout: Duration,
    pub json: JsonConfig,
    pub cors: CorsConfig,
    /// Serve the storefront (the embedded `web/`) at `/`.
    pub storefront: bool,
    /// How many single-threaded runtimes serve requests; 0 for one per
    /// core.
    pub workers: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            admin_listen: Some(SocketAddr::from(([127, 0, 0, 1], DEFAULT_ADMIN_PORT))),
            descriptor_set: None,
            upstream: None,
            routes: Vec::new(),
            request_timeout: Duration::from_secs(30),
            upstream_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(1),
            max_body_bytes: 4 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(10),
            readiness_timeout: Duration::from_secs(1),
            json: JsonConfig::default(),
            cors: CorsConfig::default(),
            storefront: true,
            workers: 0,
        }
    }
}

impl GatewayConfig {
    /// [`Self::workers`], with 0 resolved to the cores this process may use.
    pub fn worker_count(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            n => n,
        }
    }
}

/// How JSON field names are written in responses (requests accept both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldNames {
    /// The names in the `.proto` file, e.g. `create_time` (grpc-gateway's
    /// `UseProtoNames: true`).
    #[default]
    Proto,
    /// The proto3 JSON names, e.g. `createTime` (grpc-gateway's default).
    LowerCamelCase,
}

/// The `[gateway.json]` section: the proto3 JSON mapping's options.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct JsonConfig {
    pub field_names: FieldNames,
    /// Write fields that hold their default value (`0`, `""`, `[]`).
    pub emit_unpopulated: bool,
    /// Ignore unknown fields in request bodies instead of answering 400.
    pub discard_unknown_fields: bool,
    /// Write enums as numbers instead of names.
    pub enums_as_numbers: bool,
}

impl Default for JsonConfig {
    fn default() -> Self {
        Self {
            field_names: FieldNames::Proto,
            emit_unpopulated: true,
            discard_unknown_fields: false,
            enums_as_numbers: false,
        }
    }
}

/// The `[gateway.cors]` section. No origins: CORS is off (no headers added,
/// preflights are not answered specially).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CorsConfig {
    /// Exact origins (`https://shop.example`), or `*` for any.
    pub allowed_origins: Vec<String>,
    /// Send `Access-Control-Allow-Credentials: true` (then `*` echoes the
    /// request's origin, as browsers demand).
    pub allow_credentials: bool,
    /// How long browsers may cache a preflight answer.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            allow_credentials: false,
            max_age: Duration::from_secs(600),
        }
    }
}
