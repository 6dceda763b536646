//! The gRPC server every Bazaar service runs.
//!
//! One builder gives each server the same shape: gRPC health and reflection
//! (v1 and v1alpha, so grpcurl 1.8 works), a span per request joined to the
//! caller's trace, in the mesh mTLS and per-method authorization from the
//! mesh policy, a request timeout, a global concurrency limit that sheds
//! load instead of queueing, and a graceful shutdown that stops taking work,
//! reports NOT_SERVING, and drains for at most the configured grace period.

use std::{
    convert::Infallible, future::Future, net::SocketAddr, num::NonZeroUsize, sync::Arc,
    time::Duration,
};

use bazaar_mesh::{AuthzLayer, MeshPolicy, Mode};
use bazaar_observe::{GrpcMetrics, GrpcType, Metrics, ObserveLayer};

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tonic::{
    body::Body,
    server::NamedService,
    service::RoutesBuilder,
    transport::{Server, server::TcpIncoming},
};
use tonic_health::{ServingStatus, server::HealthReporter};
use tower::{ServiceBuilder, limit::GlobalConcurrencyLimitLayer};

mod deadline;
mod reflection;

pub use deadline::{DeadlineLayer, parse_grpc_timeout};

/// The `[server]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Where to listen; each binary sets its own default port.
    pub listen: SocketAddr,
    /// Upper bound on one request; a client's shorter `grpc-timeout` wins.
    /// Past it the caller gets `DEADLINE_EXCEEDED`.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Requests handled at once; more are refused with `RESOURCE_EXHAUSTED`.
    pub concurrency_limit: NonZeroUsize,
    /// How long in-flight requests may take to finish after a stop signal.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Also serve gRPC health, and nothing else, in plaintext here: for
    /// Kubernetes probes, which cannot present a mesh certificate.
    pub probe_listen: Option<SocketAddr>,
    /// Plain HTTP `/metrics` (Prometheus) and `/healthz` here; by default
    /// the gRPC port + 1000 on loopback (none when the port is picked by
    /// the system).
    pub admin_listen: Option<SocketAddr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            request_timeout: Duration::from_secs(10),
            concurrency_limit: NonZeroUsize::new(1024).unwrap_or(NonZeroUsize::MIN),
            shutdown_grace: Duration::from_secs(10),
            probe_listen: None,
            admin_listen: None,
        }
    }
}

impl ServerConfig {
    /// Defaults with another port.
    pub fn with_port(port: u16) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            admin_listen: port
                .checked_add(ADMIN_PORT_OFFSET)
                .map(|admin| SocketAddr::from(([127, 0, 0, 1], admin))),
            ..Self::default()
        }
    }
}

/// The default admin port is the gRPC port plus this (user: 51051).
pub const ADMIN_PORT_OFFSET: u16 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("the server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("cannot serve health probes: {0}")]
    Probe(std::io::Error),
    #[error("cannot serve the admin port: {0}")]
    Admin(std::io::Error),
}

/// A generated gRPC server (possibly behind layers) that can be routed.
pub trait GrpcService:
    tower::Service<
        http::Request<Body>,
        Response = http::Response<Body>,
        Error = Infallible,
        Future: Send + 'static,
    > + NamedService
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> GrpcService for S where
    S: tower::Service<
            http::Request<Body>,
            Response = http::Response<Body>,
            Error = Infallible,
            Future: Send + 'static,
        > + NamedService
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// How a server takes part in the mesh.
#[derive(Clone)]
pub struct MeshServer {
    pub policy: Arc<MeshPolicy>,
    pub mode: Mode,
    /// mTLS for the listener (proxyless); `None` behind a sidecar.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Assembles a server from services; [`Self::serve`] runs it.
pub struct ServerBuilder {
    config: ServerConfig,
    routes: RoutesBuilder,
    service_names: Vec<&'static str>,
    descriptor_sets: Vec<&'static [u8]>,
    health: HealthReporter,
    /// Health alone, for the plaintext probe listener.
    probe_routes: tonic::service::Routes,
    mesh: Option<MeshServer>,
    metrics: Metrics,
}

impl ServerBuilder {
    pub fn new(config: ServerConfig) -> Self {
        let (health, health_service) = tonic_health::server::health_reporter();
        let mut routes = RoutesBuilder::default();
        routes.add_service(health_service.clone());
        let mut probe_routes = RoutesBuilder::default();
        probe_routes.add_service(health_service);
        Self {
            config,
            routes,
            service_names: Vec::new(),
            descriptor_sets: vec![tonic_health::pb::FILE_DESCRIPTOR_SET],
            health,
            probe_routes: probe_routes.routes(),
            mesh: None,
            metrics: Metrics::new(),
        }
    }

    /// Registers the server's metrics in `metrics` (by default a registry
    /// of its own) and serves them on the admin port.
    pub fn metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Serves inside the mesh: mTLS on the listener (proxyless) and every
    /// call authorized by the policy before anything else runs.
    pub fn mesh(mut self, mesh: MeshServer) -> Self {
        self.mesh = Some(mesh);
        self
    }

    /// Describes the services for reflection (an encoded
    /// `FileDescriptorSet`, such as `bazaar_proto::FILE_DESCRIPTOR_SET`).
    pub fn file_descriptor_set(mut self, encoded: &'static [u8]) -> Self {
        self.descriptor_sets.push(encoded);
        self
    }

