//! Domain values → wire messages.

use bazaar_domain::Money;
use bazaar_proto::order::v1 as pb;
use bazaar_runtime::db::timestamp;

use crate::domain::{LineItem, Order, OrderStatus};

impl From<OrderStatus> for pb::OrderStatus {
    fn from(status: OrderStatus) -> Self {
        match status {
            OrderStatus::Pending => Self::Pending,
            OrderStatus::Confirmed => Self::Confirmed,
            OrderStatus::Shipped => Self::Shipped,
            OrderStatus::Failed => Self::Failed,
            OrderStatus::Cancelled => Self::Cancelled,
        }
    }
}

impl From<&LineItem> for pb::OrderItem {
    fn from(item: &LineItem) -> Self {
        Self {
            product_id: item.product_id.to_string(),
            product_name: item.product_name.clone().unwrap_or_default(),
            quantity: i32::try_from(item.quantity).unwrap_or(i32::MAX),
            unit_price: item.unit_price.map(Money::to_wire),
            line_total: item.total().map(Money::to_wire),
        }
    }
}

impl From<&Order> for pb::Order {
    fn from(order: &Order) -> Self {
        Self {
            id: order.id.to_string(),
            customer_id: order.customer_id.clone(),
            items: order.items.iter().map(Into::into).collect(),
            total: order.total.map(Money::to_wire),
            status: pb::OrderStatus::from(order.state.status()).into(),
            failure_reason: order.failure_reason.clone().unwrap_or_default(),
            payment_id: order
                .payment_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            idempotency_key: order.idempotency_key.clone(),
            create_time: Some(timestamp(order.created_at)),
            update_time: Some(timestamp(order.updated_at)),
        }
    }
}
