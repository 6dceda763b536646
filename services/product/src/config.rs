//! The product service's configuration: the runtime's shared sections plus
//! how long stock stays reserved and whether to seed a demo catalog.

use std::time::Duration;

use bazaar_runtime::{
    auth::AuthConfig, db::DatabaseConfig, server::ServerConfig, telemetry::TelemetryConfig,
};
use serde::{Deserialize, Serialize};

/// The port the product service listens on unless configured otherwise.
pub const DEFAULT_PORT: u16 = 50052;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub server: ServerConfig,
    pub telemetry: TelemetryConfig,
    pub database: DatabaseConfig,
    /// Tokens come from the user service; its JWK set is fetched from there.
    pub auth: AuthConfig,
    pub stock: StockConfig,
    /// Load a small demo catalog on a start that finds the catalog empty, so
    /// `make run` has something to browse.
    pub seed_catalog: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::with_port(DEFAULT_PORT),
            telemetry: TelemetryConfig::default(),
            database: DatabaseConfig::sqlite_default("product"),
            auth: AuthConfig {
                jwks_url: Some("http://127.0.0.1:50051".to_owned()),
                ..AuthConfig::default()
            },
            stock: StockConfig::default(),
            seed_catalog: true,
        }
    }
}

/// The `[stock]` section: the life of a reservation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StockConfig {
    /// How long reserved stock is held for an order that has not committed;
    /// long enough for a payment, short enough that abandoned checkouts do
    /// not empty the shelf.
    #[serde(with = "humantime_serde")]
    pub reservation_ttl: Duration,
    /// How often expired reservations are looked for and their stock
    /// returned.
    #[serde(with = "humantime_serde")]
    pub sweep_interval: Duration,
}

impl Default for StockConfig {
    fn default() -> Self {
        Self {
            reservation_ttl: Duration::from_secs(15 * 60),
            sweep_interval: Duration::from_secs(30),
        }
    }
}
