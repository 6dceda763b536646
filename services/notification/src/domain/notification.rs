//! A notification: the words a customer reads about one order event.

use super::{Change, EventId, OrderEvent, OrderId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    OrderConfirmed,
    OrderFailed,
    OrderCancelled,
    OrderShipped,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderConfirmed => "order_confirmed",
            Self::OrderFailed => "order_failed",
            Self::OrderCancelled => "order_cancelled",
            Self::OrderShipped => "order_shipped",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::OrderConfirmed,
            Self::OrderFailed,
            Self::OrderCancelled,
            Self::OrderShipped,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == raw)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The event's id: one notification per event.
    pub id: EventId,
    pub customer_id: String,
    pub order_id: OrderId,
    pub kind: Kind,
    pub title: String,
    pub body: String,
    /// µs since the epoch: when the event happened.
    pub occurred_at: i64,
}

impl Notification {
    /// What the customer is told of `event`; nothing for a placed order
    /// (the checkout answers it at once).
    pub fn render(event: &OrderEvent) -> Option<Self> {
        let order = short(event.order_id);
        let (kind, title, body) = match &event.change {
            Change::Placed => return None,
            Change::Confirmed { units, total } => (
                Kind::OrderConfirmed,
                "Order confirmed",
                match total {
                    Some(total) => format!(
                        "Your order {order} of {} is confirmed: {total} paid.",
                        plural(*units, "item")
                    ),
                    None => format!("Your order {order} is confirmed."),
                },
            ),
            Change::Failed { message } => (
                Kind::OrderFailed,
                "Order failed",
                if message.is_empty() {
                    format!("Your order {order} could not be completed; nothing was charged.")
                } else {
                    format!(
                        "Your order {order} could not be completed ({message}); nothing was charged."
                    )
                },
            ),
            Change::Cancelled { refunded } => (
                Kind::OrderCancelled,
                "Order cancelled",
                match refunded {
                    Some(refunded) => {
                        format!("Your order {order} is cancelled; {refunded} is refunded.")
                    }
                    None => format!("Your order {order} is cancelled."),
                },
            ),
            Change::Shipped => (
                Kind::OrderShipped,
                "Order shipped",
                format!("Your order {order} is on its way."),
            ),
        };
        Some(Self {
            id: event.id,
            customer_id: event.customer_id.clone(),
            order_id: event.order_id,
            kind,
            title: title.to_owned(),
            body,
            occurred_at: event.occurred_at,
        })
    }
}

/// The order id as people quote it: its last twelve hex digits, unique
/// enough for one customer's orders.
fn short(id: OrderId) -> String {
    let text = id.to_string();
    format!("#{}", &text[text.len().saturating_sub(12)..])
}

fn plural(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use bazaar_domain::Money;

    use super::*;

    fn event(change: Change) -> OrderEvent {
        OrderEvent {
            id: EventId::parse("0190e5a4-0000-7000-8000-00000000000e").unwrap(),
            order_id: OrderId::parse("0190e5a4-0000-7000-8000-0000000000aa").unwrap(),
            customer_id: "customer-1".into(),
            occurred_at: 42,
            change,
        }
    }

    #[test]
    fn each_change_but_placed_renders_its_kind() {
        assert_eq!(Notification::render(&event(Change::Placed)), None);
        let confirmed = Notification::render(&event(Change::Confirmed {
            units: 3,
            total: Some(Money::from_parts("USD", 2500).unwrap()),
        }))
        .unwrap();
        assert_eq!(confirmed.kind, Kind::OrderConfirmed);
        assert_eq!(
            confirmed.body,
            "Your order #0000000000aa of 3 items is confirmed: 25.00 USD paid."
        );
        assert_eq!(
            confirmed.id.to_string(),
            "0190e5a4-0000-7000-8000-00000000000e"
        );
        let failed = Notification::render(&event(Change::Failed {
            message: "card declined".into(),
        }))
        .unwrap();
        assert_eq!(failed.kind, Kind::OrderFailed);
        assert!(failed.body.contains("(card declined)"), "{}", failed.body);
        let cancelled = Notification::render(&event(Change::Cancelled { refunded: None })).unwrap();
        assert_eq!(cancelled.body, "Your order #0000000000aa is cancelled.");
        assert_eq!(
            Notification::render(&event(Change::Shipped)).unwrap().kind,
            Kind::OrderShipped
        );
    }

    #[test]
    fn kinds_round_trip_through_their_stored_names() {
        for kind in [
            Kind::OrderConfirmed,
            Kind::OrderFailed,
            Kind::OrderCancelled,
            Kind::OrderShipped,
        ] {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::parse("order_placed"), None);
    }
}
