//! Where notifications are kept: one table, the same SQL on PostgreSQL and
//! SQLite. The event id is the key, so recording an event twice keeps one.

use std::fmt::Display;

use bazaar_runtime::{
    db::{Database, Migrations, now_micros},
    status::ServiceError,
};
use sqlx::{Row, any::AnyRow, migrate::Migrator};

use crate::domain::{EventId, Kind, Notification, OrderId, PageToken};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The notification service's schema: the same DDL on both backends.
pub const MIGRATIONS: Migrations = Migrations::Portable(&MIGRATOR);

#[derive(Debug, Clone)]
pub struct NotificationStore {
    db: Database,
}

impl NotificationStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Keeps `notification` unless one for its event exists; whether it
    /// was new.
    pub async fn record(&self, notification: &Notification) -> Result<bool, ServiceError> {
        let inserted = sqlx::query(
            "INSERT INTO notifications \
             (event_id, customer_id, order_id, kind, title, body, occurred_at, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(notification.id.to_string())
        .bind(&notification.customer_id)
        .bind(notification.order_id.to_string())
        .bind(notification.kind.as_str())
        .bind(&notification.title)
        .bind(&notification.body)
        .bind(notification.occurred_at)
        .bind(now_micros())
        .execute(self.db.pool())
        .await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// Up to `limit` of the customer's notifications after `after`, newest
    /// first.
    pub async fn list(
        &self,
        customer_id: &str,
        after: Option<&PageToken>,
        limit: u32,
    ) -> Result<Vec<Notification>, ServiceError> {
        // The first page starts past the newest possible notification.
        let (after_time, after_id) = after.map_or((i64::MAX, String::new()), |token| {
            (token.occurred_at, token.id.to_string())
        });
        let rows = sqlx::query(
            "SELECT event_id, customer_id, order_id, kind, title, body, occurred_at \
             FROM notifications WHERE customer_id = $1 \
             AND (occurred_at < $2 OR (occurred_at = $2 AND event_id < $3) OR $3 = '') \
             ORDER BY occurred_at DESC, event_id DESC LIMIT $4",
        )
        .bind(customer_id)
        .bind(after_time)
        .bind(&after_id)
        .bind(i64::from(limit))
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(notification_from_row).collect()
    }
}

/// A stored value that no longer parses is a bug (or a hand edit), not the
/// caller's fault.
fn stored<T, E: Display>(what: &'static str, value: Result<T, E>) -> Result<T, ServiceError> {
    value.map_err(|e| ServiceError::internal(format!("stored {what} is invalid: {e}")))
}

fn notification_from_row(row: &AnyRow) -> Result<Notification, ServiceError> {
    let id: String = row.try_get("event_id")?;
    let order_id: String = row.try_get("order_id")?;
    let kind: String = row.try_get("kind")?;
    Ok(Notification {
        id: stored("event id", EventId::parse(&id))?,
        customer_id: row.try_get("customer_id")?,
        order_id: stored("order id", OrderId::parse(&order_id))?,
        kind: stored("kind", Kind::parse(&kind).ok_or(kind))?,
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        occurred_at: row.try_get("occurred_at")?,
    })
}
