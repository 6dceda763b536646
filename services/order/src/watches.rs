//! WatchOrder's bounded fan-out.
//!
//! Watchers never read the database. One task per service feeds them: it
//! passes on the order changes this process publishes ([`Events`]), and it
//! polls the watched orders every `replica_poll` (each order once, however
//! many watch it) to see what other replicas of the service changed. Each
//! watched order has one `watch` channel that holds its latest state, so a
//! slow watcher skips to the latest state instead of falling behind.
//!
//! Watches are capped per client connection and in total (RESOURCE_EXHAUSTED
//! beyond) and each lasts at most `max_lifetime`.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use tokio::sync::{broadcast::error::RecvError, watch};
use tonic::Status;

use crate::{
    config::WatchConfig,
    domain::{Order, OrderId},
    events::Events,
    store::OrderStore,
};

pub struct Watches {
    config: WatchConfig,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    total: usize,
    /// Open watches by the client connection's address (`None`: unknown).
    per_connection: HashMap<Option<SocketAddr>, usize>,
    orders: HashMap<OrderId, Watched>,
}

struct Watched {
    /// The latest state known; `None` until the first read or event.
    latest: watch::Sender<Option<Order>>,
    watchers: usize,
}

/// One admitted watch; gives its places back when dropped.
pub struct Ticket {
    watches: Arc<Watches>,
    connection: Option<SocketAddr>,
    order_id: OrderId,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut inner = self.watches.lock();
        inner.total = inner.total.saturating_sub(1);
        if let Some(count) = inner.per_connection.get_mut(&self.connection) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                inner.per_connection.remove(&self.connection);
            }
        }
        if let Some(watched) = inner.orders.get_mut(&self.order_id) {
            watched.watchers = watched.watchers.saturating_sub(1);
            if watched.watchers == 0 {
                inner.orders.remove(&self.order_id);
            }
        }
    }
}

/// Whether `candidate` is a later state of the order than `current`.
fn newer(current: Option<&Order>, candidate: &Order) -> bool {
    current.is_none_or(|current| {
        candidate.updated_at > current.updated_at
            || (candidate.updated_at == current.updated_at && candidate.state != current.state)
    })
}

impl Watches {
    pub fn new(config: WatchConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            inner: Mutex::new(Inner::default()),
        })
    }

    pub fn config(&self) -> &WatchConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits one more watch of `order_id` from `connection` if the caps
    /// allow, and hands back the order's channel. Registered before the
    /// order is read, so no change can fall between the read and the watch.
    pub fn admit(
        self: &Arc<Self>,
        connection: Option<SocketAddr>,
        order_id: OrderId,
    ) -> Result<(Ticket, watch::Receiver<Option<Order>>), Status> {
        let mut inner = self.lock();
        if inner.total >= self.config.total {
            return Err(Status::resource_exhausted(format!(
                "this service has {} open watches, its limit; retry later",
                inner.total
            )));
        }
        let on_connection = inner.per_connection.get(&connection).copied().unwrap_or(0);
        if on_connection >= self.config.per_connection {
            return Err(Status::resource_exhausted(format!(
                "this connection has {on_connection} open watches, its limit"
            )));
        }
        inner.total += 1;
        *inner.per_connection.entry(connection).or_insert(0) += 1;
        let watched = inner.orders.entry(order_id).or_insert_with(|| Watched {
            latest: watch::channel(None).0,
            watchers: 0,
        });
        watched.watchers += 1;
        let receiver = watched.latest.subscribe();
        drop(inner);
        let ticket = Ticket {
            watches: Arc::clone(self),
            connection,
            order_id,
        };
        Ok((ticket, receiver))
    }

    /// Hands `order` to its watchers, if it is news to them.
    pub fn offer(&self, order: &Order) {
        let inner = self.lock();
        if let Some(watched) = inner.orders.get(&order.id) {
            watched.latest.send_if_modified(|latest| {
                let news = newer(latest.as_ref(), order);
                if news {
                    *latest = Some(order.clone());
                }
                news
            });
        }
    }

    /// The watched orders that can still change.
    fn changeable(&self) -> Vec<OrderId> {
        self.lock()
            .orders
            .iter()
            .filter(|(_, watched)| {
                watched
                    .latest
                    .borrow()
                    .as_ref()
                    .is_none_or(|order| !order.state.is_terminal())
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// Re-reads each watched order once: for other replicas' changes, and
    /// after falling behind the events.
    async fn refresh<S: OrderStore>(&self, store: &S) {
        for id in self.changeable() {
            match store.get(id).await {
                Ok(Some(order)) => self.offer(&order),
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(order_id = %id, %error, "cannot re-read a watched order")
                }
            }
        }
    }

    /// Feeds the watchers until `stop` turns true.
    pub async fn feed<S: OrderStore>(
        self: Arc<Self>,
        events: Events,
        store: Arc<S>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut events = events.subscribe();
        let period = self
            .config
            .replica_poll
            .max(std::time::Duration::from_millis(10));
        let mut poll = tokio::time::interval(period);
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(order) => self.offer(&order),
                    Err(RecvError::Lagged(_)) => self.refresh(&*store).await,
                    Err(RecvError::Closed) => return,
                },
                _ = poll.tick() => self.refresh(&*store).await,
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}
