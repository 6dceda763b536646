//! figment's `Jail` runs each case with env and files isolated; its closures
//! return `figment::Error`, which is large by design.
#![allow(clippy::result_large_err)]

use std::{num::NonZeroUsize, time::Duration};

use bazaar_runtime::{
    config::{ConfigError, load, load_from},
    server::ServerConfig,
    service::{Config, DEFAULT_JWKS_URL, Settings},
    telemetry::{LogFormat, TelemetryConfig},
};
use figment::Jail;
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct AppConfig {
    server: ServerConfig,
    telemetry: TelemetryConfig,
}

fn message(error: ConfigError) -> String {
    error.to_string()
}

#[test]
fn defaults_apply_without_file_or_environment() {
    Jail::expect_with(|_| {
        let config: AppConfig = load().map_err(message)?;
        assert_eq!(config.server.request_timeout, Duration::from_secs(10));
        assert_eq!(config.telemetry.log_format, LogFormat::Pretty);
        Ok(())
    });
}

#[test]
fn the_environment_overrides_the_file_which_overrides_defaults() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "bazaar.toml",
            r#"
                [server]
                listen = "0.0.0.0:9000"
                request_timeout = "3s"
                [telemetry]
                log_format = "json"
            "#,
        )?;
        jail.set_env("BAZAAR_CONFIG", "bazaar.toml");
        jail.set_env("BAZAAR__SERVER__REQUEST_TIMEOUT", "250ms");
        jail.set_env("BAZAAR__SERVER__CONCURRENCY_LIMIT", "8");
        let config: AppConfig = load().map_err(message)?;
        assert_eq!(config.server.listen.port(), 9000);
        assert_eq!(config.server.request_timeout, Duration::from_millis(250));
        assert_eq!(
            config.server.concurrency_limit,
            NonZeroUsize::new(8).unwrap()
        );
        assert_eq!(config.telemetry.log_format, LogFormat::Json);
        // Untouched keys keep their defaults.
        assert_eq!(config.server.shutdown_grace, Duration::from_secs(10));
        Ok(())
    });
}

#[test]
fn a_malformed_environment_value_names_the_key_and_the_variable() {
    Jail::expect_with(|jail| {
        jail.set_env("BAZAAR__SERVER__REQUEST_TIMEOUT", "soon");
        let error = message(load::<AppConfig>().unwrap_err());
        assert!(error.contains("server.request_timeout"), "{error}");
        assert!(error.contains("BAZAAR__SERVER__REQUEST_TIMEOUT"), "{error}");
        Ok(())
    });
}

#[test]
fn a_malformed_file_value_names_the_key_and_the_file() {
    Jail::expect_with(|jail| {
        jail.create_file("bad.toml", "[server]\nlisten = \"localhost:http\"\n")?;
        let error = message(load_from::<AppConfig>(Some("bad.toml".as_ref())).unwrap_err());
        assert!(error.contains("server.listen"), "{error}");
        assert!(error.contains("bad.toml"), "{error}");
        Ok(())
    });
}

#[test]
fn a_zero_concurrency_limit_is_rejected() {
    Jail::expect_with(|jail| {
        jail.set_env("BAZAAR__SERVER__CONCURRENCY_LIMIT", "0");
        let error = message(load::<AppConfig>().unwrap_err());
        assert!(error.contains("server.concurrency_limit"), "{error}");
        Ok(())
    });
}

#[test]
fn an_unknown_enum_value_lists_the_choices() {
    Jail::expect_with(|jail| {
        jail.set_env("BAZAAR__TELEMETRY__LOG_FORMAT", "xml");
        let error = message(load::<AppConfig>().unwrap_err());
        assert!(error.contains("telemetry.log_format"), "{error}");
        assert!(error.contains("json"), "{error}");
        Ok(())
    });
}

#[test]
fn a_named_config_file_must_exist() {
    Jail::expect_with(|jail| {
        jail.set_env("BAZAAR_CONFIG", "missing.toml");
        let error = load::<AppConfig>().unwrap_err();
        assert!(matches!(error, ConfigError::MissingFile(_)), "{error}");
        Ok(())
    });
}

/// A service's own settings, beside the shared sections.
#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
struct OwnSettings {
    #[serde(with = "humantime_serde")]
    own_timeout: Duration,
}

impl Default for OwnSettings {
    fn default() -> Self {
        Self {
            own_timeout: Duration::from_secs(1),
        }
    }
}

impl Settings for OwnSettings {
    const NAME: &'static str = "own";
    const DEFAULT_PORT: u16 = 50999;
}

#[test]
fn a_service_config_has_the_shared_sections_with_the_services_defaults() {
    Jail::expect_with(|jail| {
        let config = Config::<OwnSettings>::load().map_err(message)?;
        assert_eq!(config.shared.server.listen.port(), 50999);
        assert_eq!(config.shared.database.url, "sqlite://data/own.db");
        assert_eq!(
            config.shared.auth.jwks_url.as_deref(),
            Some(DEFAULT_JWKS_URL)
        );
        assert_eq!(config.settings.own_timeout, Duration::from_secs(1));

        jail.create_file(
            "own.toml",
            "own_timeout = \"3s\"\n[server]\nshutdown_grace = \"1s\"\n",
        )?;
        jail.set_env("BAZAAR_CONFIG", "own.toml");
        jail.set_env("BAZAAR__SERVER__REQUEST_TIMEOUT", "250ms");
        let config = Config::<OwnSettings>::load().map_err(message)?;
        assert_eq!(
            config.shared.server.request_timeout,
            Duration::from_millis(250)
        );
        assert_eq!(config.shared.server.shutdown_grace, Duration::from_secs(1));
        assert_eq!(config.shared.server.listen.port(), 50999);
        assert_eq!(config.settings.own_timeout, Duration::from_secs(3));
        Ok(())
    });
}

#[test]
fn a_bad_value_in_either_half_of_a_service_config_names_its_key() {
    Jail::expect_with(|jail| {
        jail.set_env("BAZAAR__SERVER__REQUEST_TIMEOUT", "soon");
        jail.set_env("BAZAAR__OWN_TIMEOUT", "later");
        let error = message(Config::<OwnSettings>::load().unwrap_err());
        assert!(error.contains("server.request_timeout"), "{error}");
        assert!(error.contains("BAZAAR__SERVER__REQUEST_TIMEOUT"), "{error}");
        assert!(
            error.contains("own_timeout (from BAZAAR__OWN_TIMEOUT)"),
            "{error}"
        );
        Ok(())
    });
}
