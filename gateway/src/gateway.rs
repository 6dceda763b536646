//! The gateway assembled from configuration: descriptors read, rules parsed,
//! router and upstream channels built, OpenAPI document rendered. All of it
//! happens here, once; a request only reads this structure (no locks).

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use bazaar_mesh::{MeshConfig, client::ClientMetrics};
use bazaar_observe::{GrpcType, Metrics};
use bytes::Bytes;
use prost_reflect::DescriptorPool;

use crate::{
    binding::{self, Binding, RuleError},
    codec::DynamicCodec,
    config::GatewayConfig,
    cors::Cors,
    descriptors::{self, DescriptorError},
    json::Json,
    metrics::{HttpMetrics, UpstreamErrorFamily, UpstreamErrors},
    openapi,
    router::Router,
    storefront,
    upstream::{Mesh, UpstreamChannel, UpstreamError, Upstreams},
    workers::Workers,
};

/// Paths the edge answers itself; a binding on one of them is shadowed.
pub const EDGE_PATHS: [&str; 6] = [
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/openapi-3.0.json",
    "/docs",
    "/docs/",
];

/// Why the gateway cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Descriptors(#[from] DescriptorError),
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error(
        "{method} {template} of {rpc} conflicts with {method} {other_template} of {other_rpc}: \
         no request could tell them apart"
    )]
    Conflict {
        method: String,
        template: String,
        rpc: String,
        other_template: String,
        other_rpc: String,
    },
    #[error("the descriptor set has no google.api.http rules: nothing to serve")]
    NoBindings,
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("{0}")]
    Cors(String),
    #[error("cannot render the OpenAPI document: {0}")]
    OpenApi(#[from] serde_json::Error),
}

/// One binding, ready to serve.
pub(crate) struct Route {
    pub binding: Binding,
    pub channel: UpstreamChannel,
    pub codec: DynamicCodec,
    /// The template, `/v1/items/{item_id}`: the span's `http.route` and
    /// the metrics' `route`.
    pub template: Arc<str>,
    /// Where this route's failed upstream calls are counted.
    pub upstream_errors: Arc<UpstreamErrors>,
}

pub(crate) struct Limits {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub readiness_timeout: Duration,
    /// The `grpc-timeout` of a unary call whose client set none
    /// (`upstream_timeout`, at most `request_timeout`), formatted once.
    pub default_grpc_timeout: tonic::metadata::AsciiMetadataValue,
}

/// `grpc-timeout` for `deadline`, exactly as tonic's `set_timeout` writes it.
pub(crate) fn grpc_timeout(deadline: Duration) -> tonic::metadata::AsciiMetadataValue {
    let mut request = tonic::Request::new(());
    request.set_timeout(deadline);
    request
        .metadata_mut()
        .remove(GRPC_TIMEOUT)
        .unwrap_or_else(|| tonic::metadata::AsciiMetadataValue::from_static("0n"))
}

pub(crate) const GRPC_TIMEOUT: &str = "grpc-timeout";

/// A binding as listed for operators and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub method: String,
    pub template: String,
    /// `package.Service/Method`.
    pub rpc: String,
    /// The upstream address its calls go to.
    pub upstream: String,
}

pub struct Gateway {
    pub(crate) routes: Vec<Route>,
    pub(crate) router: Router,
    pub(crate) json: Arc<Json>,
    pub(crate) cors: Cors,
    pub(crate) upstreams: Upstreams,
    /// OpenAPI 3.1, and 3.0.3 for tools that read no newer.
    pub(crate) openapi: Bytes,
    pub(crate) openapi_3_0: Bytes,
    pub(crate) limits: Limits,
    pub(crate) shutdown_grace: Duration,
    pub(crate) http_metrics: HttpMetrics,
    /// `gateway.storefront`: the embedded `web/` is served at `/`.
    pub(crate) storefront: bool,
    metrics: Metrics,
    pool: DescriptorPool,
}

impl Gateway {
    /// Builds everything the gateway needs from `config` and `mesh`; every
    /// problem with the descriptors, rules, routes, mesh policy, certificate
    /// or options is reported here. Call it inside a Tokio runtime: the
    /// (lazy) upstream channels spawn workers.
    pub fn build(config: &GatewayConfig, mesh: &MeshConfig) -> Result<Self, StartupError> {
        Self::build_on(config, mesh, &Workers::single())
    }

