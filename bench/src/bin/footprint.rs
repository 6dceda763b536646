//! Each service binary started cold on SQLite, in the mesh (mTLS with
//! development certificates): time until its gRPC health says SERVING over
//! mTLS, and resident memory after it has idled. Run after
//! `cargo build --release --bins`.
//!
//! `cargo run --release -p bazaar-bench --bin footprint`

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use bazaar_runtime::testing::mesh;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const SERVICES: [&str; 4] = ["user", "product", "payment", "order"];
const IDLE: Duration = Duration::from_secs(3);

fn release_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("release")
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn ready_after(service: &str, port: u16, started: Instant) -> anyhow::Result<Duration> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    while started.elapsed() < Duration::from_secs(10) {
        // A fresh channel each time: a refused connection is not retried.
        let answer = HealthClient::new(mesh().channel("dev-client", service, addr))
            .check(HealthCheckRequest::default())
            .await;
        if answer.is_ok() {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    anyhow::bail!("not ready within 10 s")
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or_else(|| anyhow::anyhow!("no VmRSS"))?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    println!("| service | ready, first start (ms) | ready, restart (ms) | idle RSS (MiB) |");
    println!("|---|---|---|---|");
    for service in SERVICES {
        let binary = release_dir().join(format!("bazaar-{service}"));
        let mut timings = Vec::new();
        let mut rss = 0;
        for _ in 0..2 {
            let port = free_port()?;
            let started = Instant::now();
            let child = Command::new(&binary)
                .env("BAZAAR__SERVER__LISTEN", format!("127.0.0.1:{port}"))
                .env(
                    "BAZAAR__DATABASE__URL",
                    format!("sqlite://{}/{service}.db", dir.path().display()),
                )
                .env(
                    "BAZAAR__TOKENS__SIGNING_KEY_FILE",
                    dir.path().join("signing.key"),
                )
                .env("BAZAAR__PRODUCT__URL", "http://127.0.0.1:1")
                .env("BAZAAR__PAYMENT__URL", "http://127.0.0.1:1")
                .env("BAZAAR__AUTH__JWKS_URL", "http://127.0.0.1:1")
                .env("BAZAAR__MESH__CERTS_DIR", &mesh().config().certs_dir)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| anyhow::anyhow!("{}: {e}", binary.display()))?;
            let child = Killed(child);
            timings.push(ready_after(service, port, started).await?);
            tokio::time::sleep(IDLE).await;
            rss = rss_kib(child.0.id())?;
        }
        println!(
            "| {service} | {:.0} | {:.0} | {:.1} |",
            timings[0].as_secs_f64() * 1e3,
            timings[1].as_secs_f64() * 1e3,
            rss as f64 / 1024.0
        );
    }
    Ok(())
}
