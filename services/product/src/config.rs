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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_then_a_file_override_durations_in_human_form() {
        let defaults = Config::default();
        assert_eq!(defaults.server.listen.port(), DEFAULT_PORT);
        assert_eq!(defaults.database.url, "sqlite://data/product.db");
        assert_eq!(defaults.stock.reservation_ttl, Duration::from_secs(900));
        assert!(defaults.seed_catalog);

        let path = std::env::temp_dir().join(format!(
            "bazaar-product-config-{}.toml",
            uuid::Uuid::new_v4()
        ));
        std::fs::write(
            &path,
            "seed_catalog = false\n[stock]\nreservation_ttl = \"2m 30s\"\n",
        )
        .expect("write config");
        let loaded: Result<Config, _> = bazaar_runtime::config::load_from(Some(&path));
        let _ = std::fs::remove_file(&path);
        let loaded = loaded.expect("valid config");
        assert_eq!(loaded.stock.reservation_ttl, Duration::from_secs(150));
        assert_eq!(loaded.stock.sweep_interval, Duration::from_secs(30));
        assert!(!loaded.seed_catalog);
        assert_eq!(loaded.server.listen.port(), DEFAULT_PORT);
    }
}
