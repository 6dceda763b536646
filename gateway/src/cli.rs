//! The command line. Flags override the layered configuration (defaults →
//! `BAZAAR_CONFIG` file → `BAZAAR__GATEWAY__*` / `BAZAAR__MESH__*`
//! environment).

use std::{net::SocketAddr, path::PathBuf};

use bazaar_mesh::Mode;
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
    /// Address of the admin port: Prometheus `/metrics` and `/healthz`
    /// [default: 127.0.0.1:9080].
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<SocketAddr>,
    /// An encoded FileDescriptorSet to serve [default: Bazaar's, embedded].
    #[arg(long, value_name = "FILE")]
    pub descriptor_set: Option<PathBuf>,
    /// Upstream gRPC server of every service without a --route. With the
    /// embedded Bazaar set and no upstream, each Bazaar service goes to its
    /// default port (user 50051, product 50052, order 50053, payment 50054,
    /// notification 50055).
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// Upstream of one service, e.g. bazaar.product.v1.ProductService=http://127.0.0.1:50052
    /// (repeatable).
    #[arg(long = "route", value_name = "SERVICE=URL")]
    pub routes: Vec<String>,
    /// Allowed CORS origin, or `*` (repeatable).
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// Who secures upstream calls: `proxyless` (this process: mTLS as the
    /// `gateway` workload, the policy's timeouts and breakers) or `sidecar`
    /// (plaintext to an Istio sidecar) [default: proxyless].
    #[arg(long, value_name = "MODE", value_parser = parse_mode)]
    pub mesh_mode: Option<Mode>,
    /// Where gateway.pem, gateway.key and ca.pem are [default: data/mesh].
    #[arg(long, value_name = "DIR")]
    pub mesh_certs_dir: Option<PathBuf>,
    /// The mesh policy [default: the built-in helm/bazaar/mesh-policy.yaml].
    #[arg(long, value_name = "FILE")]
    pub mesh_policy_file: Option<PathBuf>,
}

fn parse_mode(value: &str) -> Result<Mode, String> {
    match value {
        "proxyless" => Ok(Mode::Proxyless),
        "sidecar" => Ok(Mode::Sidecar),
        other => Err(format!("{other:?}: expected proxyless or sidecar")),
    }
}

impl Cli {
    /// Applies the flags given over `config`.
    pub fn apply(&self, config: &mut Config) {
        let gateway = &mut config.gateway;
        if let Some(listen) = self.listen {
            gateway.listen = listen;
        }
        if let Some(admin) = self.admin_listen {
            gateway.admin_listen = Some(admin);
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
        let mesh = &mut config.mesh;
        if let Some(mode) = self.mesh_mode {
            mesh.mode = mode;
        }
        if let Some(dir) = &self.mesh_certs_dir {
            mesh.certs_dir = dir.clone();
        }
        if let Some(file) = &self.mesh_policy_file {
            mesh.policy_file = Some(file.clone());
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
            "--admin-listen",
            "0.0.0.0:9100",
        ]);
        let mut config = Config::default();
        config.gateway.routes.push("a.B=http://old:9".to_owned());
        cli.apply(&mut config);
        assert_eq!(config.gateway.listen.port(), 9000);
        assert_eq!(
            config.gateway.admin_listen,
            Some(SocketAddr::from(([0, 0, 0, 0], 9100)))
        );
        assert_eq!(config.gateway.upstream.as_deref(), Some("http://up:1"));
        assert_eq!(
            config.gateway.routes.last().map(String::as_str),
            Some("a.C=http://c:3")
        );
        assert_eq!(config.gateway.routes.len(), 3);
    }

    #[test]
    fn mesh_flags_override_the_mesh_section() {
        let mut config = Config::default();
        assert_eq!(config.mesh.mode, Mode::Proxyless);
        assert_eq!(config.mesh.certs_dir, PathBuf::from("data/mesh"));
        Cli::parse_from(["bazaar-gateway", "--mesh-certs-dir", "/certs"]).apply(&mut config);
        assert_eq!(config.mesh.mode, Mode::Proxyless);
        assert_eq!(config.mesh.certs_dir, PathBuf::from("/certs"));
        Cli::parse_from([
            "bazaar-gateway",
            "--mesh-mode",
            "sidecar",
            "--mesh-policy-file",
            "policy.yaml",
        ])
        .apply(&mut config);
        assert_eq!(config.mesh.mode, Mode::Sidecar);
        assert_eq!(config.mesh.policy_file, Some(PathBuf::from("policy.yaml")));
        assert_eq!(config.mesh.certs_dir, PathBuf::from("/certs"));
        let error = Cli::try_parse_from(["bazaar-gateway", "--mesh-mode", "istio"])
            .expect_err("not a mode")
            .to_string();
        assert!(error.contains("proxyless or sidecar"), "{error}");
    }

    #[test]
    fn the_mesh_section_comes_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BAZAAR__MESH__MODE", "sidecar");
            jail.set_env("BAZAAR__MESH__CERTS_DIR", "/run/certs");
            jail.set_env("BAZAAR__MESH__RELOAD_INTERVAL", "1m");
            let config = Cli::default().load().map_err(|e| e.to_string())?;
            assert_eq!(config.mesh.mode, Mode::Sidecar);
            assert_eq!(config.mesh.certs_dir, PathBuf::from("/run/certs"));
            assert_eq!(
                config.mesh.reload_interval,
                std::time::Duration::from_secs(60)
            );
            Ok(())
        });
    }

    #[test]
    fn environment_then_flags() {
        use crate::config::FieldNames;
        figment::Jail::expect_with(|jail| {
            jail.set_env("BAZAAR__GATEWAY__UPSTREAM", "http://env:1");
            jail.set_env("BAZAAR__GATEWAY__ADMIN_LISTEN", "0.0.0.0:9999");
            jail.set_env("BAZAAR__GATEWAY__ROUTES", r#"["a.B=http://b:2"]"#);
            jail.set_env("BAZAAR__GATEWAY__REQUEST_TIMEOUT", "5s");
            jail.set_env("BAZAAR__GATEWAY__JSON__FIELD_NAMES", "lower_camel_case");
            jail.set_env("BAZAAR__GATEWAY__JSON__DISCARD_UNKNOWN_FIELDS", "true");
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
            assert!(gateway.json.discard_unknown_fields);
            assert_eq!(gateway.cors.allowed_origins, ["https://shop.example"]);
            assert_eq!(gateway.listen.port(), crate::config::DEFAULT_PORT);
            assert_eq!(
                gateway.admin_listen,
                Some(SocketAddr::from(([0, 0, 0, 0], 9999)))
            );
            Ok(())
        });
    }

    #[test]
    fn the_admin_port_defaults_beside_the_edge() {
        let config = Config::default();
        assert_eq!(
            config.gateway.admin_listen,
            Some(SocketAddr::from(([127, 0, 0, 1], 9080)))
        );
        // A flag moves it; without one the configured address stays.
        let mut moved = Config::default();
        Cli::parse_from(["bazaar-gateway", "--listen", "127.0.0.1:8000"]).apply(&mut moved);
        assert_eq!(moved.gateway.admin_listen, config.gateway.admin_listen);
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
