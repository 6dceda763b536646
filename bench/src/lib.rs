//! Shared pieces of the benchmarks: a bounded closed-loop load generator and
//! latency statistics. Load goes to loopback only and stops after a fixed
//! number of requests or a fixed time, whichever comes first.

pub mod census;
pub mod cpu;
pub mod pgbench;

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
}

impl Report {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub fn line(&self, name: &str) -> String {
        format!(
            "| {name} | {:.0} | {:.1} | {:.1} | {} | {} |",
            self.per_second(),
            self.p50.as_secs_f64() * 1e6,
            self.p99.as_secs_f64() * 1e6,
            self.requests,
            self.errors
        )
    }
}

pub const TABLE_HEADER: &str =
    "| what | req/s | p50 µs | p99 µs | requests | errors |\n|---|---|---|---|---|---|";

/// Runs `call` from `concurrency` workers until `max_requests` are done or
/// `max_time` passes. Every call's latency is recorded; a call that returns
/// `false` counts as an error.
pub async fn closed_loop<F, Fut>(
    concurrency: usize,
    max_requests: u64,
    max_time: Duration,
    call: F,
) -> Report
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let issued = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + max_time;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (call, issued, errors) =
                (Arc::clone(&call), Arc::clone(&issued), Arc::clone(&errors));
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(4096);
                loop {
                    let n = issued.fetch_add(1, Ordering::Relaxed);
                    if n >= max_requests || Instant::now() >= deadline {
                        break;
                    }
                    let start = Instant::now();
                    if !call(n).await {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    latencies.push(start.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for worker in workers {
        if let Ok(latencies) = worker.await {
            all.extend(latencies);
        }
    }
    let elapsed = started.elapsed();
    all.sort_unstable();
    let at = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Report {
        requests: all.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        elapsed,
        p50: at(0.50),
        p99: at(0.99),
    }
}
