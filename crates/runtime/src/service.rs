//! The skeleton every Bazaar service runs on, so a service says only what is
//! particular to it.
//!
//! [`main`] is a service binary's whole `main`: its typed [`Config`] (the
//! shared [`ServiceConfig`] plus the service's own [`Settings`]), telemetry,
//! a bound socket, the stop signal, then the service's `run`. Inside `run`,
//! [`App::start`] opens the migrated database, [`App::spawn`] adds background
//! work that stops with the server, and [`App::serve`] runs the gRPC server
//! (health, reflection, deadline, shedding) until shutdown, then stops the
//! background work and closes the database.

use std::{future::Future, net::SocketAddr, path::Path, pin::Pin, sync::Arc};

use figment::{Figment, providers::Serialized};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

use bazaar_mesh::{
    Credentials, MeshConfig, MeshPolicy, Mode, Retrier, Upstream,
    client::{ClientError as MeshClientError, ClientMetrics},
    policy::PolicyError,
    tls::TlsError,
};
use bazaar_observe::Metrics;
use tower::Layer as _;

use crate::{
    auth::{AuthConfig, AuthLayer, KeyError, TokenVerifier, verifier_from_config},
    client::{ClientConfig, Dependency},
    config::{self, ConfigError},
    db::{Database, DatabaseConfig, DbError, Migrations},
    server::{GrpcService, MeshServer, ServerBuilder, ServerConfig, ServerError},
    telemetry::TelemetryConfig,
};

/// The user service's gRPC address: where the other services fetch the keys
/// that sign access tokens, unless configured otherwise.
pub const DEFAULT_JWKS_URL: &str = "http://127.0.0.1:50051";

/// The sections every service's configuration has: `[server]`,
/// `[telemetry]`, `[database]` and `[auth]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceConfig {
    /// The service's workload name in the mesh policy (its identity); not a
    /// setting: it is the service's [`Settings::NAME`].
    #[serde(skip)]
    pub workload: &'static str,
    pub server: ServerConfig,
    pub telemetry: TelemetryConfig,
    pub database: DatabaseConfig,
    /// What access tokens are accepted; keys come from `auth.jwks_url`.
    pub auth: AuthConfig,
    /// mTLS certificates, the policy file and the mode (`[mesh]`).
    pub mesh: MeshConfig,
}

impl ServiceConfig {
    /// Defaults for the service `name` on `port`: SQLite at
    /// `data/<name>.db`, tokens checked against the user service's keys.
    pub fn new(name: &'static str, port: u16) -> Self {
        Self {
            workload: name,
            server: ServerConfig::with_port(port),
            telemetry: TelemetryConfig::default(),
            database: DatabaseConfig::sqlite_default(name),
            auth: AuthConfig {
                jwks_url: Some(DEFAULT_JWKS_URL.to_owned()),
                ..AuthConfig::default()
            },
            mesh: MeshConfig::default(),
        }
    }
}

/// What is particular to one service's configuration: its own top-level
/// keys beside the shared sections, its name and its default port.
pub trait Settings: Serialize + DeserializeOwned + Default {
    /// The service's name, e.g. `product`: telemetry's service name and the
    /// default database `data/<name>.db`.
    const NAME: &'static str;
    const DEFAULT_PORT: u16;
}

/// A service's whole configuration: the shared sections and its own.
///
/// Both are read from the same layers (defaults, the `BAZAAR_CONFIG` file,
/// `BAZAAR__SECTION__KEY` variables), each into its own type, so a bad value
/// names its key and source wherever it sits.
#[derive(Debug, Clone)]
pub struct Config<S> {
    pub shared: ServiceConfig,
    pub settings: S,
}

impl<S: Settings> Default for Config<S> {
    fn default() -> Self {
        Self {
            shared: ServiceConfig::new(S::NAME, S::DEFAULT_PORT),
            settings: S::default(),
        }
    }
}

