//! The product service's configuration: the shared sections plus how long
//! stock stays reserved and whether to seed a demo catalog.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The product service's whole configuration.
pub type Config = bazaar_runtime::service::Config<Settings>;

/// What only the product service configures.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub stock: StockConfig,
    /// Load a small demo catalog on a start that finds the catalog empty, so
    /// `make run` has something to browse.
    pub seed_catalog: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            stock: StockConfig::default(),
            seed_catalog: true,
        }
    }
}

impl bazaar_runtime::service::Settings for Settings {
    const NAME: &'static str = "product";
    const DEFAULT_PORT: u16 = 50052;
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
    use bazaar_runtime::service::Settings as _;

    use super::*;

    #[test]
    fn defaults_then_a_file_override_durations_in_human_form() {
        let defaults = Config::default();
        assert_eq!(defaults.shared.server.listen.port(), Settings::DEFAULT_PORT);
        assert_eq!(defaults.shared.database.url, "sqlite://data/product.db");
        assert_eq!(
            defaults.settings.stock.reservation_ttl,
            Duration::from_secs(900)
        );
        assert!(defaults.settings.seed_catalog);

        let path = std::env::temp_dir().join(format!(
            "bazaar-product-config-{}.toml",
            uuid::Uuid::new_v4()
        ));
        std::fs::write(
            &path,
            "seed_catalog = false\n[stock]\nreservation_ttl = \"2m 30s\"\n",
        )
        .expect("write config");
        let loaded = Config::load_from(Some(&path));
        let _ = std::fs::remove_file(&path);
        let loaded = loaded.expect("valid config");
        assert_eq!(
            loaded.settings.stock.reservation_ttl,
            Duration::from_secs(150)
        );
        assert_eq!(
            loaded.settings.stock.sweep_interval,
            Duration::from_secs(30)
        );
        assert!(!loaded.settings.seed_catalog);
        assert_eq!(loaded.shared.server.listen.port(), Settings::DEFAULT_PORT);
    }
}