    /// [`Self::build`] for a gateway whose requests run on `workers`: each
    /// worker gets its own connections to every upstream.
    pub fn build_on(
        config: &GatewayConfig,
        mesh: &MeshConfig,
        workers: &Workers,
    ) -> Result<Self, StartupError> {
        let pool = descriptors::load(config.descriptor_set.as_deref())?;
        let bindings = binding::read_bindings(&pool)?;
        if bindings.is_empty() {
            return Err(StartupError::NoBindings);
        }

        let mut router = Router::default();
        for (index, binding) in bindings.iter().enumerate() {
            if let Err(conflict) =
                router.insert(&binding.template, binding.http_method.clone(), index)
            {
                let other = &bindings[conflict.existing];
                return Err(StartupError::Conflict {
                    method: binding.http_method.to_string(),
                    template: binding.template.to_string(),
                    rpc: binding.rpc.full_name().to_owned(),
                    other_template: other.template.to_string(),
                    other_rpc: other.rpc.full_name().to_owned(),
                });
            }
            let raw = binding.template.to_string();
            if EDGE_PATHS.contains(&raw.as_str())
                || (config.storefront && storefront::find(&raw).is_some())
            {
                tracing::warn!(
                    rpc = binding.rpc.full_name(),
                    path = raw,
                    "binding shadowed by the gateway's own endpoint"
                );
            }
        }

        let mut services: Vec<String> = Vec::new();
        for binding in &bindings {
            let service = binding.rpc.parent_service().full_name().to_owned();
            if !services.contains(&service) {
                services.push(service);
            }
        }
        let mesh = Mesh::load(mesh)?;
        let metrics = Metrics::new();
        // One set of client metrics for all upstreams: a second would
        // register the same names again.
        let methods: Vec<(String, GrpcType)> = bindings
            .iter()
            .map(|binding| {
                let rpc = &binding.rpc;
                let path = format!("/{}/{}", rpc.parent_service().full_name(), rpc.name());
                (
                    path,
                    GrpcType::new(rpc.is_client_streaming(), rpc.is_server_streaming()),
                )
            })
            .collect();
        let client = ClientMetrics::register_with(
            &metrics,
            methods.iter().map(|(path, kind)| (path.as_str(), *kind)),
        );
        let upstreams = Upstreams::resolve(
            config,
            &mesh,
            &services,
            config.descriptor_set.is_none(),
            &client,
            workers,
        )?;
        let json = Arc::new(Json::new(&config.json, &pool));
        let cors = Cors::new(&config.cors).map_err(StartupError::Cors)?;
        let title = config.descriptor_set.is_none().then_some("Bazaar REST API");
        let render = |version| openapi::render(&bindings, &json, title, version).map(Bytes::from);
        let openapi = render(openapi::Version::V3_1)?;
        let openapi_3_0 = render(openapi::Version::V3_0)?;

        let error_family = UpstreamErrorFamily::register(&metrics);
        let mut upstream_errors: BTreeMap<String, Arc<UpstreamErrors>> = BTreeMap::new();
        let mut routes = Vec::with_capacity(bindings.len());
        for binding in bindings {
            let service = binding.rpc.parent_service().full_name().to_owned();
            let channel = upstreams
                .channel_of(&service)
                .cloned()
                .ok_or_else(|| StartupError::Upstream(UpstreamError::Missing(service.clone())))?;
            let upstream = upstreams.upstream_name(&service);
            let errors = upstream_errors
                .entry(upstream.to_owned())
                .or_insert_with(|| error_family.upstream(upstream));
            routes.push(Route {
                template: Arc::from(binding.template.to_string()),
                upstream_errors: Arc::clone(errors),
                codec: DynamicCodec::new(binding.output()),
                channel,
                binding,
            });
        }
        let http_metrics =
            HttpMetrics::register(&metrics, routes.iter().map(|r| Arc::clone(&r.template)));

        Ok(Self {
            routes,
            router,
            json,
            cors,
            upstreams,
            openapi,
            openapi_3_0,
            limits: Limits {
                max_body_bytes: config.max_body_bytes,
                request_timeout: config.request_timeout,
                readiness_timeout: config.readiness_timeout,
                default_grpc_timeout: grpc_timeout(
                    config.upstream_timeout.min(config.request_timeout),
                ),
            },
            shutdown_grace: config.shutdown_grace,
            http_metrics,
            storefront: config.storefront,
            metrics,
            pool,
        })
    }

    /// Every binding, in descriptor order.
    pub fn routes(&self) -> Vec<RouteInfo> {
        let table = self.upstreams.table();
        self.routes
            .iter()
            .map(|route| {
                let rpc = &route.binding.rpc;
                let service = rpc.parent_service().full_name().to_owned();
                RouteInfo {
                    method: route.binding.http_method.to_string(),
                    template: route.binding.template.to_string(),
                    rpc: format!("{service}/{}", rpc.name()),
                    upstream: table
                        .get(service.as_str())
                        .copied()
                        .unwrap_or_default()
                        .to_owned(),
                }
            })
            .collect()
    }

    /// The OpenAPI 3.1 document served at `/openapi.json`.
    pub fn openapi_json(&self) -> &[u8] {
        &self.openapi
    }

    /// The same in OpenAPI 3.0.3, served at `/openapi-3.0.json`.
    pub fn openapi_3_0_json(&self) -> &[u8] {
        &self.openapi_3_0
    }

    /// The gateway's metrics registry (what its admin port serves).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The descriptors being served (with `google.rpc` added).
    pub fn pool(&self) -> &DescriptorPool {
        &self.pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_grpc_timeout_is_what_tonic_sends() {
        assert_eq!(grpc_timeout(Duration::from_secs(10)), "10000000u");
        assert_eq!(grpc_timeout(Duration::from_millis(1500)), "1500000u");
    }
}
