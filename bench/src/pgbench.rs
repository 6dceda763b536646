//! The database's own limit, measured in the same run as the load it is
//! compared with: pgbench's TPC-B on a scratch database of the same server.
//! Ratios within one run hold on a noisy shared machine; absolute figures
//! do not.

use std::{process::Command, time::Duration};

use sqlx::{Connection as _, Executor as _, PgConnection};

/// What the bench asks of pgbench: TPC-B at scale 16, 16 clients on 2
/// threads, 15 s.
pub const SCALE: u32 = 16;
pub const CLIENTS: u32 = 16;
pub const THREADS: u32 = 2;
pub const DURATION: Duration = Duration::from_secs(15);

/// The command line of the timed run, for the report.
pub fn describe() -> String {
    format!(
        "pgbench -i -s {SCALE}, then pgbench -c {CLIENTS} -j {THREADS} -T {} (TPC-B)",
        DURATION.as_secs()
    )
}

/// TPC-B transactions per second on the server `admin_url` names, on a
/// database created for it and dropped after, whatever happens.
pub async fn tpc_b(admin_url: &str) -> anyhow::Result<f64> {
    let name = format!(
        "bazaar_pgbench_{}",
        bazaar_domain::id::Uuid::now_v7().simple()
    );
    let (base, _) = admin_url
        .rsplit_once('/')
        .ok_or_else(|| anyhow::anyhow!("{admin_url} names no database"))?;
    let url = format!("{base}/{name}");
    let mut admin = PgConnection::connect(admin_url).await?;
    admin
        .execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await?;
    let measured = tokio::task::spawn_blocking(move || run_pgbench(&url)).await;
    let dropped = admin
        .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
        .await;
    admin.close().await?;
    dropped?;
    measured?
}

fn run_pgbench(url: &str) -> anyhow::Result<f64> {
    let scale = SCALE.to_string();
    pgbench(&["-i", "-q", "-s", &scale, url])?;
    let (clients, threads, time) = (
        CLIENTS.to_string(),
        THREADS.to_string(),
        DURATION.as_secs().to_string(),
    );
    let out = pgbench(&["-c", &clients, "-j", &threads, "-T", &time, url])?;
    parse_tps(&out).ok_or_else(|| anyhow::anyhow!("no tps in pgbench's output:\n{out}"))
}

/// Runs pgbench with `args`; its standard output, or why it failed.
fn pgbench(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("pgbench").args(args).output()?;
    if !output.status.success() {
        anyhow::bail!(
            "pgbench {} failed: {}",
            args.first().copied().unwrap_or_default(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `tps = 1058.123 (without initial connection time)`: the rate of the
/// transactions themselves, as pgbench 14+ reports it.
fn parse_tps(out: &str) -> Option<f64> {
    out.lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::parse_tps;

    #[test]
    fn reads_the_rate_without_connection_time() {
        let out = "number of failed transactions: 0 (0.000%)\n\
                   latency average = 15.1 ms\n\
                   initial connection time = 20.3 ms\n\
                   tps = 1058.512345 (without initial connection time)\n";
        assert_eq!(parse_tps(out), Some(1058.512345));
        assert_eq!(parse_tps("nothing here"), None);
    }
}
