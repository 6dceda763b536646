//! Retries of idempotent calls, only on UNAVAILABLE and only within a
//! budget: retries may add at most a ratio of recent calls (plus a floor per
//! second), so a failing upstream sees a bounded surplus, never a storm.

use std::{future::Future, sync::Arc, time::Duration};

use bazaar_observe::prometheus_client::metrics::counter::Counter;

use tonic::{Code, Status};
use tower::retry::budget::{Budget as _, TpsBudget};

use crate::{client::UpstreamMetrics, policy::Retries};

/// Envoy's default base interval between tries; doubled for each retry.
const BACKOFF: Duration = Duration::from_millis(25);

/// The retry state of one upstream, shared by all its callers.
#[derive(Debug, Clone)]
pub struct Retrier {
    attempts: u32,
    budget: Arc<TpsBudget>,
    retried: Counter,
    exhausted: Counter,
}

impl Retrier {
    /// Retries as `policy` says; `enabled = false` (a sidecar retries
    /// instead) tries each call once.
    pub fn new(policy: &Retries, enabled: bool) -> Self {
        Self::counted(policy, enabled, &UpstreamMetrics::default())
    }

    /// [`Self::new`], counting retries and budget refusals in `metrics`.
    pub fn counted(policy: &Retries, enabled: bool, metrics: &UpstreamMetrics) -> Self {
        let budget = policy.budget;
        Self {
            attempts: if enabled { policy.attempts } else { 1 },
            budget: Arc::new(TpsBudget::new(
                budget.ttl,
                budget.min_per_second,
                budget.ratio,
            )),
            retried: metrics.retries.clone(),
            exhausted: metrics.budget_exhausted.clone(),
        }
    }

    /// Runs `call`, again on UNAVAILABLE while tries and budget last. Only
    /// for idempotent calls: a retried request may have been received.
    pub async fn call<T, F, Fut>(&self, mut call: F) -> Result<T, Status>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        self.budget.deposit();
        let mut attempt = 1;
        let mut backoff = BACKOFF;
        loop {
            match call().await {
                Err(status) if status.code() == Code::Unavailable && attempt < self.attempts => {
                    if !self.budget.withdraw() {
                        self.exhausted.inc();
                        tracing::info!(%status, attempt, "retry budget exhausted: not retrying");
                        return Err(status);
                    }
                    self.retried.inc();
                    // At info, so the retry is an event on the caller's span.
                    tracing::info!(%status, attempt, "retrying an unavailable upstream");
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2);
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    /// Retries sent so far.
    pub fn retried(&self) -> u64 {
        self.retried.get()
    }

    /// Retries refused by the budget so far.
    pub fn exhausted(&self) -> u64 {
        self.exhausted.get()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::policy::RetryBudget;

    fn policy(ratio: f32, min_per_second: u32) -> Retries {
        Retries {
            attempts: 3,
            budget: RetryBudget {
                ratio,
                min_per_second,
                ttl: Duration::from_secs(10),
            },
        }
    }

    #[tokio::test(start_paused = true)]
    async fn only_unavailable_is_retried_and_only_up_to_the_attempts() {
        let retrier = Retrier::new(&policy(0.2, 100), true);
        let calls = AtomicU32::new(0);
        let result: Result<(), Status> = retrier
            .call(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Status::unavailable("down"))
            })
            .await;
        assert_eq!(result.unwrap_err().code(), Code::Unavailable);
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        calls.store(0, Ordering::SeqCst);
        let result: Result<(), Status> = retrier
            .call(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Status::failed_precondition("declined"))
            })
            .await;
        assert_eq!(result.unwrap_err().code(), Code::FailedPrecondition);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_upstream_gets_retries_within_the_budget_only() {
        // No floor: retries may add at most 20 % of the calls.
        let retrier = Retrier::new(&policy(0.2, 0), true);
        let calls = AtomicU32::new(0);
        for _ in 0..100 {
            let _: Result<(), Status> = retrier
                .call(|| async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(Status::unavailable("down"))
                })
                .await;
        }
        let retried = retrier.retried();
        assert!(retried <= 20, "{retried} retries for 100 calls");
        assert!(retried >= 15, "the budget allows about 20: {retried}");
        assert_eq!(u64::from(calls.load(Ordering::SeqCst)), 100 + retried);
        assert!(retrier.exhausted() > 0);
    }

    #[tokio::test(start_paused = true)]
    async fn disabled_retries_try_once() {
        let retrier = Retrier::new(&policy(1.0, 100), false);
        let calls = AtomicU32::new(0);
        let _: Result<(), Status> = retrier
            .call(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Status::unavailable("down"))
            })
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
