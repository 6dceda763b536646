//! An order event as this service understands it: parsed from its protobuf
//! message at the consumer's edge (`crate::events`).

use bazaar_domain::Money;

bazaar_domain::uuid_id!(
    /// An order event's id; also the id of the notification it becomes.
    EventId
);

bazaar_domain::uuid_id!(
    /// The id of the order an event is about.
    OrderId
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    pub id: EventId,
    pub order_id: OrderId,
    pub customer_id: String,
    /// µs since the epoch.
    pub occurred_at: i64,
    pub change: Change,
}

/// What happened to the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Placed,
    Confirmed {
        /// Units bought, over all lines.
        units: u64,
        total: Option<Money>,
    },
    Failed {
        /// For people; may be empty.
        message: String,
    },
    Cancelled {
        refunded: Option<Money>,
    },
    Shipped,
}
