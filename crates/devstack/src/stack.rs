//! What the stack is: which binaries, on which ports, wired to each other
//! how, with which databases. One description, used by the launcher behind
//! `make run` (fixed ports, `./data`) and by the end-to-end suite (free
//! ports, a temporary directory), so both start the system the same way.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::Context as _;
use bazaar_mesh::{MeshPolicy, devcerts};

/// One of Bazaar's binaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    User,
    Product,
    Payment,
    Order,
    Notification,
    Gateway,
}

impl Service {
    /// Every binary, in start order: the user service first (the others
    /// fetch its token keys), the REST gateway last.
    pub const ALL: [Self; 6] = [
        Self::User,
        Self::Product,
        Self::Payment,
        Self::Order,
        Self::Notification,
        Self::Gateway,
    ];

    /// The gRPC services (everything but the gateway).
    pub const GRPC: [Self; 5] = [
        Self::User,
        Self::Product,
        Self::Payment,
        Self::Order,
        Self::Notification,
    ];

    /// Short name, used for log tags and database names.
    pub fn name(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Product => "product",
            Self::Payment => "payment",
            Self::Order => "order",
            Self::Notification => "notification",
            Self::Gateway => "gateway",
        }
    }

    /// The executable's file name in the cargo target directory.
    pub fn binary(self) -> &'static str {
        match self {
            Self::User => "bazaar-user",
            Self::Product => "bazaar-product",
            Self::Payment => "bazaar-payment",
            Self::Order => "bazaar-order",
            Self::Notification => "bazaar-notification",
            Self::Gateway => "bazaar-gateway",
        }
    }

    /// The documented port (each binary's own default).
    pub fn default_port(self) -> u16 {
        match self {
            Self::User => 50051,
            Self::Product => 50052,
            Self::Order => 50053,
            Self::Payment => 50054,
            Self::Notification => 50055,
            Self::Gateway => 8080,
        }
    }

    /// The documented admin port (`/metrics`, `/healthz`): the binary's own
    /// default, its port plus [`ADMIN_PORT_OFFSET`] (user 51051, gateway 9080).
    pub fn default_admin_port(self) -> u16 {
        self.default_port() + ADMIN_PORT_OFFSET
    }

    /// The fully qualified gRPC service it serves (and reports health for).
    pub fn grpc_name(self) -> Option<&'static str> {
        match self {
            Self::User => Some("bazaar.user.v1.UserService"),
            Self::Product => Some("bazaar.product.v1.ProductService"),
            Self::Payment => Some("bazaar.payment.v1.PaymentService"),
            Self::Order => Some("bazaar.order.v1.OrderService"),
            Self::Notification => Some("bazaar.notification.v1.NotificationService"),
            Self::Gateway => None,
        }
    }

    fn index(self) -> usize {
        match self {
            Self::User => 0,
            Self::Product => 1,
            Self::Payment => 2,
            Self::Order => 3,
            Self::Notification => 4,
            Self::Gateway => 5,
        }
    }
}

/// Every binary's admin port is its own port plus this, unless told
/// otherwise (the binaries' default, `bazaar_runtime::server::ADMIN_PORT_OFFSET`).
pub const ADMIN_PORT_OFFSET: u16 = 1000;

/// A port per binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports([u16; Service::ALL.len()]);

impl Ports {
    /// The documented fixed ports.
    pub fn defaults() -> Self {
        let mut ports = Self([0; Service::ALL.len()]);
        for service in Service::ALL {
            ports.set(service, service.default_port());
        }
        ports
    }

    /// The documented fixed admin ports.
    pub fn admin_defaults() -> Self {
        let mut ports = Self([0; Service::ALL.len()]);
        for service in Service::ALL {
            ports.set(service, service.default_admin_port());
        }
        ports
    }

    pub fn get(&self, service: Service) -> u16 {
        self.0[service.index()]
    }

    pub fn set(&mut self, service: Service, port: u16) {
        self.0[service.index()] = port;
    }
}

/// Where each service keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Databases {
    /// A SQLite file per service, `<dir>/<service>.db` (the embedded default).
    Sqlite(PathBuf),
    /// A database per service on one PostgreSQL server:
    /// `<server>/<prefix><service>`. Services create missing databases.
    Postgres { server: String, prefix: String },
    /// A given URL per service, e.g. fresh databases made by a test.
    Explicit(Vec<(Service, String)>),
}

