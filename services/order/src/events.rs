//! Order changes, as they happen in this process, for WatchOrder and for
//! duplicate PlaceOrder calls waiting on the first.

use tokio::sync::broadcast;

use crate::domain::Order;

#[derive(Debug, Clone)]
pub struct Events {
    sender: broadcast::Sender<Order>,
}

impl Events {
    pub fn new() -> Self {
        // Watchers that fall this far behind re-read the order from the store.
        let (sender, _) = broadcast::channel(1024);
        Self { sender }
    }

    pub fn publish(&self, order: &Order) {
        // No receivers is fine: nobody is watching.
        let _ = self.sender.send(order.clone());
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Order> {
        self.sender.subscribe()
    }
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}
