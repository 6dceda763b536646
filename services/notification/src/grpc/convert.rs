//! Domain types → wire messages.

use bazaar_proto::notification::v1 as pb;
use bazaar_runtime::db::timestamp;

use crate::domain::{Kind, Notification};

impl From<Kind> for pb::NotificationKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::OrderConfirmed => Self::OrderConfirmed,
            Kind::OrderFailed => Self::OrderFailed,
            Kind::OrderCancelled => Self::OrderCancelled,
            Kind::OrderShipped => Self::OrderShipped,
        }
    }
}

impl From<Notification> for pb::Notification {
    fn from(notification: Notification) -> Self {
        Self {
            notification_id: notification.id.to_string(),
            order_id: notification.order_id.to_string(),
            kind: pb::NotificationKind::from(notification.kind).into(),
            title: notification.title,
            body: notification.body,
            occur_time: Some(timestamp(notification.occurred_at)),
        }
    }
}
