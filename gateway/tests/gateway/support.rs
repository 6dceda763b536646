//! Starting the gateway on port 0 and talking to it over real HTTP.

use std::{io::Write as _, net::SocketAddr, path::PathBuf, time::Duration};

use bazaar_gateway::{Config, GatewayConfig};
use bazaar_mesh::{MeshConfig, Mode};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use tempfile::NamedTempFile;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::upstreams::{self, Upstream};

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A running gateway.
pub struct Gateway {
    pub addr: SocketAddr,
    client: HttpClient,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), bazaar_gateway::Error>>>,
    // Kept until the gateway stops: its descriptor set file.
    _set: Option<NamedTempFile>,
}

/// Writes an encoded descriptor set to a temporary file.
pub fn descriptor_file(set: &[u8]) -> NamedTempFile {
    let mut file = NamedTempFile::new().expect("temp file");
    file.write_all(set).expect("write descriptor set");
    file
}

/// A test config: short timeouts, no admin port (tests run side by side;
/// one that wants it picks a free address), nothing else changed.
pub fn config() -> GatewayConfig {
    GatewayConfig {
        admin_listen: None,
        readiness_timeout: Duration::from_millis(300),
        shutdown_grace: Duration::from_secs(2),
        ..GatewayConfig::default()
    }
}

/// The mesh as under Istio: plaintext upstreams (the sidecar does mTLS), so
/// the gateway fronts the test-only services outside the mesh policy.
pub fn sidecar() -> MeshConfig {
    MeshConfig {
        mode: Mode::Sidecar,
        ..MeshConfig::default()
    }
}

/// Starts the gateway in front of `upstream`, serving `set`.
pub async fn spawn_with(set: &[u8], tweak: impl FnOnce(&mut GatewayConfig)) -> Gateway {
    let file = descriptor_file(set);
    let mut gateway = config();
    gateway.descriptor_set = Some(PathBuf::from(file.path()));
    tweak(&mut gateway);
    let mut running = spawn_config(gateway).await;
    running._set = Some(file);
    running
}

/// Starts the gateway with exactly `gateway` as its configuration, behind
/// a sidecar.
pub async fn spawn_config(gateway: GatewayConfig) -> Gateway {
    spawn_in_mesh(gateway, sidecar()).await
}

/// Starts the gateway with `gateway` and `mesh` as its configuration.
pub async fn spawn_in_mesh(gateway: GatewayConfig, mesh: MeshConfig) -> Gateway {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let config = Config {
        gateway,
        mesh,
        ..Config::default()
    };
    let task = tokio::spawn(bazaar_gateway::run(config, listener, async {
        let _ = stopped.await;
    }));
    Gateway {
        addr,
        client: Client::builder(TokioExecutor::new()).build_http(),
        stop: Some(stop),
        task: Some(task),
        _set: None,
    }
}

/// The shapes service and a gateway in front of it.
pub async fn shapes() -> (Upstream, Gateway) {
    shapes_with(|_| {}).await
}

pub async fn shapes_with(tweak: impl FnOnce(&mut GatewayConfig)) -> (Upstream, Gateway) {
    let upstream = upstreams::start_shapes().await;
    let url = upstream.url();
    let gateway = spawn_with(upstreams::SHAPES_SET, |c| {
        c.upstream = Some(url);
        tweak(c);
    })
    .await;
    (upstream, gateway)
}

/// A GET on a fresh connection, independent of any running `Gateway`.
pub async fn fetch(url: String) -> Answer {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let request = Request::get(url)
        .body(Full::new(Bytes::new()))
        .expect("request");
    let response = client.request(request).await.expect("response");
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.expect("read body").to_bytes(),
    }
}

/// An HTTP answer, fully read.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {:?} (status {})",
                String::from_utf8_lossy(&self.body),
                self.status
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Gateway {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, &[], None).await
    }

    pub async fn send_json(&self, method: Method, path: &str, body: serde_json::Value) -> Answer {
        let body = serde_json::to_vec(&body).expect("json");
        self.send(
            method,
            path,
            &[("content-type", "application/json")],
            Some(body),
        )
        .await
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Answer {
        let response = self.request(method, path, headers, body).await;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("read body").to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// Sends a request and returns the response before reading its body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> http::Response<hyper::body::Incoming> {
        let body = Bytes::from(body.unwrap_or_default());
        // The gateway may still be starting: retry refused connections.
        let mut attempts = 0;
        loop {
            let mut request = Request::builder()
                .method(method.clone())
                .uri(self.url(path));
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let request = request.body(Full::new(body.clone())).expect("request");
            match self.client.request(request).await {
                Ok(response) => return response,
                Err(error) if attempts < 50 && error.is_connect() => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(error) => panic!("request failed: {error}"),
            }
        }
    }

    /// Stops the gateway and returns how `run` ended.
    pub async fn stop(mut self) -> Result<(), bazaar_gateway::Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.expect("gateway task"),
            None => Ok(()),
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
