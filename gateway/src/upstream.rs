//! Upstream gRPC servers: which service goes where, one lazily connecting
//! HTTP/2 channel per upstream, and their health for `/readyz`.
//!
//! In proxyless mode (the default) every routed service must be a workload
//! of the mesh policy: its calls go through the mesh's client stack (the
//! policy's route timeout, circuit breaker and in-flight limit) over mTLS as
//! the `gateway` workload, to a server that must prove that service's
//! identity. In sidecar mode (Istio) the same stack runs over plaintext, as
//! the sidecar does mTLS; a service the policy does not describe (a foreign
//! descriptor set) then gets a plain channel. The gateway never retries: a
//! REST client sees the first answer and decides for itself. Either way
//! each call gets the gRPC client metrics and a client span, whose trace
//! context goes upstream.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use bazaar_mesh::{
    Credentials, MeshConfig, MeshPolicy, Mode, Upstream,
    client::{ClientError as MeshClientError, ClientMetrics},
    policy::PolicyError,
    tls::TlsError,
};
use bazaar_observe::ObserveLayer;
use bazaar_runtime::client::{ClientConfig, ClientError, channel};
use serde::Serialize;
use tonic::{Code, body::Body, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tower::{BoxError, Layer as _, ServiceExt as _, util::BoxCloneSyncService};

use crate::{
    config::{BAZAAR_DEFAULT_ROUTES, GatewayConfig, WORKLOAD},
    workers::{PerWorker, Workers},
};

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no upstream for {0}: set an upstream (--upstream URL) or a route (--route {0}=URL)")]
    Missing(String),
    #[error("invalid route {0:?}: expected SERVICE=URL")]
    BadRoute(String),
    #[error("route for {0}, which the descriptor set has no HTTP rules for")]
    UnknownService(String),
    #[error(
        "{0} is not a service of the mesh policy, so the gateway cannot tell whom it must \
         reach over mTLS: add it to the policy (--mesh-policy-file), or run behind a sidecar \
         (--mesh-mode sidecar)"
    )]
    NotInPolicy(String),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("cannot load the gateway's mesh certificate: {0}")]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Channel(#[from] ClientError),
    #[error(transparent)]
    MeshChannel(#[from] MeshClientError),
}

/// Why a call to an upstream failed before it had an answer. tonic looks
/// through its source chain for a status or connect error; a named type
/// (not a bare `BoxError`) keeps the handler's futures provably `Send`.
#[derive(Debug)]
pub struct CallError(BoxError);

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for CallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// A channel to one upstream, through the mesh stack or plain.
pub type UpstreamChannel =
    BoxCloneSyncService<http::Request<Body>, http::Response<Body>, CallError>;

fn boxed<S, E>(service: S) -> UpstreamChannel
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = E>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    E: Into<BoxError>,
{
    BoxCloneSyncService::new(service.map_err(|error: E| CallError(error.into())))
}

/// A plain channel with the client metrics and span of every call (the
/// mesh stack has them inside).
fn observed(channel: PerWorker<Channel>, client: &ClientMetrics) -> UpstreamChannel {
    boxed(
        ObserveLayer::new(client.grpc.clone())
            .layer(channel)
            .map_response(|response| response.map(Body::new)),
    )
}

/// The mesh as the gateway takes part in it.
pub struct Mesh {
    pub mode: Mode,
    pub policy: MeshPolicy,
    /// The gateway's certificate, watched for rotation (proxyless only).
    credentials: Option<Arc<Credentials>>,
}

impl Mesh {
    /// Reads the policy and, in proxyless mode, the gateway's certificate
    /// (which starts a reload task: call it inside a Tokio runtime).
    pub fn load(config: &MeshConfig) -> Result<Self, UpstreamError> {
        Ok(Self {
            mode: config.mode,
            policy: config.policy()?,
            credentials: config.credentials(WORKLOAD)?,
        })
    }
}

/// One upstream: an address, as a workload of the mesh or not.
struct Target {
    url: String,
    workload: Option<String>,
    /// Calls: the mesh stack, or a plain channel.
    channel: UpstreamChannel,
    /// Health checks: the same connection settings (mTLS as `gateway`), but
    /// not through the breaker, so `/readyz` polled while a service starts
    /// neither trips it nor is refused by it.
    health: Channel,
}

/// Where each service's calls go.
pub struct Upstreams {
    /// Distinct upstreams and their channels.
    targets: Vec<Target>,
    /// Service full name → index into `targets`.
    services: BTreeMap<String, usize>,
}

/// What `/readyz` reports.
#[derive(Debug, Serialize)]
pub struct Readiness {
    pub ready: bool,
    /// Service → `SERVING`, `NOT_SERVING`, or why the check failed.
    pub upstreams: BTreeMap<String, String>,
}

impl Upstreams {
    /// Resolves an address for every service in `services`: its route, else
    /// the default upstream, else (serving the embedded Bazaar set) Bazaar's
    /// default port for it; and, in the mesh, the workload it is. Every
    /// call is measured and traced in `client`.
    pub fn resolve(
        config: &GatewayConfig,
        mesh: &Mesh,
        services: &[String],
        bazaar_defaults: bool,
        client: &ClientMetrics,
        workers: &Workers,
    ) -> Result<Self, UpstreamError> {
        let mut routes = BTreeMap::new();
        for route in &config.routes {
            let (service, url) = route
                .split_once('=')
                .map(|(s, u)| (s.trim(), u.trim()))
                .filter(|(s, u)| !s.is_empty() && !u.is_empty())
                .ok_or_else(|| UpstreamError::BadRoute(route.clone()))?;
            if !services.iter().any(|s| s == service) {
                return Err(UpstreamError::UnknownService(service.to_owned()));
            }
            routes.insert(service.to_owned(), url.to_owned());
        }

        let mut upstreams = Self {
            targets: Vec::new(),
            services: BTreeMap::new(),
        };
        for service in services {
            let url = routes
                .get(service)
                .cloned()
                .or_else(|| config.upstream.clone())
                .or_else(|| {
                    bazaar_defaults
                        .then(|| {
                            BAZAAR_DEFAULT_ROUTES
                                .iter()
                                .find(|(s, _)| s == service)
                                .map(|(_, url)| (*url).to_owned())
                        })
                        .flatten()
                })
                .ok_or_else(|| UpstreamError::Missing(service.clone()))?;
            let workload = match mesh.policy.service_by_grpc_name(service) {
                Some((workload, _)) => Some(workload.to_owned()),
                None if mesh.mode == Mode::Proxyless => {
                    return Err(UpstreamError::NotInPolicy(service.clone()));
                }
                None => None,
            };
            let existing = upstreams
                .targets
                .iter()
                .position(|t| t.url == url && t.workload == workload);
            let index = match existing {
                Some(index) => index,
                None => {
                    let target = Target::new(config, mesh, url, workload, client, workers)?;
                    upstreams.targets.push(target);
                    upstreams.targets.len() - 1
                }
            };
            upstreams.services.insert(service.clone(), index);
        }
        Ok(upstreams)
    }

    /// The channel of `service` (resolved at start-up for each binding).
    pub fn channel_of(&self, service: &str) -> Option<&UpstreamChannel> {
        let index = self.services.get(service)?;
        self.targets.get(*index).map(|t| &t.channel)
    }

    /// Who answers `service`'s calls, for metrics: its workload in the mesh
    /// policy, else (a service outside it) the service's own name.
    pub fn upstream_name<'a>(&'a self, service: &'a str) -> &'a str {
        self.services
            .get(service)
            .and_then(|index| self.targets.get(*index)?.workload.as_deref())
            .unwrap_or(service)
    }

    /// Service → address, for logs.
    pub fn table(&self) -> BTreeMap<&str, &str> {
        self.services
            .iter()
            .filter_map(|(s, i)| Some((s.as_str(), self.targets.get(*i)?.url.as_str())))
            .collect()
    }

    /// Asks every upstream, concurrently, whether each of its services is
    /// SERVING (`grpc.health.v1`, open to every identity of the mesh). A
    /// server that does not know the service name is asked about itself
    /// (service `""`).
    pub async fn readiness(&self, timeout: Duration) -> Readiness {
        let mut checks = tokio::task::JoinSet::new();
        for (service, index) in &self.services {
            let Some(target) = self.targets.get(*index) else {
                continue;
            };
            let (service, channel) = (service.clone(), target.health.clone());
            checks.spawn(async move {
                let status = tokio::time::timeout(timeout, check(channel, &service))
                    .await
                    .unwrap_or_else(|_| Err("health check timed out".to_owned()));
                (service, status)
            });
        }
        let mut upstreams = BTreeMap::new();
        let mut ready = true;
        while let Some(joined) = checks.join_next().await {
            let Ok((service, status)) = joined else {
                ready = false;
                continue;
            };
            let text = match status {
                Ok(ServingStatus::Serving) => "SERVING".to_owned(),
                Ok(other) => {
                    ready = false;
                    other.as_str_name().to_owned()
                }
                Err(error) => {
                    ready = false;
                    error
                }
            };
            upstreams.insert(service, text);
        }
        Readiness { ready, upstreams }
    }
}

impl Target {
    fn new(
        config: &GatewayConfig,
        mesh: &Mesh,
        url: String,
        workload: Option<String>,
        client: &ClientMetrics,
        workers: &Workers,
    ) -> Result<Self, UpstreamError> {
        let policy = workload
            .as_deref()
            .and_then(|w| Some((w, mesh.policy.services.get(w)?)));
        let Some((name, policy)) = policy else {
            // Outside the policy (sidecar mode only): plain channels.
            let client_config = ClientConfig {
                url: url.clone(),
                connect_timeout: config.connect_timeout,
            };
            let health = channel(&client_config)?;
            let plain = workers.each(|| channel(&client_config))?;
            return Ok(Self {
                url,
                workload,
                channel: observed(PerWorker::new(plain), client),
                health,
            });
        };
        let tls = match &mesh.credentials {
            Some(credentials) => {
                let identity = mesh
                    .policy
                    .identity(name)
                    .ok_or_else(|| UpstreamError::NotInPolicy(name.to_owned()))?;
                Some((Arc::clone(credentials), identity))
            }
            None => None,
        };
        let upstream = Upstream {
            name: name.to_owned(),
            url: url.clone(),
            policy: Arc::new(policy.clone()),
            tls,
            connect_timeout: config.connect_timeout,
            metrics: Some(client.clone()),
        };
        Ok(Self {
            channel: boxed(
                upstream.channel_over(PerWorker::new(workers.each(|| upstream.transport())?)),
            ),
            health: upstream.transport()?,
            url,
            workload,
        })
    }
}

async fn check(channel: Channel, service: &str) -> Result<ServingStatus, String> {
    let mut client = HealthClient::new(channel);
    let ask = |service: &str| HealthCheckRequest {
        service: service.to_owned(),
    };
    let answer = match client.check(ask(service)).await {
        Err(status) if status.code() == Code::NotFound => client.check(ask("")).await,
        other => other,
    };
    match answer {
        Ok(response) => {
            Ok(ServingStatus::try_from(response.into_inner().status)
                .unwrap_or(ServingStatus::Unknown))
        }
        Err(status) => Err(format!(
            "{:?}: {}",
            crate::errors::upstream_code(&status),
            status.message()
        )),
    }
}
