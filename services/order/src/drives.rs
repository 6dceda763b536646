//! Sagas driven by the service rather than by the request that started
//! them: a client that disconnects or whose deadline is short drops only its
//! wait, never a saga halfway through a step (which would leave a payment or
//! a reservation half-done).
//!
//! Each drive is a task of the service that renews the order's lease while
//! it runs. On shutdown the in-flight drives get the grace period to finish;
//! whatever is left is aborted and, its lease running out, taken over by the
//! recovery worker of the next instance. If the service is dropped outright
//! (a crash), the drives are aborted with it, as a dying process's would be.

use std::{
    future::Future,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use bazaar_proto::payment::v1::Card;
use bazaar_runtime::status::ServiceError;
use tokio::{sync::oneshot, task::JoinSet};
use tracing::Instrument as _;

use crate::{
    domain::Order,
    saga::{Driven, Saga},
    store::OrderStore,
};

/// The outcome of a drive, for whoever still waits for it.
pub type Outcome = oneshot::Receiver<Result<Driven, ServiceError>>;

/// The deadline of the request being handled, if any: reserving stock for it
/// gets at most what is left of it (see [`Saga::drive`]).
pub fn reserve_by() -> Option<Instant> {
    bazaar_mesh::deadline::remaining().map(|left| Instant::now() + left)
}

pub struct Drives<S> {
    saga: Arc<Saga<S>>,
    lease: Duration,
    tasks: Arc<Mutex<JoinSet<()>>>,
}

impl<S> Clone for Drives<S> {
    fn clone(&self) -> Self {
        Self {
            saga: Arc::clone(&self.saga),
            lease: self.lease,
            tasks: Arc::clone(&self.tasks),
        }
    }
}

/// Aborts every drive when dropped: held by the serving future, so that
/// dropping it stops the drives as a crash would.
pub struct AbortOnDrop {
    tasks: Arc<Mutex<JoinSet<()>>>,
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .abort_all();
    }
}

impl<S: OrderStore> Drives<S> {
    /// Drives of `saga`'s orders, each leased for `lease` at a time.
    pub fn new(saga: Arc<Saga<S>>, lease: Duration) -> (Self, AbortOnDrop) {
        let tasks = Arc::new(Mutex::new(JoinSet::new()));
        let guard = AbortOnDrop {
            tasks: Arc::clone(&tasks),
        };
        (Self { saga, lease, tasks }, guard)
    }

    /// Starts driving `order` (with the card, for a live checkout) in a task
    /// of the service, and returns where its outcome will be told. Reserving
    /// stock gets the incoming request's deadline, if any (see
    /// [`Saga::drive`]).
    pub fn start(&self, order: Order, card: Option<Card>) -> Outcome {
        let (tell, outcome) = oneshot::channel();
        let drive = self.drive(order, card, reserve_by());
        self.spawn(async move {
            // The request may have stopped waiting; the drive is done anyway.
            let _ = tell.send(drive.await);
        });
        outcome
    }

    /// The drive of `order`, leased as configured, to run in a task of
    /// [`Self::spawn`].
    pub fn drive(
        &self,
        order: Order,
        card: Option<Card>,
        reserve_by: Option<Instant>,
    ) -> impl Future<Output = Result<Driven, ServiceError>> + Send + 'static {
        let saga = Arc::clone(&self.saga);
        let lease = self.lease;
        async move {
            saga.drive_leased(order, card.as_ref(), reserve_by, lease)
                .await
        }
    }

    /// Runs `work` (which drives orders) as a task of the service, in the
    /// span current now: the saga's spans stay in the trace of the request
    /// that started them, however long they outlive it.
    pub fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        // Reap the finished drives so the set holds only running ones.
        while tasks.try_join_next().is_some() {}
        tasks.spawn(work.in_current_span());
    }

    /// Gives the drives in flight up to `grace` to finish, then aborts the
    /// rest (recovery finishes them once their leases run out).
    pub async fn shutdown(&self, grace: Duration) {
        let mut running =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        let drained = tokio::time::timeout(grace, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                left = running.len(),
                ?grace,
                "drives still running after the grace period; leaving them to recovery"
            );
        }
        running.abort_all();
    }
}

/// Waits for `outcome` as long as the incoming request's deadline allows
/// (keeping a margin to answer in), or until it is known without one.
/// `None` when the deadline came first or the drive was aborted.
pub async fn within_deadline<T>(outcome: oneshot::Receiver<T>) -> Option<T> {
    match bazaar_mesh::deadline::remaining() {
        Some(left) => {
            let margin = (left / 5).min(Duration::from_millis(100));
            tokio::time::timeout(left.saturating_sub(margin), outcome)
                .await
                .ok()
                .and_then(Result::ok)
        }
        None => outcome.await.ok(),
    }
}
