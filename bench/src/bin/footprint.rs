//! Each service binary started cold on SQLite, in the mesh (mTLS with
//! development certificates): time until its gRPC health says SERVING over
//! mTLS, and resident memory after it has idled. Run after
//! `cargo build --release --workspace --bins`.
//!
//! `cargo run --release -p bazaar-bench --bin footprint`; with
//! `FOOTPRINT_DETAIL=1` also where each service's resident memory is (its
//! anonymous and file-backed parts, the largest mappings).

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use bazaar_runtime::testing::mesh;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const SERVICES: [&str; 5] = ["user", "product", "payment", "order", "notification"];
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

/// The resident parts from /proc/PID/status and the six largest mappings by
/// resident size (from smaps, summed per file).
fn resident_detail(pid: u32) -> anyhow::Result<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let mut out: Vec<String> = status
        .lines()
        .filter(|l| {
            ["RssAnon", "RssFile", "Threads"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps"))?;
    let mut mapping = String::new();
    let mut sizes: Vec<(u64, String)> = Vec::new();
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            mapping = fields.nth(4).unwrap_or("[anonymous]").to_owned();
        } else if first == "Rss:" {
            let kib: u64 = fields.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            match sizes.iter_mut().find(|(_, name)| *name == mapping) {
                Some(entry) => entry.0 += kib,
                None => sizes.push((kib, mapping.clone())),
            }
        }
    }
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    out.extend(
        sizes
            .iter()
            .take(6)
            .map(|(kib, name)| format!("\n    {kib:>6} kB {name}")),
    );
    Ok(out.join(" "))
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
            if std::env::var_os("FOOTPRINT_DETAIL").is_some() {
                eprintln!("{service}: {}", resident_detail(child.0.id())?);
            }
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
