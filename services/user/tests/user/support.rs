//! Starting the service and talking to it.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use bazaar_proto::user::v1::{
    LoginRequest, RegisterRequest, User, user_service_client::UserServiceClient,
};
use bazaar_runtime::{
    db::{Backend, testing::TestDatabase},
    server::ServerConfig,
};
use bazaar_user::config::{AdminConfig, Config, PasswordConfig, TokenConfig};
use tempfile::TempDir;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::{Request, Status, transport::Channel};
use tonic_types::StatusExt as _;

pub type Client = UserServiceClient<Channel>;

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
        Config {
            server: ServerConfig {
                shutdown_grace: Duration::from_secs(2),
                ..ServerConfig::default()
            },
            database: self.db.config.clone(),
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
            },
            ..Config::default()
        }
    }

    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("keys/user-signing.key")
    }

    pub async fn start(&self) -> TestApp {
        TestApp::start(self.config()).await
    }
}

/// The service running in the background until [`TestApp::stop`].
pub struct TestApp {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl TestApp {
    pub async fn start(config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(bazaar_user::run(config, listener, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub async fn client(&self) -> Client {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("valid url")
            .connect()
            .await
            .expect("connects");
        UserServiceClient::new(channel)
    }

    /// Stops the service and waits until it has shut down cleanly.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task)
            .await
            .expect("the service task did not panic")
            .expect("the service stopped cleanly");
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.task.abort();
    }
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