impl Databases {
    /// `bazaar_<service>` databases on the server at `url` (any database
    /// named in `url` is replaced; a query string is kept).
    pub fn postgres(url: &str) -> Self {
        Self::Postgres {
            server: url.to_owned(),
            prefix: "bazaar_".to_owned(),
        }
    }

    /// The URL of `service`'s database.
    pub fn url(&self, service: Service) -> String {
        match self {
            Self::Sqlite(dir) => {
                format!(
                    "sqlite://{}",
                    dir.join(format!("{}.db", service.name())).display()
                )
            }
            Self::Postgres { server, prefix } => {
                with_database(server, &format!("{prefix}{}", service.name()))
            }
            Self::Explicit(urls) => urls
                .iter()
                .find(|(s, _)| *s == service)
                .map(|(_, url)| url.clone())
                .unwrap_or_default(),
        }
    }

    /// A short description for people.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(dir) => format!("SQLite files under {}", dir.display()),
            Self::Postgres { server, prefix } => format!(
                "PostgreSQL databases {prefix}<service> on {}",
                with_database(server, "")
            ),
            Self::Explicit(urls) => {
                let backends: Vec<&str> = urls
                    .iter()
                    .filter_map(|(_, url)| url.split(':').next())
                    .collect();
                format!("databases given per service ({})", backends.join(", "))
            }
        }
    }
}

/// `url` with its database (path) replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    match query {
        Some(query) => format!("{scheme}://{authority}/{database}?{query}"),
        None => format!("{scheme}://{authority}/{database}"),
    }
}

/// The whole system: addresses, storage, and how each binary is told.
#[derive(Debug, Clone)]
pub struct Stack {
    pub host: IpAddr,
    pub ports: Ports,
    /// Where each binary serves `/metrics` and `/healthz` (plain HTTP).
    pub admin_ports: Ports,
    pub databases: Databases,
    /// Where the user service keeps its token signing key, and the mesh its
    /// development certificates (`<data_dir>/mesh`).
    pub data_dir: PathBuf,
    /// Whether the REST gateway is part of the stack.
    pub gateway: bool,
}

