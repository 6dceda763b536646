//! Order events as the transactional outbox holds them: the protobuf
//! message a change announces, its subject and its id. The store writes the
//! row in the same transaction as the change, so an event exists exactly
//! when its change does; a relay publishes the rows to the broker.
//!
//! Each row also keeps the W3C `traceparent` of the span that made the
//! change (the request's, or recovery's saga), so the relay's publish and
//! the consumers' work join the trace of the change they follow.

use bazaar_domain::{Money, id::Uuid};
use bazaar_proto::order::v1 as pb;
use bazaar_runtime::db::timestamp;
use prost::Message;

use crate::domain::{LineItem, Order, SagaState};

/// `EventMetadata.schema_version` of the events written now.
pub const SCHEMA_VERSION: u32 = 1;

/// Subjects: the event's message name under its package.
pub const PLACED: &str = "bazaar.order.v1.OrderPlaced";
pub const CONFIRMED: &str = "bazaar.order.v1.OrderConfirmed";
pub const FAILED: &str = "bazaar.order.v1.OrderFailed";
pub const CANCELLED: &str = "bazaar.order.v1.OrderCancelled";
pub const SHIPPED: &str = "bazaar.order.v1.OrderShipped";

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Also the broker's deduplication id (`Nats-Msg-Id`).
    pub event_id: String,
    pub order_id: String,
    pub subject: &'static str,
    pub payload: Vec<u8>,
    /// µs since the epoch: the change's own time.
    pub created_at: i64,
    /// The change's W3C trace context; empty outside any trace (telemetry
    /// off).
    pub traceparent: String,
}

/// The `traceparent` of the span current now, through the process's
/// propagator; empty when there is no trace to join.
pub fn current_traceparent() -> String {
    let mut headers = tonic::codegen::http::HeaderMap::new();
    bazaar_runtime::telemetry::inject_current_context(&mut headers);
    headers
        .get("traceparent")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn metadata(order: &Order, event_id: &str, at: i64) -> pb::EventMetadata {
    pb::EventMetadata {
        event_id: event_id.to_owned(),
        order_id: order.id.to_string(),
        customer_id: order.customer_id.clone(),
        occur_time: Some(timestamp(at)),
        schema_version: SCHEMA_VERSION,
    }
}

fn item(line: &LineItem) -> pb::EventItem {
    pb::EventItem {
        product_id: line.product_id.to_string(),
        quantity: i32::try_from(line.quantity).unwrap_or(i32::MAX),
        product_name: line.product_name.clone().unwrap_or_default(),
        unit_price: line.unit_price.map(Money::to_wire),
    }
}

/// The event of `order` having just entered its state at `at`, if that
/// state is one other services hear of: placed (the saga's first state),
/// confirmed, failed, cancelled, shipped. Steps in between are not events.
pub fn announcing(order: &Order, at: i64) -> Option<OutboxEvent> {
    let event_id = Uuid::now_v7().to_string();
    let meta = Some(metadata(order, &event_id, at));
    let (subject, payload) = match order.state {
        SagaState::Reserving => (
            PLACED,
            pb::OrderPlaced {
                metadata: meta,
                items: order.items.iter().map(item).collect(),
            }
            .encode_to_vec(),
        ),
        SagaState::Confirmed => (
            CONFIRMED,
            pb::OrderConfirmed {
                metadata: meta,
                items: order.items.iter().map(item).collect(),
                total: order.total.map(Money::to_wire),
                payment_id: order
                    .payment_id
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
            }
            .encode_to_vec(),
        ),
        SagaState::Failed => (
            FAILED,
            pb::OrderFailed {
                metadata: meta,
                reason: order
                    .failure_kind
                    .map(|kind| kind.as_str().to_owned())
                    .unwrap_or_default(),
                message: order.failure_reason.clone().unwrap_or_default(),
            }
            .encode_to_vec(),
        ),
        SagaState::Cancelled => (
            CANCELLED,
            pb::OrderCancelled {
                metadata: meta,
                reason: order.failure_reason.clone().unwrap_or_default(),
                // Only a paid order had something to refund.
                refunded: order.payment_id.and(order.total).map(Money::to_wire),
            }
            .encode_to_vec(),
        ),
        SagaState::Shipped => (SHIPPED, pb::OrderShipped { metadata: meta }.encode_to_vec()),
        SagaState::Charging
        | SagaState::Committing
        | SagaState::Releasing
        | SagaState::Refunding
        | SagaState::Cancelling => return None,
    };
    Some(OutboxEvent {
        event_id,
        order_id: order.id.to_string(),
        subject,
        payload,
        created_at: at,
        traceparent: current_traceparent(),
    })
}