impl<S: Settings> Config<S> {
    /// Loads from defaults, the file named by `BAZAAR_CONFIG` and the
    /// environment.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_from(config::file_from_env().as_deref())
    }

    /// Like [`Self::load`], with the file given explicitly.
    pub fn load_from(file: Option<&Path>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let base = Figment::from(Serialized::defaults(defaults.shared))
            .merge(Serialized::defaults(defaults.settings));
        let figment = config::layered(base, file)?;
        // Each half ignores the other's keys; report both halves' errors.
        match (figment.extract(), figment.extract()) {
            (Ok(shared), Ok(settings)) => Ok(Self {
                shared: ServiceConfig {
                    workload: S::NAME,
                    ..shared
                },
                settings,
            }),
            (shared, settings) => Err(ConfigError::Invalid(
                [shared.err(), settings.err()]
                    .into_iter()
                    .flatten()
                    .map(|e| ConfigError::from(e).to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            )),
        }
    }
}

/// The shutdown future a service's `run` is given.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A service binary's whole `main`: loads its [`Config`], then [`launch`]es
/// `run` under the service's name on the configured address.
pub async fn main<S, F, Fut, E>(run: F) -> anyhow::Result<()>
where
    S: Settings,
    F: FnOnce(Config<S>, TcpListener, Shutdown) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    anyhow::Error: From<E>,
{
    let config = Config::<S>::load()?;
    let telemetry = config.shared.telemetry.clone();
    let listen = config.shared.server.listen;
    launch(S::NAME, &telemetry, listen, |listener, shutdown| {
        run(config, listener, shutdown)
    })
    .await
}

/// What every binary does around its `run`: starts telemetry as `name`,
/// binds `listen`, and runs until Ctrl-C or SIGTERM (the REST gateway, whose
/// configuration comes from its command line, calls this directly).
pub async fn launch<F, Fut, E>(
    name: &'static str,
    telemetry: &TelemetryConfig,
    listen: SocketAddr,
    run: F,
) -> anyhow::Result<()>
where
    F: FnOnce(TcpListener, Shutdown) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    anyhow::Error: From<E>,
{
    let _telemetry = crate::telemetry::init(name, telemetry)?;
    let listener = crate::server::bind(listen).await?;
    run(listener, Box::pin(crate::shutdown::signal())).await?;
    Ok(())
}