impl Stack {
    /// `make run`'s stack: documented ports on loopback, SQLite in
    /// `data_dir`.
    pub fn local(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ports: Ports::defaults(),
            admin_ports: Ports::admin_defaults(),
            databases: Databases::Sqlite(data_dir.clone()),
            data_dir,
            gateway: true,
        }
    }

    /// Where every workload's mesh certificate and the development CA are:
    /// `<workload>.pem`, `<workload>.key` and `ca.pem`.
    pub fn mesh_dir(&self) -> PathBuf {
        self.data_dir.join("mesh")
    }

    /// Makes sure [`Self::mesh_dir`] holds the development CA and a
    /// certificate for every workload of the built-in policy (`dev-client`,
    /// grpcurl's, included); returns whether it had to generate them.
    pub fn ensure_mesh_certs(&self) -> anyhow::Result<bool> {
        let policy = MeshPolicy::built_in()?;
        let dir = self.mesh_dir();
        devcerts::ensure(&dir, &policy).with_context(|| {
            format!(
                "cannot write the development certificates under {}",
                dir.display()
            )
        })
    }

    /// The binaries this stack runs, in start order.
    pub fn services(&self) -> impl Iterator<Item = Service> + '_ {
        Service::ALL
            .into_iter()
            .filter(|s| self.gateway || *s != Service::Gateway)
    }

    pub fn addr(&self, service: Service) -> SocketAddr {
        SocketAddr::new(self.host, self.ports.get(service))
    }

    /// `http://host:port` of `service`.
    pub fn url(&self, service: Service) -> String {
        format!("http://{}", self.addr(service))
    }

    /// Where `service` serves `/metrics` and `/healthz`.
    pub fn admin_addr(&self, service: Service) -> SocketAddr {
        SocketAddr::new(self.host, self.admin_ports.get(service))
    }

    /// `http://host:port/metrics` of `service`, for people and Prometheus.
    pub fn metrics_url(&self, service: Service) -> String {
        format!("http://{}/metrics", self.admin_addr(service))
    }

    /// The REST base URL, if the gateway is part of the stack.
    pub fn rest_url(&self) -> Option<String> {
        self.gateway.then(|| self.url(Service::Gateway))
    }

    /// The `BAZAAR__...` variables that place and wire `service`. They win
    /// over the same variables inherited from the caller's environment; all
    /// other `BAZAAR__...` variables pass through to every service.
    pub fn env(&self, service: Service) -> Vec<(String, String)> {
        let mut env = Vec::new();
        let mut set = |key: &str, value: String| env.push((format!("BAZAAR__{key}"), value));
        if service == Service::Gateway {
            return env;
        }
        set("SERVER__LISTEN", self.addr(service).to_string());
        set("SERVER__ADMIN_LISTEN", self.admin_addr(service).to_string());
        set("MESH__CERTS_DIR", self.mesh_dir().display().to_string());
        set("DATABASE__URL", self.databases.url(service));
        match service {
            Service::User => {
                set(
                    "TOKENS__SIGNING_KEY_FILE",
                    self.data_dir.join("user-signing.key").display().to_string(),
                );
                // Development mode: the well-known dev admin
                // (admin@bazaar.local / bazaar-admin-dev, the service's
                // defaults), which a production start never creates.
                set("BOOTSTRAP_ADMIN__ENABLED", "true".to_owned());
            }
            Service::Order => {
                set("AUTH__JWKS_URL", self.url(Service::User));
                set("PRODUCT__URL", self.url(Service::Product));
                set("PAYMENT__URL", self.url(Service::Payment));
            }
            // Notification verifies tokens too; its NATS settings
            // (BAZAAR__EVENTS__…) pass through from the caller, as order's
            // do, so both name the same stream.
            Service::Product | Service::Payment | Service::Notification => {
                set("AUTH__JWKS_URL", self.url(Service::User));
            }
            Service::Gateway => {}
        }
        env
    }

    /// Command-line arguments of `service` (only the gateway takes any).
    pub fn args(&self, service: Service) -> Vec<String> {
        if service != Service::Gateway {
            return Vec::new();
        }
        let mut args = vec![
            "--listen".to_owned(),
            self.addr(service).to_string(),
            "--admin-listen".to_owned(),
            self.admin_addr(service).to_string(),
            "--mesh-certs-dir".to_owned(),
            self.mesh_dir().display().to_string(),
        ];
        for upstream in Service::GRPC {
            if let Some(name) = upstream.grpc_name() {
                args.push("--route".to_owned());
                args.push(format!("{name}={}", self.url(upstream)));
            }
        }
        args
    }

    /// A command that starts `service` from `bin_dir`: its arguments and
    /// environment set, stdin closed, and bound to die with the calling
    /// thread (see [`crate::process::die_with_parent`]). Where its output
    /// goes is the caller's choice.
    pub fn command(&self, service: Service, bin_dir: &Path) -> Command {
        let mut command = Command::new(bin_dir.join(service.binary()));
        command
            .args(self.args(service))
            .envs(self.env(service))
            .stdin(Stdio::null());
        crate::process::die_with_parent(&mut command);
        command
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_stack_wires_every_service_to_the_documented_ports() {
        let stack = Stack::local("data");
        let env = |s| stack.env(s).into_iter().collect::<Vec<_>>();
        let has = |s, k: &str, v: &str| {
            assert!(
                env(s).contains(&(k.to_owned(), v.to_owned())),
                "{s:?}: {:?}",
                env(s)
            );
        };
        has(Service::User, "BAZAAR__SERVER__LISTEN", "127.0.0.1:50051");
        has(
            Service::User,
            "BAZAAR__SERVER__ADMIN_LISTEN",
            "127.0.0.1:51051",
        );
        has(
            Service::Order,
            "BAZAAR__SERVER__ADMIN_LISTEN",
            "127.0.0.1:51053",
        );
        has(
            Service::User,
            "BAZAAR__DATABASE__URL",
            "sqlite://data/user.db",
        );
        has(
            Service::User,
            "BAZAAR__TOKENS__SIGNING_KEY_FILE",
            "data/user-signing.key",
        );
        // Development mode: the dev admin exists only under the launcher.
        has(Service::User, "BAZAAR__BOOTSTRAP_ADMIN__ENABLED", "true");
        for service in [
            Service::Product,
            Service::Order,
            Service::Payment,
            Service::Notification,
        ] {
            assert!(
                !env(service)
                    .iter()
                    .any(|(k, _)| k.starts_with("BAZAAR__BOOTSTRAP_ADMIN")),
                "{service:?}"
            );
        }
        has(
            Service::Payment,
            "BAZAAR__SERVER__LISTEN",
            "127.0.0.1:50054",
        );
        has(
            Service::Payment,
            "BAZAAR__AUTH__JWKS_URL",
            "http://127.0.0.1:50051",
        );
        has(
            Service::Notification,
            "BAZAAR__SERVER__LISTEN",
            "127.0.0.1:50055",
        );
        has(
            Service::Notification,
            "BAZAAR__SERVER__ADMIN_LISTEN",
            "127.0.0.1:51055",
        );
        has(
            Service::Notification,
            "BAZAAR__AUTH__JWKS_URL",
            "http://127.0.0.1:50051",
        );
        has(
            Service::Notification,
            "BAZAAR__DATABASE__URL",
            "sqlite://data/notification.db",
        );
        has(
            Service::Order,
            "BAZAAR__PRODUCT__URL",
            "http://127.0.0.1:50052",
        );
        has(
            Service::Order,
            "BAZAAR__PAYMENT__URL",
            "http://127.0.0.1:50054",
        );
        for service in Service::GRPC {
            has(service, "BAZAAR__MESH__CERTS_DIR", "data/mesh");
        }
        assert!(stack.env(Service::Gateway).is_empty());
        let args = stack.args(Service::Gateway);
        assert_eq!(args[..2], ["--listen", "127.0.0.1:8080"]);
        assert_eq!(args[2..4], ["--admin-listen", "127.0.0.1:9080"]);
        assert_eq!(args[4..6], ["--mesh-certs-dir", "data/mesh"]);
        assert!(args.contains(&"bazaar.order.v1.OrderService=http://127.0.0.1:50053".to_owned()));
        assert!(args.contains(
            &"bazaar.notification.v1.NotificationService=http://127.0.0.1:50055".to_owned()
        ));
        assert_eq!(stack.rest_url().as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(
            stack.metrics_url(Service::Payment),
            "http://127.0.0.1:51054/metrics"
        );
    }

    #[test]
    fn the_mesh_certificates_are_made_once_for_every_workload() {
        let dir = tempfile::tempdir().expect("temp dir");
        let stack = Stack::local(dir.path());
        assert_eq!(stack.mesh_dir(), dir.path().join("mesh"));
        assert!(stack.ensure_mesh_certs().expect("generated"));
        for file in [
            "ca.pem",
            "dev-client.pem",
            "dev-client.key",
            "gateway.pem",
            "order.key",
            "notification.pem",
            "notification.key",
        ] {
            assert!(stack.mesh_dir().join(file).is_file(), "{file}");
        }
        let ca = std::fs::read(stack.mesh_dir().join("ca.pem")).expect("ca");
        // Present: kept, so running services keep trusting the same CA.
        assert!(!stack.ensure_mesh_certs().expect("kept"));
        assert_eq!(
            std::fs::read(stack.mesh_dir().join("ca.pem")).expect("ca"),
            ca
        );
    }

    #[test]
    fn postgres_gets_one_database_per_service() {
        let dbs = Databases::postgres("postgres://postgres@127.0.0.1:5432");
        assert_eq!(
            dbs.url(Service::Order),
            "postgres://postgres@127.0.0.1:5432/bazaar_order"
        );
        let dbs = Databases::postgres("postgresql://u:p@db:5433/test?sslmode=disable");
        assert_eq!(
            dbs.url(Service::User),
            "postgresql://u:p@db:5433/bazaar_user?sslmode=disable"
        );
    }

    #[test]
    fn without_the_gateway_the_grpc_services_still_start_in_order() {
        let mut stack = Stack::local("data");
        stack.gateway = false;
        assert_eq!(stack.services().collect::<Vec<_>>(), Service::GRPC);
        assert_eq!(stack.rest_url(), None);
    }
}
