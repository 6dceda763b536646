//! Starting a real service for a test: bound to a port-0 socket, stopped on
//! drop, ready when its gRPC health says SERVING.

use std::{future::Future, net::SocketAddr, time::Duration};

use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::transport::Channel;

pub use crate::db::testing::{TestDatabase, backends};
pub use crate::service::Shutdown;

/// A service running in this process until dropped (or [`Self::crash`]ed).
pub struct Spawned {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), String>>,
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
        let task = tokio::spawn(async move { serving.await.map_err(|e| e.to_string()) });
        let mut spawned = Self {
            addr,
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
