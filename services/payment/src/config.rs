//! The payment service's configuration: the shared sections plus the
//! simulated processor's `[processor]` section.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The payment service's whole configuration.
pub type Config = bazaar_runtime::service::Config<Settings>;

/// What only the payment service configures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub processor: ProcessorConfig,
}

impl bazaar_runtime::service::Settings for Settings {
    const NAME: &'static str = "payment";
    const DEFAULT_PORT: u16 = 50054;
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
