//! The server's authorization layer: who is calling (the verified peer
//! certificate, or in sidecar mode the identity the sidecar forwards), and
//! whether the mesh policy lets them call this method. It runs before any
//! handler; a method the policy does not name is refused.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    task::{Context, Poll},
};

use futures_util::future::{Either, Ready, ready};
use tonic::{Status, body::Body};

use crate::{Mode, identity::SpiffeId, incoming::PeerInfo, policy::MeshPolicy};

/// The mesh workload that made a request, for handlers and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub workload: Arc<str>,
    pub identity: SpiffeId,
}

/// The header an Istio sidecar sets to the client certificate it verified.
pub const FORWARDED_CLIENT_CERT: &str = "x-forwarded-client-cert";

#[derive(Debug, Clone)]
pub struct AuthzLayer {
    policy: Arc<MeshPolicy>,
    mode: Mode,
    /// The policy's decisions, computed once: per method path, who may call.
    rules: Arc<Rules>,
}

/// The policy, indexed for the request path.
#[derive(Debug)]
struct Rules {
    /// SPIFFE ID → workload name, for this mesh's identities only.
    workloads: HashMap<SpiffeId, Arc<str>>,
    /// `/pkg.Service/Method` → the workloads allowed to call it.
    methods: HashMap<String, HashSet<Arc<str>>>,
    /// gRPC services open to every identity (health, reflection).
    infrastructure: HashSet<String>,
}

impl Rules {
    fn of(policy: &MeshPolicy) -> Self {
        let workloads: HashMap<SpiffeId, Arc<str>> = policy
            .workloads
            .iter()
            .filter_map(|w| Some((policy.identity(w)?, Arc::from(w.as_str()))))
            .collect();
        let name = |w: &str| workloads.values().find(|n| &***n == w).cloned();
        let methods = policy
            .services
            .values()
            .flat_map(|service| {
                service.methods.iter().map(|(method, rules)| {
                    let callers = policy
                        .callers_of(rules)
                        .into_iter()
                        .filter_map(name)
                        .collect();
                    (format!("/{}/{method}", service.grpc_service), callers)
                })
            })
            .collect();
        Self {
            methods,
            infrastructure: policy.infrastructure.iter().cloned().collect(),
            workloads,
        }
    }
}

impl AuthzLayer {
    pub fn new(policy: Arc<MeshPolicy>, mode: Mode) -> Self {
        let rules = Arc::new(Rules::of(&policy));
        Self {
            policy,
            mode,
            rules,
        }
    }

    /// The caller's identity as this mode establishes it.
    fn identity<B>(&self, request: &http::Request<B>) -> Option<SpiffeId> {
        match self.mode {
            Mode::Proxyless => request
                .extensions()
                .get::<PeerInfo>()
                .and_then(|peer| peer.identity.clone()),
            // Trusted only here: the pod-local listener is reachable only
            // through the sidecar, which overwrites the header.
            Mode::Sidecar => request
                .headers()
                .get(FORWARDED_CLIENT_CERT)
                .and_then(|value| value.to_str().ok())
                .and_then(SpiffeId::from_forwarded_client_cert),
        }
    }

    /// Admits the request (returning its caller) or says why not.
    pub fn check<B>(&self, request: &http::Request<B>) -> Result<Caller, Status> {
        let path = request.uri().path();
        let identity = self.identity(request).ok_or_else(|| {
            Status::unauthenticated("no workload identity: call with a mesh client certificate")
        })?;
        let Some(workload) = self.rules.workloads.get(&identity).cloned() else {
            tracing::warn!(caller = %identity, method = path, "refused a caller from outside the mesh");
            return Err(Status::permission_denied(format!(
                "{identity} is not a workload of this mesh"
            )));
        };
        let service = path
            .strip_prefix('/')
            .and_then(|p| p.split_once('/'))
            .map_or("", |(service, _)| service);
        let allowed = self.rules.infrastructure.contains(service)
            || self
                .rules
                .methods
                .get(path)
                .is_some_and(|callers| callers.contains(&workload));
        if allowed {
            return Ok(Caller { workload, identity });
        }
        // The slow path, for the log: why it was refused.
        let (service, method) = path
            .strip_prefix('/')
            .and_then(|p| p.split_once('/'))
            .unwrap_or(("", ""));
        let decision = self.policy.decide(&workload, service, method);
        tracing::warn!(caller = %identity, method = path, ?decision, "refused by the mesh policy");
        Err(Status::permission_denied(format!(
            "{workload} may not call {path}"
        )))
    }
}

impl<S> tower::Layer<S> for AuthzLayer {
    type Service = Authorized<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authorized {
            inner,
            layer: self.clone(),
        }
    }
}

/// A service behind [`AuthzLayer`].
#[derive(Debug, Clone)]
pub struct Authorized<S> {
    inner: S,
    layer: AuthzLayer,
}

impl<S, B> tower::Service<http::Request<B>> for Authorized<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<Self::Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        match self.layer.check(&request) {
            Ok(caller) => {
                request.extensions_mut().insert(caller);
                Either::Right(self.inner.call(request))
            }
            Err(status) => Either::Left(ready(Ok(status.into_http()))),
        }
    }
}
