//! Starting a real service for a test: bound to a port-0 socket, stopped on
//! drop, ready when its gRPC health says SERVING.

use std::{future::Future, net::SocketAddr, pin::Pin, time::Duration};

use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::transport::Channel;

pub use crate::db::testing::{TestDatabase, backends};

/// The shutdown future handed to a service under test.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A service running in this process until dropped (or [`Self::crash`]ed).
pub struct Spawned {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Spawned {
    /// Binds `127.0.0.1:0`, starts `run(listener, shutdown)` and waits until
    /// the server answers health checks.
    pub async fn start<F, Fut, E>(run: F) -> Self
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
        let task = tokio::spawn(async move {
            if let Err(error) = serving.await {
                panic!("the service under test failed: {error}");
            }
        });
        let spawned = Self {
            addr,
            stop: Some(stop),
            task,
        };
        spawned.wait_until_serving().await;
        spawned
    }

    async fn wait_until_serving(&self) {
        use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
        for _ in 0..250 {
            assert!(
                !self.task.is_finished(),
                "the service under test stopped while starting"
            );
            if let Ok(channel) = Channel::from_shared(self.url())
                .expect("url")
                .connect()
                .await
            {
                let status = HealthClient::new(channel)
                    .check(HealthCheckRequest::default())
                    .await;
                if status.is_ok() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the service under test did not become ready");
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A connected channel to the service.
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

    /// Stops the service gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = std::mem::replace(&mut self.task, tokio::spawn(async {}));
        let _ = task.await;
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
