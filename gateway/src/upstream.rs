//! Upstream gRPC servers: which service goes where, one lazily connecting,
//! pooled HTTP/2 channel per distinct address (built by the shared runtime's
//! client module), and their health for `/readyz`.

use std::{collections::BTreeMap, time::Duration};

use bazaar_runtime::client::{ClientConfig, ClientError, channel};
use serde::Serialize;
use tonic::{Code, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::config::{BAZAAR_DEFAULT_ROUTES, GatewayConfig};

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no upstream for {0}: set an upstream (--upstream URL) or a route (--route {0}=URL)")]
    Missing(String),
    #[error("invalid route {0:?}: expected SERVICE=URL")]
    BadRoute(String),
    #[error("route for {0}, which the descriptor set has no HTTP rules for")]
    UnknownService(String),
    #[error(transparent)]
    Channel(#[from] ClientError),
}

/// Where each service's calls go.
#[derive(Debug, Clone)]
pub struct Upstreams {
    /// Distinct addresses and their channels.
    channels: Vec<(String, Channel)>,
    /// Service full name → index into `channels`.
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
    /// default port for it.
    pub fn resolve(
        config: &GatewayConfig,
        services: &[String],
        bazaar_defaults: bool,
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
            channels: Vec::new(),
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
            let index = match upstreams.channels.iter().position(|(u, _)| *u == url) {
                Some(index) => index,
                None => {
                    let client = ClientConfig {
                        url: url.clone(),
                        connect_timeout: config.connect_timeout,
                        // Each call carries its own deadline; this only caps
                        // the wait for response headers.
                        request_timeout: config.request_timeout,
                    };
                    upstreams.channels.push((url, channel(&client)?));
                    upstreams.channels.len() - 1
                }
            };
            upstreams.services.insert(service.clone(), index);
        }
        Ok(upstreams)
    }

    /// The channel index of `service` (resolved at start-up for each binding).
    pub fn index_of(&self, service: &str) -> Option<usize> {
        self.services.get(service).copied()
    }

    pub fn channel(&self, index: usize) -> Option<&Channel> {
        self.channels.get(index).map(|(_, channel)| channel)
    }

    /// Service → address, for logs.
    pub fn table(&self) -> BTreeMap<&str, &str> {
        self.services
            .iter()
            .filter_map(|(s, i)| Some((s.as_str(), self.channels.get(*i)?.0.as_str())))
            .collect()
    }

    /// Asks every upstream, concurrently, whether each of its services is
    /// SERVING (`grpc.health.v1`). A server that does not know the service
    /// name is asked about itself (service `""`).
    pub async fn readiness(&self, timeout: Duration) -> Readiness {
        let mut checks = tokio::task::JoinSet::new();
        for (service, index) in &self.services {
            let Some((_, channel)) = self.channels.get(*index) else {
                continue;
            };
            let (service, channel) = (service.clone(), channel.clone());
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
        Err(status) => Err(format!("{:?}: {}", status.code(), status.message())),
    }
}
