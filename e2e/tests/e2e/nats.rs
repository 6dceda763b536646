//! A NATS server of a test's own, to stop and start again: the machine's
//! one (127.0.0.1:4222) serves every other test and must stay up. Its
//! JetStream store lives in a temporary directory that outlives restarts.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use async_nats::jetstream::context::GetStreamErrorKind;
use tempfile::TempDir;

use crate::system::free_port_list;

/// Debian's `nats-server` package, as on the machines that run these tests.
const BINARY: &str = "/usr/sbin/nats-server";
const READY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct NatsServer {
    port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts a JetStream-enabled server on a free loopback port.
    pub async fn start() -> Self {
        assert!(
            std::path::Path::new(BINARY).exists(),
            "{BINARY} is missing: install Debian's nats-server package"
        );
        let mut server = Self {
            port: free_port_list(1)[0],
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
        };
        server.resume().await;
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("nats.log")
    }

    /// Kills the server outright (SIGKILL): an outage, not a shutdown.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and store, and waits until
    /// it accepts connections.
    pub async fn resume(&mut self) {
        assert!(self.child.is_none(), "the NATS server is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .expect("NATS log");
        let child = Command::new(BINARY)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.path().join("store"))
            .stdout(Stdio::from(log.try_clone().expect("NATS log")))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BINARY}: {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let problem = match async_nats::connect(self.url()).await {
                // JetStream answers once its store is recovered: "no such
                // stream" is an answer.
                Ok(client) => match async_nats::jetstream::new(client)
                    .get_stream("READINESS_PROBE")
                    .await
                {
                    Ok(_) => return,
                    Err(error) if matches!(error.kind(), GetStreamErrorKind::JetStream(_)) => {
                        return;
                    }
                    Err(error) => error.to_string(),
                },
                Err(error) => error.to_string(),
            };
            assert!(
                Instant::now() < deadline,
                "NATS did not come up within {READY_TIMEOUT:?} ({problem}):\n{}",
                std::fs::read_to_string(self.log()).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn jetstream(&self) -> async_nats::jetstream::Context {
        async_nats::jetstream::new(async_nats::connect(self.url()).await.expect("NATS answers"))
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
