//! The order service's configuration (`BAZAAR__...` over defaults).

use std::time::Duration;

use bazaar_runtime::{
    auth::AuthConfig,
    client::{ClientConfig, RetryPolicy},
    db::DatabaseConfig,
    server::ServerConfig,
    telemetry::TelemetryConfig,
};
use serde::{Deserialize, Serialize};

/// The gRPC port the order service listens on by default.
pub const DEFAULT_PORT: u16 = 50053;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub server: ServerConfig,
    pub telemetry: TelemetryConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    /// The product service (stock).
    pub product: ClientConfig,
    /// The payment service (charges).
    pub payment: ClientConfig,
    /// Retries of calls to product and payment. All of them are idempotent;
    /// turn retries off (`max_attempts = 1`) where the mesh retries instead.
    pub retries: RetryPolicy,
    pub saga: SagaConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::with_port(DEFAULT_PORT),
            telemetry: TelemetryConfig::default(),
            database: DatabaseConfig::sqlite_default("order"),
            auth: AuthConfig {
                jwks_url: Some("http://127.0.0.1:50051".to_owned()),
                ..AuthConfig::default()
            },
            product: ClientConfig::for_url("http://127.0.0.1:50052"),
            payment: ClientConfig::for_url("http://127.0.0.1:50054"),
            retries: RetryPolicy::default(),
            saga: SagaConfig::default(),
        }
    }
}

/// The `[saga]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SagaConfig {
    /// How long a request owns an order's saga before the recovery worker may
    /// take it over; longer than any request can take.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// How often the recovery worker looks for stranded orders.
    #[serde(with = "humantime_serde")]
    pub recovery_interval: Duration,
    /// How long a repeated PlaceOrder waits for the first one to settle.
    #[serde(with = "humantime_serde")]
    pub duplicate_wait: Duration,
}

impl Default for SagaConfig {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            recovery_interval: Duration::from_secs(5),
            duplicate_wait: Duration::from_secs(10),
        }
    }
}
