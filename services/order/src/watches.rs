//! WatchOrder's bounded fan-out.
//!
//! Watchers never read the database. One task per service feeds them, from
//! three sources:
//!
//! - the order changes this process makes ([`Events`]), at once;
//! - with `events.nats_url` set, the order events every replica publishes
//!   (a core NATS subscription on `<events.subject_prefix>.>`, not a
//!   JetStream consumer: only what happens while we listen matters): for an
//!   event of an order watched here, newer than what its watchers have, the
//!   order is re-read and handed on, so a change made on another replica
//!   reaches watchers here within milliseconds of its commit;
//! - every `replica_poll`, a re-read of the watched orders (each once,
//!   however many watch them): the safety net while NATS is away or off,
//!   and after falling behind the events.
//!
//! Each watched order has one `watch` channel that holds its latest state,
//! so a slow watcher skips to the latest state instead of falling behind.
//!
//! Watches are capped per client connection and in total (RESOURCE_EXHAUSTED
//! beyond) and each lasts at most `max_lifetime`.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use bazaar_proto::order::v1 as pb;
use prost::Message as _;
use tokio::sync::{broadcast::error::RecvError, watch};
use tokio_stream::StreamExt as _;
use tonic::Status;

use crate::{
    config::{EventsConfig, WatchConfig},
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

    /// The watched order a published event is about, if its watchers do not
    /// know that change yet (the replica that made it has told its own).
    fn stale(&self, payload: &[u8]) -> Option<OrderId> {
        // Every event has its `EventMetadata` as field 1: any one of the
        // messages decodes the metadata of all.
        let metadata = pb::OrderShipped::decode(payload).ok()?.metadata?;
        let id: OrderId = metadata.order_id.parse().ok()?;
        let changed_at = metadata
            .occur_time
            .map(|at| at.seconds * 1_000_000 + i64::from(at.nanos) / 1_000);
        let inner = self.lock();
        let latest = inner.orders.get(&id)?.latest.borrow();
        let known = latest.as_ref().is_some_and(|order| {
            order.state.is_terminal() || changed_at.is_some_and(|at| order.updated_at >= at)
        });
        (!known).then_some(id)
    }

    /// Re-reads the order of a published event, if it is watched here and
    /// news to its watchers.
    async fn published<S: OrderStore>(&self, store: &S, payload: &[u8]) {
        let Some(id) = self.stale(payload) else {
            return;
        };
        match store.get(id).await {
            Ok(Some(order)) => self.offer(&order),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(order_id = %id, %error, "cannot re-read a watched order")
            }
        }
    }

    /// Feeds the watchers until `stop` turns true.
    pub async fn feed<S: OrderStore>(
        self: Arc<Self>,
        events: Events,
        store: Arc<S>,
        published: EventsConfig,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut events = events.subscribe();
        let mut published = subscribe(&published).await;
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
                message = next(&mut published) => match message {
                    Some(message) => self.published(&*store, &message.payload).await,
                    // Ends only with the client; the poll carries on.
                    None => published = None,
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

/// The order events all replicas publish, when there is a NATS server.
/// The client connects (and reconnects, resubscribing) in the background;
/// until it does, the replica poll covers.
async fn subscribe(config: &EventsConfig) -> Option<async_nats::Subscriber> {
    let url = config.nats_url.as_deref()?;
    let subscribed = async {
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(url)
            .await?;
        let subject = format!("{}.>", config.subject_prefix);
        anyhow::Ok(client.subscribe(subject).await?)
    };
    match subscribed.await {
        Ok(subscriber) => Some(subscriber),
        Err(error) => {
            tracing::warn!(%error, %url, "cannot subscribe to order events; watches see other replicas' changes at the replica poll");
            None
        }
    }
}

/// The next published event; never, without a subscription.
async fn next(subscriber: &mut Option<async_nats::Subscriber>) -> Option<async_nats::Message> {
    match subscriber {
        Some(subscriber) => subscriber.next().await,
        None => std::future::pending().await,
    }
}