/// Why a service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot open the database: {0}")]
    Database(#[from] DbError),
    #[error("invalid auth configuration: {0}")]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("cannot load the mesh certificate: {0}")]
    Tls(#[from] TlsError),
    #[error("{0} is not a workload or service of the mesh policy")]
    NotInPolicy(String),
    #[error(transparent)]
    Client(#[from] MeshClientError),
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// The mesh as this service takes part in it.
struct Mesh {
    policy: Arc<MeshPolicy>,
    mode: Mode,
    /// This workload's certificate (proxyless mode only).
    credentials: Option<Arc<Credentials>>,
}

/// A service being assembled: its database, its place in the mesh and its
/// background work.
pub struct App {
    config: ServiceConfig,
    metrics: Metrics,
    /// Shared by every dependency (each metric is registered once).
    client_metrics: ClientMetrics,
    db: Database,
    mesh: Mesh,
    verifier: Option<Arc<TokenVerifier>>,
    background: Background,
}

impl App {
    /// Reads the mesh policy and this workload's certificate, connects to the
    /// configured database and applies `migrations`.
    pub async fn start(config: ServiceConfig, migrations: Migrations) -> Result<Self, AppError> {
        let policy = Arc::new(config.mesh.policy()?);
        if policy.identity(config.workload).is_none() {
            return Err(AppError::NotInPolicy(config.workload.to_owned()));
        }
        let credentials = config.mesh.credentials(config.workload)?;
        let db = Database::connect(&config.database, migrations).await?;
        let metrics = Metrics::new();
        db.register_metrics(&metrics);
        Ok(Self {
            client_metrics: ClientMetrics::register(&metrics),
            metrics,
            mesh: Mesh {
                policy,
                mode: config.mesh.mode,
                credentials,
            },
            config,
            db,
            verifier: None,
            background: Background::new(),
        })
    }

    /// The service's metrics registry, served on the admin port: register
    /// the service's own metrics here.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The service's migrated database.
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The `[auth]` section, for a service that verifies its own tokens.
    pub fn auth_config(&self) -> &AuthConfig {
        &self.config.auth
    }

    /// Verifies access tokens with `verifier` instead of the user service's
    /// published keys (the user service, which holds the key).
    pub fn verify_with(&mut self, verifier: Arc<TokenVerifier>) {
        self.verifier = Some(verifier);
    }

    /// The mesh workload `workload`, reached at `client.url` through the
    /// client stack its policy entry describes.
    pub fn dependency(
        &self,
        workload: &str,
        client: &ClientConfig,
    ) -> Result<Dependency, AppError> {
        let not_in_policy = || AppError::NotInPolicy(workload.to_owned());
        let policy = self
            .mesh
            .policy
            .services
            .get(workload)
            .ok_or_else(not_in_policy)?;
        let tls = match &self.mesh.credentials {
            Some(credentials) => {
                let identity = self
                    .mesh
                    .policy
                    .identity(workload)
                    .ok_or_else(not_in_policy)?;
                Some((Arc::clone(credentials), identity))
            }
            None => None,
        };
        let upstream = Upstream {
            name: workload.to_owned(),
            url: client.url.clone(),
            policy: Arc::new(policy.clone()),
            tls,
            connect_timeout: client.connect_timeout,
            metrics: Some(self.client_metrics.clone()),
        };
        let retries_here = self.mesh.mode == Mode::Proxyless;
        Ok(Dependency {
            channel: upstream.channel()?,
            retrier: Retrier::counted(&policy.retries, retries_here, &upstream.upstream_metrics()),
        })
    }

    /// A token verifier fed by the configured keys and the user service's
    /// JWK set (fetched through the mesh from `auth.jwks_url`).
    fn verifier(&self) -> Result<Arc<TokenVerifier>, AppError> {
        let user = match &self.config.auth.jwks_url {
            Some(url) => Some(
                self.dependency("user", &ClientConfig::for_url(url.clone()))?
                    .channel,
            ),
            None => None,
        };
        Ok(verifier_from_config(&self.config.auth, user)?)
    }

    /// Runs `task` beside the server. It is handed a receiver that turns
    /// `true` when the server has stopped, and is awaited before the database
    /// closes; if `run` is dropped instead (a crash), the task is aborted.
    pub fn spawn<F, Fut>(&mut self, task: F)
    where
        F: FnOnce(watch::Receiver<bool>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let stopped = self.background.stop.subscribe();
        self.background.tasks.push(tokio::spawn(task(stopped)));
    }

    /// Serves `service` on `listener` until `shutdown` completes and
    /// in-flight requests drain, then stops the background work and closes
    /// the database. In front of it: mTLS and the policy's authorization of
    /// the caller, then the policy's user-token rules for its methods; beside
    /// it health and reflection.
    pub async fn serve<S: GrpcService>(
        mut self,
        service: S,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), AppError> {
        let (_, rules) = self
            .mesh
            .policy
            .service_by_grpc_name(S::NAME)
            .ok_or_else(|| AppError::NotInPolicy(S::NAME.to_owned()))?;
        let verifier = match self.verifier.take() {
            Some(verifier) => verifier,
            None => self.verifier()?,
        };
        let auth = AuthLayer::from_policy(verifier, rules);
        let tls = match &self.mesh.credentials {
            Some(credentials) => Some(credentials.server_config()?),
            None => None,
        };
        let mesh = MeshServer {
            policy: Arc::clone(&self.mesh.policy),
            mode: self.mesh.mode,
            tls,
        };
        let served = ServerBuilder::new(self.config.server)
            .metrics(self.metrics.clone())
            .file_descriptor_set(bazaar_proto::FILE_DESCRIPTOR_SET)
            .mesh(mesh)
            .add_service(auth.layer(service))
            .serve(listener, shutdown)
            .await;
        self.background.stop().await;
        self.db.close().await;
        Ok(served?)
    }
}

/// Tasks that live as long as the server.
struct Background {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Background {
    fn new() -> Self {
        Self {
            stop: watch::channel(false).0,
            tasks: Vec::new(),
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            if let Err(error) = task.await {
                tracing::error!(%error, "a background task failed");
            }
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
