//! The consumer's wire edge: an order event's protobuf message, named by
//! the last part of its subject (`<prefix>.OrderConfirmed`), parsed into an
//! [`OrderEvent`]. Whatever does not parse is poison: no retry can fix it.

use std::fmt;

use bazaar_domain::Money;
use bazaar_proto::order::v1 as pb;
use prost::Message;

use crate::domain::{Change, EventId, OrderEvent, OrderId};

/// The `EventMetadata.schema_version` this service understands.
pub const SCHEMA_VERSION: u32 = 1;

/// Why a message is not an order event this service can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poison(pub String);

impl fmt::Display for Poison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Poison {}

fn poison(what: impl Into<String>) -> Poison {
    Poison(what.into())
}

fn decoded<M: Message + Default>(payload: &[u8]) -> Result<M, Poison> {
    M::decode(payload).map_err(|e| poison(format!("not a valid message: {e}")))
}

fn money(wire: Option<&bazaar_proto::common::v1::Money>) -> Result<Option<Money>, Poison> {
    match wire {
        None => Ok(None),
        Some(wire) => Money::from_wire(Some(wire))
            .map(Some)
            .map_err(|e| poison(format!("bad amount: {e}"))),
    }
}

fn units(items: &[pb::EventItem]) -> u64 {
    items
        .iter()
        .map(|item| u64::try_from(item.quantity).unwrap_or(0))
        .sum()
}

/// Parses the event published on `subject`.
pub fn parse(subject: &str, payload: &[u8]) -> Result<OrderEvent, Poison> {
    let name = subject.rsplit('.').next().unwrap_or(subject);
    let (metadata, change) = match name {
        "OrderPlaced" => {
            let event: pb::OrderPlaced = decoded(payload)?;
            (event.metadata, Change::Placed)
        }
        "OrderConfirmed" => {
            let event: pb::OrderConfirmed = decoded(payload)?;
            let change = Change::Confirmed {
                units: units(&event.items),
                total: money(event.total.as_ref())?,
            };
            (event.metadata, change)
        }
        "OrderFailed" => {
            let event: pb::OrderFailed = decoded(payload)?;
            (
                event.metadata,
                Change::Failed {
                    message: event.message,
                },
            )
        }
        "OrderCancelled" => {
            let event: pb::OrderCancelled = decoded(payload)?;
            let change = Change::Cancelled {
                refunded: money(event.refunded.as_ref())?,
            };
            (event.metadata, change)
        }
        "OrderShipped" => {
            let event: pb::OrderShipped = decoded(payload)?;
            (event.metadata, Change::Shipped)
        }
        other => return Err(poison(format!("unknown event type {other:?}"))),
    };
    let metadata = metadata.ok_or_else(|| poison("no metadata"))?;
    if metadata.schema_version != SCHEMA_VERSION {
        return Err(poison(format!(
            "schema version {} (this service reads {SCHEMA_VERSION})",
            metadata.schema_version
        )));
    }
    if metadata.customer_id.is_empty() {
        return Err(poison("no customer id"));
    }
    let occur_time = metadata
        .occur_time
        .ok_or_else(|| poison("no occurrence time"))?;
    let occurred_at = occur_time
        .seconds
        .checked_mul(1_000_000)
        .and_then(|micros| micros.checked_add(i64::from(occur_time.nanos / 1_000)))
        .ok_or_else(|| poison("occurrence time out of range"))?;
    Ok(OrderEvent {
        id: EventId::parse(&metadata.event_id).map_err(|e| poison(format!("event_id {e}")))?,
        order_id: OrderId::parse(&metadata.order_id)
            .map_err(|e| poison(format!("order_id {e}")))?,
        customer_id: metadata.customer_id,
        occurred_at,
        change,
    })
}

#[cfg(test)]
mod tests {
    use prost_types::Timestamp;

    use super::*;

    const EVENT: &str = "0190e5a4-0000-7000-8000-00000000000e";
    const ORDER: &str = "0190e5a4-0000-7000-8000-0000000000aa";

    fn metadata(version: u32) -> Option<pb::EventMetadata> {
        Some(pb::EventMetadata {
            event_id: EVENT.into(),
            order_id: ORDER.into(),
            customer_id: "customer-1".into(),
            occur_time: Some(Timestamp {
                seconds: 10,
                nanos: 5_000,
            }),
            schema_version: version,
        })
    }

    #[test]
    fn a_confirmed_order_parses_with_its_units_and_total() {
        let payload = pb::OrderConfirmed {
            metadata: metadata(1),
            items: vec![
                pb::EventItem {
                    quantity: 2,
                    ..Default::default()
                },
                pb::EventItem {
                    quantity: 1,
                    ..Default::default()
                },
            ],
            total: Some(Money::from_parts("EUR", 1234).unwrap().to_wire()),
            payment_id: String::new(),
        }
        .encode_to_vec();
        let event = parse("bazaar.order.v1.OrderConfirmed", &payload).unwrap();
        assert_eq!(event.id.to_string(), EVENT);
        assert_eq!(event.order_id.to_string(), ORDER);
        assert_eq!(event.occurred_at, 10_000_005);
        assert_eq!(
            event.change,
            Change::Confirmed {
                units: 3,
                total: Some(Money::from_parts("EUR", 1234).unwrap())
            }
        );
    }

    #[test]
    fn what_cannot_be_read_is_poison() {
        let shipped = |version| {
            pb::OrderShipped {
                metadata: metadata(version),
            }
            .encode_to_vec()
        };
        assert!(parse("p.OrderShipped", &shipped(1)).is_ok());
        // A newer schema, an unknown type, bytes that are no message, a
        // message without its metadata.
        assert!(parse("p.OrderShipped", &shipped(2)).is_err());
        assert!(parse("p.OrderReturned", &shipped(1)).is_err());
        assert!(parse("p.OrderShipped", b"\xff\xff\xff").is_err());
        assert!(parse("p.OrderShipped", &[]).is_err());
    }
}
