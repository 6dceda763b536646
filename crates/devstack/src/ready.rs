//! Is a started binary ready? A gRPC service is when its health service
//! reports its service SERVING; the gateway is when `GET /readyz` answers 200
//! (it checks its upstreams' health in turn).

use std::{net::SocketAddr, time::Duration};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};
use tonic::transport::Endpoint;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::stack::{Service, Stack};

/// One attempt may take this long.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// One readiness check of `service` in `stack`.
pub async fn check(stack: &Stack, service: Service) -> bool {
    match service.grpc_name() {
        Some(name) => grpc_serving(stack.addr(service), name).await,
        None => http_ok(stack.addr(service), "/readyz").await,
    }
}

/// Whether the gRPC server at `addr` reports `service` SERVING.
pub async fn grpc_serving(addr: SocketAddr, service: &str) -> bool {
    let Ok(endpoint) = Endpoint::from_shared(format!("http://{addr}")) else {
        return false;
    };
    let endpoint = endpoint
        .connect_timeout(ATTEMPT_TIMEOUT)
        .timeout(ATTEMPT_TIMEOUT);
    let Ok(channel) = endpoint.connect().await else {
        return false;
    };
    let request = HealthCheckRequest {
        service: service.to_owned(),
    };
    matches!(
        HealthClient::new(channel).check(request).await,
        Ok(response) if response.get_ref().status() == ServingStatus::Serving
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
