use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use bazaar_mesh::{
    AuthzLayer, CertPaths, Credentials, MeshPolicy, Mode, Upstream, devcerts::DevCa, incoming,
};
use tokio::{net::TcpListener, sync::oneshot};
use tonic::transport::Server;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// A policy in which `grpc.health.v1.Health/Check` is a service method only
/// `order` may call (and `Watch` nobody), so authorization can be seen on
/// the one service every tonic server has.
pub const POLICY: &str = r#"
trust_domain: cluster.local
namespace: bazaar
workloads: [order, product, payment, gateway]
groups:
  edge: [gateway]
services:
  payment:
    grpc_service: grpc.health.v1.Health
    port: 50054
    timeout: 2s
    retries: { attempts: 3, budget: { ratio: 0.2, min_per_second: 10, ttl: 10s } }
    circuit_breaker:
      consecutive_failures: 3
      ejection_time: 500ms
      max_ejection_percent: 100
      max_requests: 64
      max_pending_requests: 64
    methods:
      Check: { callers: [order], idempotent: true }
"#;

pub fn policy() -> Arc<MeshPolicy> {
    Arc::new(MeshPolicy::parse(POLICY).expect("test policy"))
}

/// A directory of development certificates for every workload of `POLICY`.
pub struct Certs {
    pub dir: tempfile::TempDir,
}

impl Certs {
    pub fn generate() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        DevCa::generate("test mesh CA")
            .expect("CA")
            .write_all(dir.path(), &policy())
            .expect("write certificates");
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn of(&self, workload: &str) -> Arc<Credentials> {
        Credentials::load(CertPaths::in_dir(self.path(), workload)).expect("credentials")
    }
}

/// A health server as `payment`, mTLS + authorization, until dropped.
pub struct Server_ {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

pub async fn serve(credentials: Arc<Credentials>) -> Server_ {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    serve_on(listener, credentials).await
}

pub async fn serve_on(listener: TcpListener, credentials: Arc<Credentials>) -> Server_ {
    let addr = listener.local_addr().expect("addr");
    let (health, service) = tonic_health::server::health_reporter();
    health
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let incoming = incoming::incoming(listener, credentials.server_config().expect("config"));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(
        Server::builder()
            .layer(AuthzLayer::new(policy(), Mode::Proxyless))
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stopped.await;
            }),
    );
    Server_ { addr, _stop: stop }
}

/// An upstream to `addr` as `caller`, expecting the server to be `server`.
pub fn upstream(certs: &Certs, caller: &str, server: &str, addr: SocketAddr) -> Upstream {
    let policy = policy();
    Upstream {
        name: "payment".into(),
        url: format!("http://{addr}"),
        policy: Arc::new(policy.services["payment"].clone()),
        tls: Some((certs.of(caller), policy.identity(server).expect("identity"))),
        connect_timeout: Duration::from_secs(2),
        metrics: None,
    }
}

pub async fn check(upstream: &Upstream) -> Result<(), tonic::Status> {
    let mut client = HealthClient::new(upstream.channel().expect("channel"));
    client
        .check(HealthCheckRequest::default())
        .await
        .map(|_| ())
}
