//! Starting a real service for a test: bound to a port-0 socket, in the
//! mesh with development certificates, stopped on drop, ready when its gRPC
//! health says SERVING.

use std::{
    future::Future,
    net::SocketAddr,
    sync::{Arc, OnceLock},
    time::Duration,
};

use bazaar_mesh::{
    CertPaths, Credentials, MeshChannel, MeshConfig, MeshPolicy, Upstream, devcerts::DevCa,
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::transport::Channel;

pub use crate::db::testing::{TestDatabase, backends};
pub use crate::service::Shutdown;

/// A development CA and a certificate for every workload of the built-in
/// policy, made once per test process.
pub struct TestMesh {
    dir: tempfile::TempDir,
    policy: Arc<MeshPolicy>,
}

/// The test process's mesh.
pub fn mesh() -> &'static TestMesh {
    static MESH: OnceLock<TestMesh> = OnceLock::new();
    MESH.get_or_init(|| {
        let policy = Arc::new(MeshPolicy::built_in().expect("the built-in policy"));
        let dir = tempfile::tempdir().expect("temp dir");
        DevCa::generate("Bazaar test mesh CA")
            .and_then(|ca| ca.write_all(dir.path(), &policy))
            .expect("development certificates");
        TestMesh { dir, policy }
    })
}

impl TestMesh {
    /// The `[mesh]` section that puts a service in this mesh.
    pub fn config(&self) -> MeshConfig {
        MeshConfig {
            certs_dir: self.dir.path().to_path_buf(),
            ..MeshConfig::default()
        }
    }

    pub fn policy(&self) -> &MeshPolicy {
        &self.policy
    }

    /// `workload`'s certificate.
    pub fn credentials(&self, workload: &str) -> Arc<Credentials> {
        Credentials::load(CertPaths::in_dir(self.dir.path(), workload)).expect("test credentials")
    }

    /// A channel as `caller` to `callee` at `addr`, through the policy's
    /// client stack.
    pub fn channel(&self, caller: &str, callee: &str, addr: SocketAddr) -> MeshChannel {
        let policy = self
            .policy
            .services
            .get(callee)
            .cloned()
            .unwrap_or_else(|| panic!("{callee} is not a service of the policy"));
        let identity = self
            .policy
            .identity(callee)
            .unwrap_or_else(|| panic!("{callee} is not a workload of the policy"));
        Upstream {
            name: callee.to_owned(),
            url: format!("http://{addr}"),
            policy: Arc::new(policy),
            tls: Some((self.credentials(caller), identity)),
            connect_timeout: Duration::from_secs(2),
            // Counted and traced as a real caller's calls are.
            metrics: Some(bazaar_mesh::client::ClientMetrics::register(
                &bazaar_observe::Metrics::new(),
            )),
        }
        .channel()
        .expect("test channel")
    }
}

/// A service running in this process until dropped (or [`Self::crash`]ed).
pub struct Spawned {
    pub addr: SocketAddr,
    /// Its workload in the test mesh; `None` for a plaintext server.
    workload: Option<&'static str>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), String>>,
}

impl Spawned {
    /// Binds `127.0.0.1:0`, starts the service `workload` of the test
    /// [`mesh`] with `run(listener, shutdown)` (its config must use
    /// `mesh().config()`), and waits until it answers health checks over
    /// mTLS.
    pub async fn start_in_mesh<F, Fut, E>(workload: &'static str, run: F) -> Self
    where
        F: FnOnce(TcpListener, Shutdown) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        Self::launch(Some(workload), run).await
    }

    /// Like [`Self::start_in_mesh`], for a plaintext server outside the mesh.
    pub async fn start<F, Fut, E>(run: F) -> Self
    where
        F: FnOnce(TcpListener, Shutdown) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        Self::launch(None, run).await
    }

    async fn launch<F, Fut, E>(workload: Option<&'static str>, run: F) -> Self
    where
        F: FnOnce(TcpListener, Shutdown) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown: Shutdown = Box::pin(async {
            let _ = stopped.await;
        });
        let serving = run(listener, shutdown);
        let task = tokio::spawn(async move { serving.await.map_err(|e| e.to_string()) });
        let mut spawned = Self {
            addr,
            workload,
            stop: Some(stop),
            task,
        };
        spawned.wait_until_serving().await;
        spawned
    }

    async fn wait_until_serving(&mut self) {
        use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
        for _ in 0..250 {
            if self.task.is_finished() {
                let outcome = (&mut self.task).await;
                panic!("the service under test stopped while starting: {outcome:?}");
            }
            let status = match self.workload {
                Some(_) => {
                    HealthClient::new(self.channel_as("dev-client"))
                        .check(HealthCheckRequest::default())
                        .await
                }
                None => match Channel::from_shared(self.url())
                    .expect("url")
                    .connect()
                    .await
                {
                    Ok(channel) => {
                        HealthClient::new(channel)
                            .check(HealthCheckRequest::default())
                            .await
                    }
                    Err(error) => Err(tonic::Status::unavailable(error.to_string())),
                },
            };
            if status.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the service under test did not become ready");
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A channel to the service as the mesh workload `caller`.
    pub fn channel_as(&self, caller: &str) -> MeshChannel {
        let workload = self
            .workload
            .expect("channel_as is for services started in the mesh");
        mesh().channel(caller, workload, self.addr)
    }

    /// A connected plaintext channel to a service outside the mesh.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .expect("url")
            .connect()
            .await
            .expect("connect to the service under test")
    }

    /// Stops the service as a crash would: no drain, no goodbye.
    pub fn crash(mut self) {
        self.stop = None;
        self.task.abort();
    }

    /// Stops the service gracefully, waits for it, and returns how its `run`
    /// ended: a service that fails on shutdown is an `Err` to assert on.
    pub async fn stop(mut self) -> Result<(), String> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = std::mem::replace(&mut self.task, tokio::spawn(async { Ok(()) }));
        match task.await {
            Ok(outcome) => outcome,
            Err(join) => Err(format!("the service under test panicked: {join}")),
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}

/// A loopback address nothing listens on now, for a service's admin port
/// (which is bound by address, not handed over as a listener).
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
}

/// The Prometheus text an admin port at `addr` serves, waiting up to 5 s
/// for it to come up.
pub async fn scrape(addr: SocketAddr) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match get(addr, "/metrics").await {
            Ok((200, body)) => return body,
            outcome if tokio::time::Instant::now() > deadline => {
                panic!("no metrics at http://{addr}/metrics: {outcome:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// One HTTP/1.0 GET: the status and the body.
pub async fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_owned()))
}

/// The value of the sample `series` (name and labels exactly as exposed,
/// e.g. `grpc_server_handled_total{...}`) in `text`, if present.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}
