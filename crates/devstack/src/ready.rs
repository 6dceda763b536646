//! Is a started binary ready? A gRPC service is when its health service
//! reports its service SERVING, asked over mTLS as the `dev-client` workload
//! (health is open to every identity of the mesh); the gateway is when
//! `GET /readyz` answers 200 (it checks its upstreams' health in turn).

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use bazaar_mesh::{CertPaths, Credentials, MeshChannel, MeshPolicy, Upstream};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::stack::{Service, Stack};

/// One attempt may take this long.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// The identity the launcher, the e2e suite and grpcurl users call as.
pub const DEV_CLIENT: &str = "dev-client";

/// One readiness check of `service` in `stack`.
pub async fn check(stack: &Stack, service: Service) -> bool {
    match service.grpc_name() {
        Some(name) => {
            grpc_serving(&stack.mesh_dir(), service.name(), stack.addr(service), name).await
        }
        None => http_ok(stack.addr(service), "/readyz").await,
    }
}

/// A channel as `caller` (a workload with a certificate in `mesh_dir`) to
/// the mesh workload `workload` at `addr`, through the built-in policy's
/// client stack; the server must prove it is `workload`.
pub fn mesh_channel(
    mesh_dir: &Path,
    caller: &str,
    workload: &str,
    addr: SocketAddr,
) -> anyhow::Result<MeshChannel> {
    let policy = MeshPolicy::built_in()?;
    let service = policy
        .services
        .get(workload)
        .ok_or_else(|| anyhow::anyhow!("{workload} is not a service of the mesh policy"))?;
    let identity = policy
        .identity(workload)
        .ok_or_else(|| anyhow::anyhow!("{workload} is not a workload of the mesh policy"))?;
    let credentials = Credentials::load(CertPaths::in_dir(mesh_dir, caller))?;
    Ok(Upstream {
        name: workload.to_owned(),
        url: format!("http://{addr}"),
        policy: Arc::new(service.clone()),
        tls: Some((credentials, identity)),
        connect_timeout: ATTEMPT_TIMEOUT,
        metrics: None,
    }
    .channel()?)
}

/// Whether the mesh workload `workload` at `addr` reports `service`
/// SERVING, asked as `dev-client` with the certificates in `mesh_dir`.
pub async fn grpc_serving(
    mesh_dir: &Path,
    workload: &str,
    addr: SocketAddr,
    service: &str,
) -> bool {
    let Ok(channel) = mesh_channel(mesh_dir, DEV_CLIENT, workload, addr) else {
        return false;
    };
    let request = HealthCheckRequest {
        service: service.to_owned(),
    };
    let mut client = HealthClient::new(channel);
    matches!(
        tokio::time::timeout(ATTEMPT_TIMEOUT, client.check(request)).await,
        Ok(Ok(response)) if response.get_ref().status() == ServingStatus::Serving
    )
}

/// Whether `GET path` on the HTTP/1.1 server at `addr` answers 200.
pub async fn http_ok(addr: SocketAddr, path: &str) -> bool {
    http_status(addr, path).await == Some(200)
}

/// The status code of `GET path` on the HTTP/1.1 server at `addr`.
pub async fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        // The status line is all we need: "HTTP/1.1 200 OK".
        let mut head = [0u8; 64];
        let mut read = 0;
        while read < 12 {
            match stream.read(&mut head[read..]).await.ok()? {
                0 => break,
                n => read += n,
            }
        }
        let line = std::str::from_utf8(&head[..read]).ok()?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    tokio::time::timeout(ATTEMPT_TIMEOUT, exchange)
        .await
        .ok()
        .flatten()
}
