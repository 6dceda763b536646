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

use std::{convert::Infallible, future::Future, net::SocketAddr, path::Path, pin::Pin, sync::Arc};

use figment::{Figment, providers::Serialized};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tonic::{body::Body, server::NamedService};

use crate::{
    auth::{AuthConfig, KeyError, TokenVerifier, verifier_from_config},
    config::{self, ConfigError},
    db::{Database, DatabaseConfig, DbError, Migrations},
    server::{ServerBuilder, ServerConfig, ServerError},
    telemetry::TelemetryConfig,
};

/// The user service's gRPC address: where the other services fetch the keys
/// that sign access tokens, unless configured otherwise.
pub const DEFAULT_JWKS_URL: &str = "http://127.0.0.1:50051";

/// The sections every service's configuration has: `[server]`,
/// `[telemetry]`, `[database]` and `[auth]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceConfig {
    pub server: ServerConfig,
    pub telemetry: TelemetryConfig,
    pub database: DatabaseConfig,
    /// What access tokens are accepted; keys come from `auth.jwks_url`.
    pub auth: AuthConfig,
}

impl ServiceConfig {
    /// Defaults for the service `name` on `port`: SQLite at
    /// `data/<name>.db`, tokens checked against the user service's keys.
    pub fn new(name: &str, port: u16) -> Self {
        Self {
            server: ServerConfig::with_port(port),
            telemetry: TelemetryConfig::default(),
            database: DatabaseConfig::sqlite_default(name),
            auth: AuthConfig {
                jwks_url: Some(DEFAULT_JWKS_URL.to_owned()),
                ..AuthConfig::default()
            },
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
            (Ok(shared), Ok(settings)) => Ok(Self { shared, settings }),
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
    Server(#[from] ServerError),
}

/// A service being assembled: its database and its background work.
pub struct App {
    config: ServiceConfig,
    db: Database,
    background: Background,
}

impl App {
    /// Connects to the configured database and applies `migrations`.
    pub async fn start(config: ServiceConfig, migrations: Migrations) -> Result<Self, AppError> {
        let db = Database::connect(&config.database, migrations).await?;
        Ok(Self {
            config,
            db,
            background: Background::new(),
        })
    }

    /// The service's migrated database.
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// A token verifier fed by the configured keys and JWK set.
    pub fn verifier(&self) -> Result<Arc<TokenVerifier>, AppError> {
        Ok(verifier_from_config(&self.config.auth)?)
    }

    /// The `[auth]` section, for a service that verifies its own tokens.
    pub fn auth_config(&self) -> &AuthConfig {
        &self.config.auth
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

    /// Serves `service` with health and reflection on `listener` until
    /// `shutdown` completes and in-flight requests drain, then stops the
    /// background work and closes the database.
    pub async fn serve<S>(
        self,
        service: S,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), AppError>
    where
        S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        let served = ServerBuilder::new(self.config.server)
            .file_descriptor_set(bazaar_proto::FILE_DESCRIPTOR_SET)
            .add_service(service)
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
