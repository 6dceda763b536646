//! gRPC reflection (v1 and v1alpha), built on its first call.
//!
//! Each version decodes every registered descriptor set into its own symbol
//! table: a few hundred KiB of heap that a service no one inspects with
//! grpcurl never needs, so an idle service does not pay for it.

use std::{
    convert::Infallible,
    marker::PhantomData,
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
};

use tonic::{body::Body, server::NamedService};
use tower::{ServiceExt as _, util::BoxCloneSyncService};

type Route = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, Infallible>;
type Built = Result<Route, String>;

/// What the servers reflect: the encoded descriptor sets and the services
/// to advertise.
#[derive(Clone)]
pub(crate) struct Described {
    pub descriptor_sets: Vec<&'static [u8]>,
    pub service_names: Vec<&'static str>,
}

impl Described {
    fn builder(&self) -> tonic_reflection::server::Builder<'static> {
        let mut builder = tonic_reflection::server::Builder::configure();
        for set in &self.descriptor_sets {
            builder = builder.register_encoded_file_descriptor_set(set);
        }
        // Advertise only what this server serves, not all it describes.
        builder = builder.with_service_name(tonic_health::pb::health_server::SERVICE_NAME);
        for name in &self.service_names {
            builder = builder.with_service_name(*name);
        }
        builder
    }
}

pub(crate) trait Version: Send + Sync + 'static {
    const NAME: &'static str;
    fn build(described: &Described) -> Built;
}

pub(crate) enum V1 {}
pub(crate) enum V1Alpha {}

impl Version for V1 {
    const NAME: &'static str = "grpc.reflection.v1.ServerReflection";
    fn build(described: &Described) -> Built {
        described
            .builder()
            .build_v1()
            .map(BoxCloneSyncService::new)
            .map_err(|error| error.to_string())
    }
}

impl Version for V1Alpha {
    const NAME: &'static str = "grpc.reflection.v1alpha.ServerReflection";
    fn build(described: &Described) -> Built {
        described
            .builder()
            .build_v1alpha()
            .map(BoxCloneSyncService::new)
            .map_err(|error| error.to_string())
    }
}

/// One reflection version; its clones share what the first call builds.
pub(crate) struct Lazy<V> {
    described: Arc<Described>,
    built: Arc<OnceLock<Built>>,
    version: PhantomData<fn() -> V>,
}

impl<V> Lazy<V> {
    pub(crate) fn new(described: Arc<Described>) -> Self {
        Self {
            described,
            built: Arc::new(OnceLock::new()),
            version: PhantomData,
        }
    }
}

impl<V> Clone for Lazy<V> {
    fn clone(&self) -> Self {
        Self {
            described: Arc::clone(&self.described),
            built: Arc::clone(&self.built),
            version: PhantomData,
        }
    }
}

impl<V: Version> NamedService for Lazy<V> {
    const NAME: &'static str = V::NAME;
}

impl<V: Version> tower::Service<http::Request<Body>> for Lazy<V> {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future =
        Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send + 'static>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        match self.built.get_or_init(|| V::build(&self.described)) {
            Ok(route) => Box::pin(route.clone().oneshot(request)),
            Err(error) => {
                tracing::error!(%error, "cannot build the reflection service");
                let status = tonic::Status::internal(format!("reflection unavailable: {error}"));
                Box::pin(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tower::Service as _;

    use super::*;

    fn described() -> Described {
        Described {
            descriptor_sets: vec![tonic_health::pb::FILE_DESCRIPTOR_SET],
            service_names: vec![tonic_health::pb::health_server::SERVICE_NAME],
        }
    }

    #[test]
    fn both_versions_build_from_the_descriptor_sets() {
        assert!(V1::build(&described()).is_ok());
        assert!(V1Alpha::build(&described()).is_ok());
    }

    #[test]
    fn nothing_is_built_before_the_first_call_and_clones_share_it() {
        let lazy = Lazy::<V1>::new(Arc::new(described()));
        let clone = lazy.clone();
        assert!(lazy.built.get().is_none());
        drop(clone.clone().call(http::Request::new(Body::empty())));
        assert!(lazy.built.get().is_some_and(Result::is_ok));
    }

    #[test]
    fn a_set_that_does_not_decode_is_an_internal_error_not_a_panic() {
        let broken = Described {
            descriptor_sets: vec![b"\xff\xff\xff"],
            service_names: Vec::new(),
        };
        let mut lazy = Lazy::<V1Alpha>::new(Arc::new(broken));
        let answer = lazy.call(http::Request::new(Body::empty()));
        let response = futures_util::FutureExt::now_or_never(answer)
            .expect("ready at once")
            .expect("infallible");
        assert_eq!(
            response.headers().get("grpc-status").map(|v| v.as_bytes()),
            Some(&b"13"[..])
        );
    }
}
