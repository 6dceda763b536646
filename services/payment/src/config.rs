//! The payment service's configuration (`BAZAAR__...` over defaults).

use std::time::Duration;

use bazaar_runtime::{
    auth::AuthConfig, db::DatabaseConfig, server::ServerConfig, telemetry::TelemetryConfig,
};
use serde::{Deserialize, Serialize};

/// The gRPC port the payment service listens on by default.
pub const DEFAULT_PORT: u16 = 50054;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub server: ServerConfig,
    pub telemetry: TelemetryConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub processor: ProcessorConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::with_port(DEFAULT_PORT),
            telemetry: TelemetryConfig::default(),
            database: DatabaseConfig::sqlite_default("payment"),
            auth: AuthConfig {
                jwks_url: Some("http://127.0.0.1:50051".to_owned()),
                ..AuthConfig::default()
            },
            processor: ProcessorConfig::default(),
        }
    }
}

/// The `[processor]` section: how the simulated card processor behaves.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessorConfig {
    /// How long the "slow" test card takes to answer.
    #[serde(with = "humantime_serde")]
    pub slow_latency: Duration,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        Self {
            slow_latency: Duration::from_secs(3),
        }
    }
}
