//! Bazaar's REST edge: a grpc-gateway-style REST/JSON → gRPC transcoder,
//! driven at run time by a protobuf descriptor set, so it fronts any gRPC
//! service whose methods carry `google.api.http` rules.
//!
//! [`run`] serves on a bound listener until the shutdown future completes;
//! `main` and the tests start exactly the same thing. [`Gateway::build`]
//! alone does every start-up check (descriptors, rules, routes, upstreams).

pub mod binding;
pub mod body;
pub mod cli;
pub mod codec;
pub mod config;
pub mod cors;
pub mod descriptors;
pub mod errors;
pub mod fields;
pub mod gateway;
mod handler;
pub mod json;
pub mod metadata;
mod metrics;
pub mod openapi;
pub mod request;
pub mod router;
mod server;
pub mod storefront;
pub mod template;
pub mod upstream;
pub mod workers;

use std::{future::Future, sync::Arc};

use tokio::net::TcpListener;

pub use crate::{
    config::{Config, GatewayConfig, WORKLOAD},
    gateway::{Gateway, RouteInfo, StartupError},
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("the server failed: {0}")]
    Serve(#[from] std::io::Error),
    #[error("cannot serve the admin port on {addr}: {source}")]
    Admin {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// Serves the gateway described by `config` on `listener` until `shutdown`
/// completes, then drains in-flight requests; with an admin address, serves
/// `/metrics` and `/healthz` there until the gateway has stopped.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    let workers = workers::Workers::start(config.gateway.worker_count()).map_err(Error::Serve)?;
    let gateway = Arc::new(Gateway::build_on(&config.gateway, &config.mesh, &workers)?);
    for route in gateway.routes() {
        tracing::debug!(
            method = route.method,
            template = route.template,
            rpc = route.rpc,
            upstream = route.upstream,
            "route"
        );
    }
    // The admin port stays up while requests drain, and goes with `run`
    // (even when its future is dropped).
    let _admin = match config.gateway.admin_listen {
        Some(addr) => {
            let task = bazaar_runtime::admin::spawn(
                addr,
                gateway.metrics().clone(),
                std::future::pending(),
            )
            .await
            .map_err(|source| Error::Admin { addr, source })?;
            Some(AbortOnDrop(task))
        }
        None => None,
    };
    server::serve(gateway, &workers, listener, shutdown).await?;
    Ok(())
}

/// Ends a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
