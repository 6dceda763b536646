//! One current-thread runtime per core.
//!
//! A single current-thread runtime avoids the multi-thread scheduler's
//! cross-thread wake-ups, but uses one core. So the gateway runs `count`
//! of them: the caller's (worker 0) and `count - 1` threads of their own.
//! The acceptor hands each new connection to the next worker in turn, and
//! every worker reaches the upstreams over its own HTTP/2 connections
//! ([`PerWorker`]), so a request stays on one thread from its first byte to
//! its answer. What requests share (routes, metrics, the mesh stack's
//! breaker and limits) is shared by all workers.

use std::{
    cell::Cell,
    future::Future,
    task::{Context, Poll},
};

use tokio::{runtime::Handle, sync::oneshot};

thread_local! {
    /// The worker this thread runs; 0 on every thread that is not one.
    static INDEX: Cell<usize> = const { Cell::new(0) };
}

/// The index of the worker running the caller (0 outside the workers).
fn current() -> usize {
    INDEX.with(Cell::get)
}

/// The gateway's runtimes; the threads stop when this is dropped, ending
/// what still runs on them.
pub struct Workers {
    /// Workers 1 and up; worker 0 is whatever context the caller runs in.
    others: Vec<Handle>,
    /// Dropping a sender ends its thread's runtime.
    _stops: Vec<oneshot::Sender<()>>,
}

impl Workers {
    /// The caller's runtime alone.
    pub fn single() -> Self {
        Self {
            others: Vec::new(),
            _stops: Vec::new(),
        }
    }

    /// `count` workers (at least one): the caller's runtime and `count - 1`
    /// threads, each running a current-thread runtime.
    pub fn start(count: usize) -> std::io::Result<Self> {
        let mut workers = Self::single();
        for index in 1..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (stop, stopped) = oneshot::channel::<()>();
            workers.others.push(runtime.handle().clone());
            workers._stops.push(stop);
            std::thread::Builder::new()
                .name(format!("gateway-worker-{index}"))
                .spawn(move || {
                    INDEX.with(|i| i.set(index));
                    // Returns when the sender is dropped; the runtime is
                    // dropped with this thread, cancelling its tasks.
                    let _ = runtime.block_on(stopped);
                })?;
        }
        Ok(workers)
    }

    /// How many workers there are.
    pub fn len(&self) -> usize {
        self.others.len() + 1
    }

    /// Never: there is always the caller's runtime.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Runs `make` once in each worker's context, in worker order: what it
    /// spawns (a channel's connection task) runs on that worker.
    pub fn each<T, E>(&self, mut make: impl FnMut() -> Result<T, E>) -> Result<Vec<T>, E> {
        let mut made = Vec::with_capacity(self.len());
        made.push(make()?);
        for handle in &self.others {
            let _entered = handle.enter();
            made.push(make()?);
        }
        Ok(made)
    }

    /// Runs `task` on worker `index` (modulo the count); worker 0 is the
    /// caller's runtime.
    pub fn spawn_on<F>(&self, index: usize, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match index % self.len() {
            0 => drop(tokio::spawn(task)),
            other => drop(self.others[other - 1].spawn(task)),
        }
    }
}

/// One service per worker (each made in that worker's context, see
/// [`Workers::each`]); a call goes to the calling worker's.
#[derive(Clone)]
pub struct PerWorker<S> {
    services: std::sync::Arc<[S]>,
    /// The one `poll_ready` made ready, which `call` must use.
    ready: Option<S>,
}

impl<S: Clone> PerWorker<S> {
    /// `services[i]` serves worker `i`'s calls.
    pub fn new(services: Vec<S>) -> Self {
        Self {
            services: services.into(),
            ready: None,
        }
    }

    fn own(&self) -> S {
        self.services[current() % self.services.len()].clone()
    }
}

impl<S, R> tower::Service<R> for PerWorker<S>
where
    S: tower::Service<R> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let own = self.own();
        self.ready.get_or_insert(own).poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let mut service = self.ready.take().unwrap_or_else(|| self.own());
        service.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn each_worker_runs_on_its_own_thread_and_calls_its_own_service() {
        let workers = Workers::start(3).expect("workers");
        assert_eq!(workers.len(), 3);
        let made = workers
            .each(|| Ok::<_, std::convert::Infallible>(Handle::current().id()))
            .expect("made");
        assert_eq!(made.len(), 3);
        assert!(made[0] != made[1] && made[1] != made[2] && made[0] != made[2]);

        // A service answering which index it was made for.
        let mut index = 0;
        let services = workers
            .each(|| {
                let mine = index;
                index += 1;
                Ok::<_, std::convert::Infallible>(tower::service_fn(move |()| {
                    std::future::ready(Ok::<_, std::convert::Infallible>(mine))
                }))
            })
            .expect("services");
        let per_worker = PerWorker::new(services);
        for worker in 0..6 {
            let (sent, answer) = oneshot::channel();
            let service = per_worker.clone();
            workers.spawn_on(worker, async move {
                use tower::ServiceExt as _;
                let which = service.oneshot(()).await.expect("infallible");
                let _ = sent.send((which, current()));
            });
            let (which, on) = answer.await.expect("answered");
            assert_eq!((which, on), (worker % 3, worker % 3));
        }
    }
}
