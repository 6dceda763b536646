//! A circuit breaker per upstream endpoint (Envoy's outlier detection): after
//! `consecutive_failures` failures in a row the endpoint is ejected and calls
//! fail at once with UNAVAILABLE; after `ejection_time` one probe goes
//! through, and its outcome closes the breaker or ejects again.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use tokio::time::Instant;
use tonic::{Code, Status, body::Body};
use tower::BoxError;

use super::{CallFuture, NotSent, UpstreamMetrics};

use crate::policy::CircuitBreaker;

#[derive(Debug, Default)]
struct State {
    consecutive_failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

/// The state, with a lock-free fast path: a healthy upstream's calls only
/// read one flag.
#[derive(Debug, Default)]
struct Shared {
    /// Set while there are failures to count or the circuit is open.
    troubled: AtomicBool,
    state: Mutex<State>,
}

/// What the breaker lets a call do.
enum Admit {
    Call { probe: bool },
    Refuse(Duration),
}

#[derive(Debug, Clone)]
pub struct Breaker<S> {
    inner: S,
    trip: Arc<Trip>,
    state: Arc<Shared>,
}

impl<S> Breaker<S> {
    pub fn new(
        inner: S,
        upstream: &str,
        policy: &CircuitBreaker,
        metrics: &UpstreamMetrics,
    ) -> Self {
        Self {
            inner,
            trip: Arc::new(Trip {
                upstream: upstream.into(),
                threshold: policy.consecutive_failures,
                ejection: policy.ejection_time,
                may_eject: policy.max_ejection_percent >= 100,
                metrics: metrics.clone(),
            }),
            state: Arc::default(),
        }
    }

    fn admit(&self) -> Admit {
        if !self.state.troubled.load(Ordering::Acquire) {
            return Admit::Call { probe: false };
        }
        let mut state = self.state.state.lock().unwrap_or_else(|e| e.into_inner());
        match state.open_until {
            None => Admit::Call { probe: false },
            Some(until) if Instant::now() < until => Admit::Refuse(until - Instant::now()),
            Some(_) if state.probing => Admit::Refuse(Duration::ZERO),
            Some(_) => {
                state.probing = true;
                Admit::Call { probe: true }
            }
        }
    }
}

/// When the breaker trips, and what it reports.
#[derive(Debug)]
struct Trip {
    upstream: Arc<str>,
    threshold: u32,
    ejection: Duration,
    /// With one endpoint, ejecting it is ejecting 100 % of them.
    may_eject: bool,
    metrics: UpstreamMetrics,
}

/// Records one outcome.
fn record(shared: &Shared, trip: &Trip, failed: bool) {
    let Trip {
        upstream,
        threshold,
        ejection,
        may_eject,
        metrics,
    } = trip;
    let (threshold, ejection, may_eject) = (*threshold, *ejection, *may_eject);
    let upstream: &str = upstream;
    if !failed && !shared.troubled.load(Ordering::Acquire) {
        return;
    }
    let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    if !failed {
        if state.open_until.is_some() {
            tracing::info!(upstream, "circuit closed: the probe succeeded");
            metrics.circuit_open.set(0);
        }
        *state = State::default();
        shared.troubled.store(false, Ordering::Release);
        return;
    }
    shared.troubled.store(true, Ordering::Release);
    state.consecutive_failures = state.consecutive_failures.saturating_add(1);
    let trips = state.probing || state.consecutive_failures >= threshold;
    if trips && may_eject {
        tracing::warn!(
            upstream,
            failures = state.consecutive_failures,
            ?ejection,
            "circuit open: ejecting the upstream"
        );
        state.open_until = Some(Instant::now() + ejection);
        state.probing = false;
        metrics.ejections.inc();
        metrics.circuit_open.set(1);
    }
}

/// A failure for the breaker: the call never got an answer, or the upstream
/// said it is unavailable.
fn is_failure(outcome: &Result<http::Response<Body>, BoxError>) -> bool {
    match outcome {
        Err(_) => true,
        Ok(response) => response
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i32>().ok())
            .is_some_and(|code| Code::from(code) == Code::Unavailable),
    }
}

impl<S> tower::Service<http::Request<Body>> for Breaker<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = CallFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        match self.admit() {
            Admit::Refuse(left) => {
                let status = Status::unavailable(format!(
                    "circuit open: {} is ejected for another {} ms",
                    self.trip.upstream,
                    left.as_millis()
                ));
                Box::pin(async move { Err(NotSent(status).into()) })
            }
            Admit::Call { probe } => {
                if probe {
                    tracing::info!(upstream = %self.trip.upstream, "circuit half-open: probing");
                }
                let call = self.inner.call(request);
                let state = Arc::clone(&self.state);
                let trip = Arc::clone(&self.trip);
                Box::pin(async move {
                    let outcome = call.await.map_err(Into::into);
                    record(&state, &trip, is_failure(&outcome));
                    outcome
                })
            }
        }
    }
}
