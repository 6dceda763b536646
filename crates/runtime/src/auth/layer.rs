//! The tower layer that authenticates each request before its handler.

use std::{
    convert::Infallible,
    sync::Arc,
    task::{Context, Poll},
};

use futures_util::future::{BoxFuture, Either, Ready, ready};
use tonic::{Status, server::NamedService};

use bazaar_mesh::policy::{MethodPolicy, Role, ServicePolicy, UserToken};

use super::{Principal, TokenVerifier};
use crate::status::ServiceError;

/// Wraps a gRPC service so every request is authenticated before it reaches
/// the handler.
///
/// Protected methods (all but the listed public ones) need a valid
/// `authorization: Bearer <token>`; anything else is `UNAUTHENTICATED`. Public
/// methods accept anonymous callers, and still see the [`Principal`] of a
/// valid token.
#[derive(Clone)]
pub struct AuthLayer {
    verifier: Arc<TokenVerifier>,
    /// gRPC paths, `/package.Service/Method`.
    public_methods: Arc<[String]>,
    /// Methods whose caller must be an admin (also checked by handlers).
    admin_methods: Arc<[String]>,
}

impl AuthLayer {
    pub fn new(verifier: Arc<TokenVerifier>) -> Self {
        Self {
            verifier,
            public_methods: Arc::from([]),
            admin_methods: Arc::from([]),
        }
    }

    /// The user-token rules the mesh policy gives the methods of `service`:
    /// `user_token: optional` methods are public, `role: admin` ones need an
    /// admin.
    pub fn from_policy(verifier: Arc<TokenVerifier>, service: &ServicePolicy) -> Self {
        let path = |method: &String| format!("/{}/{method}", service.grpc_service);
        let methods = |keep: fn(&MethodPolicy) -> bool| -> Arc<[String]> {
            service
                .methods
                .iter()
                .filter(|(_, rules)| keep(rules))
                .map(|(method, _)| path(method))
                .collect()
        };
        Self {
            verifier,
            public_methods: methods(|rules| rules.user_token == UserToken::Optional),
            admin_methods: methods(|rules| rules.role == Some(Role::Admin)),
        }
    }

    /// Marks methods of `service` (its full name) that anyone may call.
    pub fn public(mut self, service: &str, methods: &[&str]) -> Self {
        let mut all = self.public_methods.to_vec();
        all.extend(methods.iter().map(|m| format!("/{service}/{m}")));
        self.public_methods = all.into();
        self
    }

    /// The caller, or the refusal; [`Decision::Refetch`] when the token
    /// names a key not known yet, so the answer must wait for the issuer's
    /// keys.
    fn authenticate(&self, path: &str, headers: &http::HeaderMap) -> Decision {
        let public = self.public_methods.iter().any(|p| p == path);
        let token = match bearer_token(headers) {
            Ok(token) => token,
            Err(_) if public => return Decision::Now(Ok(None)),
            Err(error) => return Decision::Now(Err(error.into())),
        };
        match self.verifier.verify_unless_stale(token) {
            Some(verified) => Decision::Now(self.decide(path, public, verified)),
            None => Decision::Refetch(token.to_owned()),
        }
    }

    /// [`Self::authenticate`] after a refetch of the issuer's keys.
    async fn authenticate_fresh(
        &self,
        path: &str,
        token: &str,
    ) -> Result<Option<Arc<Principal>>, Status> {
        let public = self.public_methods.iter().any(|p| p == path);
        self.decide(path, public, self.verifier.verify_fresh(token).await)
    }

    fn decide(
        &self,
        path: &str,
        public: bool,
        verified: Result<Arc<Principal>, ServiceError>,
    ) -> Result<Option<Arc<Principal>>, Status> {
        match verified {
            Ok(principal) if self.admin_methods.iter().any(|p| p == path) => {
                principal.require_admin()?;
                Ok(Some(principal))
            }
            Ok(principal) => Ok(Some(principal)),
            // A stale token must not lock anyone out of public methods.
            Err(_) if public => Ok(None),
            Err(error) => Err(error.into()),
        }
    }
}

enum Decision {
    Now(Result<Option<Arc<Principal>>, Status>),
    /// The token, to check again once the issuer's keys are refetched.
    Refetch(String),
}

fn bearer_token(headers: &http::HeaderMap) -> Result<&str, ServiceError> {
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| ServiceError::Unauthenticated("a bearer token is required".into()))?;
    let value = value
        .to_str()
        .map_err(|_| ServiceError::Unauthenticated("malformed authorization header".into()))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(ServiceError::Unauthenticated(
            "authorization must be `Bearer <token>`".into(),
        )),
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticated {
            inner,
            layer: self.clone(),
        }
    }
}

/// A service behind [`AuthLayer`].
#[derive(Clone)]
pub struct Authenticated<S> {
    inner: S,
    layer: AuthLayer,
}

impl<S: NamedService> NamedService for Authenticated<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> tower::Service<http::Request<B>> for Authenticated<S>
where
    S: tower::Service<
            http::Request<B>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = Infallible;
    /// Ready at once for most requests; boxed only for the few whose token
    /// names an unknown key and must wait for the issuer's keys.
    type Future = Either<
        Either<Ready<Result<Self::Response, Infallible>>, S::Future>,
        BoxFuture<'static, Result<Self::Response, Infallible>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let decision = self
            .layer
            .authenticate(request.uri().path(), request.headers());
        let decided = match decision {
            Decision::Now(decided) => decided,
            Decision::Refetch(token) => {
                // The service polled ready is the one that must be called; a
                // fresh clone takes its place for the next request.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let layer = self.layer.clone();
                return Either::Right(Box::pin(async move {
                    match layer.authenticate_fresh(request.uri().path(), &token).await {
                        Ok(principal) => {
                            if let Some(principal) = principal {
                                request.extensions_mut().insert(principal);
                            }
                            inner.call(request).await
                        }
                        Err(status) => Ok(status.into_http()),
                    }
                }));
            }
        };
        match decided {
            Ok(principal) => {
                if let Some(principal) = principal {
                    request.extensions_mut().insert(principal);
                }
                Either::Left(Either::Right(self.inner.call(request)))
            }
            Err(status) => Either::Left(Either::Left(ready(Ok(status.into_http())))),
        }
    }
}
