//! Starting the service and talking to it.

use std::{path::PathBuf, time::Duration};

use bazaar_mesh::MeshChannel;
use bazaar_proto::user::v1::{
    LoginRequest, RegisterRequest, User, user_service_client::UserServiceClient,
};
use bazaar_runtime::{
    db::Backend,
    server::ServerConfig,
    testing::{Spawned, TestDatabase, mesh},
};
use bazaar_user::config::{
    AdminConfig, Config, PasswordConfig, Settings, ThrottleConfig, TokenConfig,
};
use tempfile::TempDir;
use tonic::{Request, Status};
use tonic_types::StatusExt as _;

pub type Client = UserServiceClient<MeshChannel>;

pub const ADMIN_EMAIL: &str = "root@bazaar.test";
pub const ADMIN_PASSWORD: &str = "admin-test-password";
pub const PASSWORD: &str = "correct horse battery";

/// What one test owns: its database and a directory for the key file.
pub struct TestEnv {
    pub db: TestDatabase,
    pub dir: TempDir,
}

impl TestEnv {
    pub async fn new(backend: Backend) -> Self {
        Self {
            db: TestDatabase::create(backend).await,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A configuration for this environment: cheap hashing, a key file in
    /// the temp dir, and a known bootstrap admin.
    pub fn config(&self) -> Config {
        let mut config = Config::default();
        config.shared.server = ServerConfig {
            shutdown_grace: Duration::from_secs(2),
            ..ServerConfig::default()
        };
        config.shared.database = self.db.config.clone();
        config.shared.mesh = mesh().config();
        config.settings = Settings {
            tokens: TokenConfig {
                signing_key_file: self.key_file(),
                ..TokenConfig::default()
            },
            bootstrap_admin: Some(AdminConfig {
                enabled: true,
                email: ADMIN_EMAIL.into(),
                password: ADMIN_PASSWORD.into(),
                display_name: "Root".into(),
            }),
            password: PasswordConfig {
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
                ..PasswordConfig::default()
            },
            throttle: ThrottleConfig::default(),
        };
        config
    }

    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("keys/user-signing.key")
    }

    /// The service on this environment's database and key file; call again
    /// (after a stop) for a restart.
    pub async fn start(&self) -> Spawned {
        start(self.config()).await
    }
}

/// The service with `config`, running in the background until stopped.
pub async fn start(config: Config) -> Spawned {
    Spawned::start_in_mesh("user", |listener, shutdown| {
        bazaar_user::run(config, listener, shutdown)
    })
    .await
}

/// A client as the edge (the REST gateway), the caller of the account RPCs.
pub async fn connect(server: &Spawned) -> Client {
    connect_as(server, "gateway")
}

/// A client as the mesh workload `caller`.
pub fn connect_as(server: &Spawned, caller: &str) -> Client {
    UserServiceClient::new(server.channel_as(caller))
}

pub fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii header"),
    );
    request
}

pub async fn register(client: &mut Client, email: &str, display_name: &str) -> User {
    client
        .register(RegisterRequest {
            email: email.into(),
            password: PASSWORD.into(),
            display_name: display_name.into(),
        })
        .await
        .expect("registers")
        .into_inner()
        .user
        .expect("a user")
}

pub async fn try_login(client: &mut Client, email: &str, password: &str) -> Result<String, Status> {
    Ok(client
        .login(LoginRequest {
            email: email.into(),
            password: password.into(),
        })
        .await?
        .into_inner()
        .access_token)
}

/// A login's access token and refresh token.
pub async fn session(client: &mut Client, email: &str, password: &str) -> (String, String) {
    let login = client
        .login(LoginRequest {
            email: email.into(),
            password: password.into(),
        })
        .await
        .expect("logs in")
        .into_inner();
    assert!(
        !login.refresh_token.is_empty(),
        "a login gives a refresh token"
    );
    (login.access_token, login.refresh_token)
}

pub async fn login(client: &mut Client, email: &str, password: &str) -> String {
    try_login(client, email, password).await.expect("logs in")
}

/// A registered customer and their token.
pub async fn customer(client: &mut Client, email: &str) -> (User, String) {
    let user = register(client, email, "Customer").await;
    let token = login(client, email, PASSWORD).await;
    (user, token)
}

pub async fn admin_token(client: &mut Client) -> String {
    login(client, ADMIN_EMAIL, ADMIN_PASSWORD).await
}

/// The fields named by a status's `BadRequest` details.
pub fn violated_fields(status: &Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}
