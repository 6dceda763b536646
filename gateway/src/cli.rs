//! The command line. Flags override the layered configuration (defaults →
//! `BAZAAR_CONFIG` file → `BAZAAR__GATEWAY__*` environment).

use std::{net::SocketAddr, path::PathBuf};

use clap::Parser;

use crate::config::Config;

/// REST/JSON → gRPC gateway driven by a protobuf descriptor set.
#[derive(Debug, Clone, Default, Parser)]
#[command(name = "bazaar-gateway", version)]
pub struct Cli {
    /// A TOML configuration file (instead of the one `BAZAAR_CONFIG` names).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// An encoded FileDescriptorSet to serve [default: Bazaar's, embedded].
    #[arg(long, value_name = "FILE")]
    pub descriptor_set: Option<PathBuf>,
    /// Upstream gRPC server of every service without a --route. With the
    /// embedded Bazaar set and no upstream, each Bazaar service goes to its
    /// default port (user 50051, product 50052, order 50053, payment 50054).
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// Upstream of one service, e.g. bazaar.product.v1.ProductService=http://127.0.0.1:50052
    /// (repeatable).
    #[arg(long = "route", value_name = "SERVICE=URL")]
    pub routes: Vec<String>,
    /// Allowed CORS origin, or `*` (repeatable).
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
}

impl Cli {
    /// Applies the flags given over `config`.
    pub fn apply(&self, config: &mut Config) {
        let gateway = &mut config.gateway;
        if let Some(listen) = self.listen {
            gateway.listen = listen;
        }
        if let Some(path) = &self.descriptor_set {
            gateway.descriptor_set = Some(path.clone());
        }
        if let Some(upstream) = &self.upstream {
            gateway.upstream = Some(upstream.clone());
        }
        // Routes add to (and, per service, win over) the configured ones.
        gateway.routes.extend(self.routes.iter().cloned());
        if !self.cors_origins.is_empty() {
            gateway.cors.allowed_origins = self.cors_origins.clone();
        }
    }

    /// Loads the configuration layers, then applies the flags.
    pub fn load(&self) -> Result<Config, bazaar_runtime::config::ConfigError> {
        let mut config: Config = match &self.config {
            Some(path) => bazaar_runtime::config::load_from(Some(path))?,
            None => bazaar_runtime::config::load()?,
        };
        self.apply(&mut config);
        Ok(config)
    }
}

#[cfg(test)]
// figment's `Jail` closures return its large error type; that is its API.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_config() {
        let cli = Cli::parse_from([
            "bazaar-gateway",
            "--listen",
            "0.0.0.0:9000",
            "--upstream",
            "http://up:1",
            "--route",
            "a.B=http://b:2",
            "--route",
            "a.C=http://c:3",
        ]);
        let mut config = Config::default();
        config.gateway.routes.push("a.B=http://old:9".to_owned());
        cli.apply(&mut config);
        assert_eq!(config.gateway.listen.port(), 9000);
        assert_eq!(config.gateway.upstream.as_deref(), Some("http://up:1"));
        assert_eq!(
            config.gateway.routes.last().map(String::as_str),
            Some("a.C=http://c:3")
        );
        assert_eq!(config.gateway.routes.len(), 3);
    }

    #[test]
    fn environment_then_flags() {
        use crate::config::FieldNames;
        figment::Jail::expect_with(|jail| {
            jail.set_env("BAZAAR__GATEWAY__UPSTREAM", "http://env:1");
            jail.set_env("BAZAAR__GATEWAY__ROUTES", r#"["a.B=http://b:2"]"#);
            jail.set_env("BAZAAR__GATEWAY__REQUEST_TIMEOUT", "5s");
            jail.set_env("BAZAAR__GATEWAY__JSON__FIELD_NAMES", "lower_camel_case");
            jail.set_env(
                "BAZAAR__GATEWAY__CORS__ALLOWED_ORIGINS",
                r#"["https://shop.example"]"#,
            );
            let config = Cli::parse_from(["bazaar-gateway", "--upstream", "http://flag:2"])
                .load()
                .map_err(|e| e.to_string())?;
            let gateway = config.gateway;
            assert_eq!(gateway.upstream.as_deref(), Some("http://flag:2"));
            assert_eq!(gateway.routes, ["a.B=http://b:2"]);
            assert_eq!(gateway.request_timeout, std::time::Duration::from_secs(5));
            assert_eq!(gateway.json.field_names, FieldNames::LowerCamelCase);
            assert_eq!(gateway.cors.allowed_origins, ["https://shop.example"]);
            assert_eq!(gateway.listen.port(), crate::config::DEFAULT_PORT);
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_names_its_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BAZAAR__GATEWAY__MAX_BODY_BYTES", "lots");
            let error = Cli::default().load().expect_err("invalid");
            assert!(
                error.to_string().contains("gateway.max_body_bytes"),
                "{error}"
            );
            Ok(())
        });
    }
}
