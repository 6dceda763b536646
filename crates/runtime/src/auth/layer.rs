//! The tower layer that authenticates each request before its handler.

use std::{
    convert::Infallible,
    sync::Arc,
    task::{Context, Poll},
};

use futures_util::future::{Either, Ready, ready};
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

    fn authenticate(
        &self,
        path: &str,
        headers: &http::HeaderMap,
    ) -> Result<Option<Arc<Principal>>, Status> {
        let public = self.public_methods.iter().any(|p| p == path);
        let token = match bearer_token(headers) {
            Ok(token) => token,
            Err(_) if public => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        match self.verifier.verify(token) {
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
        >,
{
    type Response = S::Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Self::Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        match self
            .layer
            .authenticate(request.uri().path(), request.headers())
        {
            Ok(principal) => {
                if let Some(principal) = principal {
                    request.extensions_mut().insert(principal);
                }
                Either::Right(self.inner.call(request))
            }
            Err(status) => Either::Left(ready(Ok(status.into_http()))),
        }
    }
}