    /// Adds a service; it reports SERVING from start until shutdown.
    pub fn add_service<S: GrpcService>(mut self, service: S) -> Self {
        self.service_names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// A handle to flip the health of services (e.g. NOT_SERVING while a
    /// dependency is down).
    pub fn health_reporter(&self) -> HealthReporter {
        self.health.clone()
    }

    /// Serves on `listener` until `shutdown` completes, then drains for at
    /// most `shutdown_grace`.
    pub async fn serve(
        mut self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServerError> {
        let described = Arc::new(reflection::Described {
            descriptor_sets: self.descriptor_sets.clone(),
            service_names: self.service_names.clone(),
        });
        self.routes
            .add_service(reflection::Lazy::<reflection::V1>::new(Arc::clone(
                &described,
            )));
        self.routes
            .add_service(reflection::Lazy::<reflection::V1Alpha>::new(described));

        for name in &self.service_names {
            self.health
                .set_service_status(*name, ServingStatus::Serving)
                .await;
        }

        let local_addr = listener.local_addr().ok();
        let authz = self
            .mesh
            .as_ref()
            .map(|mesh| AuthzLayer::new(Arc::clone(&mesh.policy), mesh.mode));
        let tls = self.mesh.as_ref().and_then(|mesh| mesh.tls.clone());
        // Outermost first: measure and trace every call, refuse callers the policy does not admit, shed
        // what exceeds the limit, then bound the time of what is admitted.
        // (tonic itself still ends a call at a shorter client `grpc-timeout`,
        // reporting CANCELLED.)
        let methods = served_methods(&self.descriptor_sets, &self.service_names);
        let observe = ObserveLayer::new(GrpcMetrics::server(
            &self.metrics,
            methods.iter().map(|(path, kind)| (path.as_str(), *kind)),
        ));
        let stack = ServiceBuilder::new()
            .layer(observe)
            .option_layer(authz)
            .load_shed()
            .layer(GlobalConcurrencyLimitLayer::new(
                self.config.concurrency_limit.get(),
            ))
            .layer(DeadlineLayer::new(self.config.request_timeout));
        let router = Server::builder()
            .layer(stack)
            .add_routes(self.routes.routes());

        let stopping = tokio::sync::Notify::new();
        let health = self.health.clone();
        let names = self.service_names.clone();
        let signal = async {
            shutdown.await;
            tracing::info!("stopping: refusing new connections, draining requests");
            for name in names.iter().copied().chain([""]) {
                health
                    .set_service_status(name, ServingStatus::NotServing)
                    .await;
            }
            stopping.notify_one();
        };
        tracing::info!(addr = ?local_addr, services = ?self.service_names, mtls = tls.is_some(), "gRPC server listening");
        let serve = async {
            match tls {
                Some(tls) => {
                    let incoming = bazaar_mesh::incoming::incoming(listener, tls);
                    router.serve_with_incoming_shutdown(incoming, signal).await
                }
                None => {
                    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                    router.serve_with_incoming_shutdown(incoming, signal).await
                }
            }
        };
        // Probes see the same health, in plaintext, and nothing else.
        let probes = match self.config.probe_listen {
            Some(addr) => {
                let listener = bind(addr).await.map_err(ServerError::Probe)?;
                tracing::info!(%addr, "health probes listening (plaintext, health only)");
                let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                let routes = self.probe_routes.clone();
                Some(tokio::spawn(
                    Server::builder()
                        .add_routes(routes)
                        .serve_with_incoming(incoming),
                ))
            }
            None => None,
        };
        let _stop_probes = probes.map(|task| AbortOnDrop(task.abort_handle()));
        // The admin port stays up while requests drain.
        let admin = match self.config.admin_listen {
            Some(addr) => Some(
                crate::admin::spawn(addr, self.metrics.clone(), std::future::pending())
                    .await
                    .map_err(ServerError::Admin)?,
            ),
            None => None,
        };
        let _stop_admin = admin.map(|task| AbortOnDrop(task.abort_handle()));
        let grace = self.config.shutdown_grace;
        tokio::select! {
            result = serve => result?,
            () = async { stopping.notified().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(?grace, "requests still running after the grace period; dropping them");
            }
        }
        tracing::info!("gRPC server stopped");
        Ok(())
    }
}

/// Ends the probe server with the main one.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The paths of the methods this server serves, with how they stream:
/// only these get their own metric labels.
fn served_methods(sets: &[&'static [u8]], services: &[&'static str]) -> Vec<(String, GrpcType)> {
    use prost::Message as _;
    let mut methods = Vec::new();
    for set in sets {
        let Ok(set) = prost_types::FileDescriptorSet::decode(*set) else {
            continue;
        };
        for file in &set.file {
            for service in &file.service {
                let name = match file.package() {
                    "" => service.name().to_owned(),
                    package => format!("{package}.{}", service.name()),
                };
                let served = services.contains(&name.as_str())
                    || name == tonic_health::pb::health_server::SERVICE_NAME;
                if !served {
                    continue;
                }
                for method in &service.method {
                    methods.push((
                        format!("/{name}/{}", method.name()),
                        GrpcType::new(method.client_streaming(), method.server_streaming()),
                    ));
                }
            }
        }
    }
    for reflection in ["grpc.reflection.v1", "grpc.reflection.v1alpha"] {
        methods.push((
            format!("/{reflection}.ServerReflection/ServerReflectionInfo"),
            GrpcType::BidiStream,
        ));
    }
    methods
}

/// Binds `addr`, reporting which address failed.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}
