//! [`OrderStore`] over SQL, one dialect for PostgreSQL and SQLite.

use std::{
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use bazaar_domain::{IdError, Money};
use bazaar_runtime::{
    db::{self, Backend, Database, Migrations, now_micros},
    status::ServiceError,
};
use sqlx::{AnyConnection, Row, any::AnyRow, migrate::Migrator};
use tokio::sync::Notify;

use super::{Change, Created, NewOrder, OrderStore, Unfinished};
use crate::{
    domain::{FailureKind, LineItem, Order, OrderId, PageToken, SagaState},
    outbox::{self, OutboxEvent},
};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The order service's schema: the same DDL on both backends.
pub const MIGRATIONS: Migrations = Migrations::Portable(&MIGRATOR);

macro_rules! select_orders {
    ($rest:literal) => {
        concat!(
            "SELECT id, customer_id, idempotency_key, fingerprint, state, currency_code, \
             total_minor, failure_reason, failure_kind, payment_id, created_at, updated_at \
             FROM orders ",
            $rest
        )
    };
}

#[derive(Debug, Clone)]
pub struct SqlOrderStore {
    db: Database,
    /// Whether changes write their events into the outbox: only when a
    /// relay publishes them, else the outbox would only grow.
    outbox: bool,
    /// Told after each commit that wrote outbox rows, so the relay publishes
    /// them at once instead of at its next poll.
    written: Arc<Notify>,
}

impl SqlOrderStore {
    pub fn new(db: Database) -> Self {
        Self {
            db,
            outbox: false,
            written: Arc::new(Notify::new()),
        }
    }

    /// The same store, writing (or not) each change's event to the outbox.
    pub fn with_outbox(self, outbox: bool) -> Self {
        Self { outbox, ..self }
    }

    fn event_of(&self, order: &Order, at: i64) -> Option<OutboxEvent> {
        self.outbox.then(|| outbox::announcing(order, at)).flatten()
    }

    /// Completes once a transaction of this store that wrote outbox rows
    /// has committed since the last wait ended (or right away if one has):
    /// a commit while nobody waits is not lost.
    pub async fn outbox_written(&self) {
        self.written.notified().await;
    }
}

/// Order reads (`get` and `list`) by every [`SqlOrderStore`] of this
/// process: how tests show that watchers cost no reads each.
static READS: AtomicU64 = AtomicU64::new(0);

/// How many orders reads the stores of this process have made.
pub fn reads() -> u64 {
    READS.load(Ordering::Relaxed)
}

/// An id this service stored: one that does not parse is corruption.
fn stored_id<T: FromStr<Err = IdError>>(row: &AnyRow, column: &str) -> Result<T, ServiceError> {
    let raw: String = row.try_get(column)?;
    raw.parse()
        .map_err(|e| ServiceError::internal(format!("stored {column} {raw:?} {e}")))
}

/// A text column where the empty string stands for none.
fn optional_text(row: &AnyRow, column: &str) -> Result<Option<String>, ServiceError> {
    let text: String = row.try_get(column)?;
    Ok((!text.is_empty()).then_some(text))
}

fn order_from_row(row: &AnyRow) -> Result<Order, ServiceError> {
    let state: String = row.try_get("state")?;
    let currency: String = row.try_get("currency_code")?;
    let total = if currency.is_empty() {
        None
    } else {
        Some(
            Money::from_parts(&currency, row.try_get("total_minor")?)
                .map_err(ServiceError::internal)?,
        )
    };
    let payment_id = match optional_text(row, "payment_id")? {
        Some(_) => Some(stored_id(row, "payment_id")?),
        None => None,
    };
    Ok(Order {
        id: stored_id(row, "id")?,
        customer_id: row.try_get("customer_id")?,
        idempotency_key: row.try_get("idempotency_key")?,
        fingerprint: row.try_get("fingerprint")?,
        state: SagaState::parse(&state)
            .ok_or_else(|| ServiceError::internal(format!("unknown order state {state:?}")))?,
        items: Vec::new(),
        total,
        failure_reason: optional_text(row, "failure_reason")?,
        // A kind this build does not know (written by a newer one) is still
        // a failure.
        failure_kind: optional_text(row, "failure_kind")?
            .map(|kind| FailureKind::parse(&kind).unwrap_or(FailureKind::Other)),
        payment_id,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Fills in an order's lines.
async fn with_items(conn: &mut AnyConnection, mut order: Order) -> Result<Order, ServiceError> {
    let rows = sqlx::query(
        "SELECT product_id, quantity, product_name, unit_price_minor FROM order_items \
         WHERE order_id = $1 ORDER BY position",
    )
    .bind(order.id.to_string())
    .fetch_all(&mut *conn)
    .await?;
    order.items = rows
        .iter()
        .map(|row| {
            let quantity: i32 = row.try_get("quantity")?;
            let unit_price = match order.total {
                Some(total) => Some(
                    Money::new(total.currency(), row.try_get("unit_price_minor")?)
                        .map_err(ServiceError::internal)?,
                ),
                None => None,
            };
            Ok(LineItem {
                product_id: stored_id(row, "product_id")?,
                quantity: u32::try_from(quantity).map_err(ServiceError::internal)?,
                product_name: optional_text(row, "product_name")?,
                unit_price,
            })
        })
        .collect::<Result<_, ServiceError>>()?;
    Ok(order)
}

async fn order_in(conn: &mut AnyConnection, id: OrderId) -> Result<Option<Order>, ServiceError> {
    let row = sqlx::query(select_orders!("WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(Some(with_items(conn, order_from_row(&row)?).await?)),
        None => Ok(None),
    }
}

/// The order recorded under `order`'s customer and idempotency key.
async fn order_by_key(
    conn: &mut AnyConnection,
    order: &NewOrder<'_>,
) -> Result<Order, ServiceError> {
    let row = sqlx::query(select_orders!(
        "WHERE customer_id = $1 AND idempotency_key = $2"
    ))
    .bind(order.customer_id)
    .bind(order.idempotency_key)
    .fetch_one(&mut *conn)
    .await?;
    with_items(conn, order_from_row(&row)?).await
}

/// `order` as it is after moving to `to` with `change`.
fn moved(order: &Order, to: SagaState, change: Change, now: i64) -> Order {
    let mut moved = order.clone();
    moved.state = to;
    moved.updated_at = now;
    if let Some(reason) = change.failure_reason {
        moved.failure_reason = Some(reason);
    }
    if let Some(kind) = change.failure_kind {
        moved.failure_kind = Some(kind);
    }
    if let Some(payment_id) = change.payment_id {
        moved.payment_id = Some(payment_id);
    }
    if let Some((lines, total)) = change.priced {
        for (item, (name, price)) in moved.items.iter_mut().zip(lines) {
            item.product_name = Some(name);
            item.unit_price = Some(price);
        }
        moved.total = Some(total);
    }
    moved
}

/// The conditional move of an order: `$1` the new state, `$2` now, `$3`…`$6`
/// and `$9` what the change sets (NULL: unchanged), `$7` the id and `$8`
/// the state it must still be in.
const MOVE_ORDER: &str = "UPDATE orders SET state = $1, updated_at = $2, \
     failure_reason = COALESCE($3, failure_reason), payment_id = COALESCE($4, payment_id), \
     currency_code = COALESCE($5, currency_code), total_minor = COALESCE($6, total_minor), \
     failure_kind = COALESCE($9, failure_kind) \
     WHERE id = $7 AND state = $8";

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// A new order's row, in its first state; nothing if its key was used.
const INSERT_ORDER: &str = "INSERT INTO orders (id, customer_id, idempotency_key, fingerprint, \
     state, lease_until, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
     ON CONFLICT (customer_id, idempotency_key) DO NOTHING";

/// Binds [`INSERT_ORDER`]'s seven parameters.
fn bind_new_order<'q>(query: AnyQuery<'q>, order: &NewOrder<'q>, now: i64) -> AnyQuery<'q> {
    query
        .bind(order.id.to_string())
        .bind(order.customer_id)
        .bind(order.idempotency_key)
        .bind(order.fingerprint)
        .bind(SagaState::Reserving.as_str())
        .bind(order.lease_until)
        .bind(now)
}

/// Binds [`MOVE_ORDER`]'s nine parameters.
fn bind_move<'q>(
    query: AnyQuery<'q>,
    order: &Order,
    to: SagaState,
    change: &Change,
    now: i64,
) -> AnyQuery<'q> {
    query
        .bind(to.as_str())
        .bind(now)
        .bind(change.failure_reason.clone())
        .bind(change.payment_id.map(|id| id.to_string()))
        .bind(
            change
                .priced
                .as_ref()
                .map(|(_, total)| total.currency().code()),
        )
        .bind(change.priced.as_ref().map(|(_, total)| total.minor()))
        .bind(order.id.to_string())
        .bind(order.state.as_str())
        .bind(change.failure_kind.map(FailureKind::as_str))
}

/// Binds an outbox row's six values, in [`write_event`]'s column order.
fn bind_event<'q>(query: AnyQuery<'q>, event: &'q OutboxEvent) -> AnyQuery<'q> {
    query
        .bind(&event.event_id)
        .bind(&event.order_id)
        .bind(event.subject)
        .bind(event.payload.clone())
        .bind(event.created_at)
        .bind(&event.traceparent)
}

/// Writes `event` into the outbox inside the transaction of its change.
async fn write_event(tx: &mut AnyConnection, event: &OutboxEvent) -> Result<(), ServiceError> {
    bind_event(
        sqlx::query(
            "INSERT INTO order_outbox (event_id, order_id, subject, payload, created_at, traceparent) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        ),
        event,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// An outbox row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub event_id: String,
    pub order_id: String,
    pub subject: String,
    pub payload: Vec<u8>,
    pub created_at: i64,
    /// The change's W3C trace context; empty when it had none.
    pub traceparent: String,
    /// When the broker acknowledged it; `None` while pending.
    pub sent_at: Option<i64>,
}

fn stored_event(row: &AnyRow) -> Result<StoredEvent, ServiceError> {
    Ok(StoredEvent {
        event_id: row.try_get("event_id")?,
        order_id: row.try_get("order_id")?,
        subject: row.try_get("subject")?,
        payload: row.try_get("payload")?,
        created_at: row.try_get("created_at")?,
        traceparent: row.try_get("traceparent")?,
        sent_at: row.try_get("sent_at")?,
    })
}

/// Ids per `mark_sent` statement: a whole default batch (256), and far
/// below the bound parameters either backend allows in one statement.
const MARK_CHUNK: usize = 256;

/// `UPDATE … WHERE event_id IN ($2, …)` for `count` ids. Only numbered
/// placeholders are generated (both backends read `$n`); every value is bound.
fn mark_sent_statement(count: usize) -> String {
    let placeholders: Vec<String> = (2..count + 2).map(|n| format!("${n}")).collect();
    format!(
        "UPDATE order_outbox SET sent_at = $1 WHERE event_id IN ({})",
        placeholders.join(", ")
    )
}

macro_rules! select_events {
    ($rest:literal) => {
        concat!(
            "SELECT event_id, order_id, subject, payload, created_at, traceparent, sent_at \
             FROM order_outbox ",
            $rest
        )
    };
}

impl SqlOrderStore {
    /// Every event of one order, in the order they happened.
    pub async fn events_of(&self, order_id: OrderId) -> Result<Vec<StoredEvent>, ServiceError> {
        let rows = sqlx::query(select_events!(
            "WHERE order_id = $1 ORDER BY created_at, event_id"
        ))
        .bind(order_id.to_string())
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(stored_event).collect()
    }

    /// The oldest `limit` events not sent yet, in the order they happened.
    pub async fn pending_events(&self, limit: u32) -> Result<Vec<StoredEvent>, ServiceError> {
        let rows = sqlx::query(select_events!(
            "WHERE sent_at IS NULL ORDER BY created_at, event_id LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(stored_event).collect()
    }

    /// Marks events the broker acknowledged: one statement per
    /// [`MARK_CHUNK`] ids (one for a default batch), in one transaction.
    pub async fn mark_sent(&self, event_ids: &[String], at: i64) -> Result<(), ServiceError> {
        let mut tx = self.db.begin_write().await?;
        for chunk in event_ids.chunks(MARK_CHUNK) {
            let statement = mark_sent_statement(chunk.len());
            // One text per chunk length: not worth a prepared statement each.
            let mut update = sqlx::query(&statement).persistent(false).bind(at);
            for id in chunk {
                update = update.bind(id);
            }
            update.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// How many events wait to be sent.
    pub async fn pending_count(&self) -> Result<u64, ServiceError> {
        let count: i64 =
            sqlx::query("SELECT COUNT(*) AS pending FROM order_outbox WHERE sent_at IS NULL")
                .fetch_one(self.db.pool())
                .await?
                .try_get("pending")?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Deletes events sent before `before`; how many.
    pub async fn prune_sent(&self, before: i64) -> Result<u64, ServiceError> {
        Ok(
            sqlx::query("DELETE FROM order_outbox WHERE sent_at IS NOT NULL AND sent_at < $1")
                .bind(before)
                .execute(self.db.pool())
                .await?
                .rows_affected(),
        )
    }
}

/// On PostgreSQL a change and everything that goes with it (lines, outbox
/// row) is one statement of data-modifying WITH parts: one round trip and
/// one commit, as atomic as a transaction around them.
impl SqlOrderStore {
    /// [`OrderStore::create`] in one statement.
    async fn create_in_one(
        &self,
        order: &NewOrder<'_>,
        created: Order,
        event: Option<OutboxEvent>,
        now: i64,
    ) -> Result<Created, ServiceError> {
        let lines = order.items.len();
        let mut statement = format!("WITH o AS ({INSERT_ORDER} RETURNING id)");
        let mut next = 8;
        if lines > 0 {
            statement.push_str(&format!(
                ", i AS (INSERT INTO order_items (position, product_id, quantity, order_id) \
                 SELECT v.column1, v.column2, v.column3, o.id FROM o, (VALUES {}) AS v)",
                db::values_rows(lines, 3, next)
            ));
            next += 3 * lines;
        }
        if event.is_some() {
            statement.push_str(&format!(", {}", outbox_part("o", next)));
        }
        statement.push_str(" SELECT COUNT(*) AS n FROM o");
        let mut insert = bind_new_order(
            sqlx::query(&statement).persistent(db::prepare_rows(lines)),
            order,
            now,
        );
        for (position, (product_id, quantity)) in order.items.iter().enumerate() {
            insert = insert
                .bind(i32::try_from(position).map_err(ServiceError::internal)?)
                .bind(product_id.to_string())
                .bind(i32::try_from(*quantity).map_err(ServiceError::internal)?);
        }
        if let Some(event) = &event {
            insert = bind_event(insert, event);
        }
        let inserted: i64 = insert.fetch_one(self.db.pool()).await?.try_get("n")?;
        if inserted == 0 {
            // The key was used before (by a transaction that has ended: the
            // conflict waited for it): that order is the answer.
            let mut conn = self.db.pool().acquire().await?;
            return Ok(Created::Existing(order_by_key(&mut conn, order).await?));
        }
        if event.is_some() {
            self.written.notify_one();
        }
        Ok(Created::New(created))
    }

    /// [`OrderStore::transition`] with lines to price or an event to write,
    /// in one statement; whether the order moved.
    async fn transition_in_one(
        &self,
        order: &Order,
        to: SagaState,
        change: &Change,
        event: Option<&OutboxEvent>,
        now: i64,
    ) -> Result<bool, ServiceError> {
        let lines = change.priced.as_ref().map_or(&[][..], |(lines, _)| lines);
        let mut statement = format!("WITH u AS ({MOVE_ORDER} RETURNING id)");
        let mut next = 10;
        if !lines.is_empty() {
            statement.push_str(&format!(
                ", i AS (UPDATE order_items SET product_name = v.column2, \
                 unit_price_minor = v.column3 FROM u, (VALUES {}) AS v \
                 WHERE order_items.order_id = u.id AND order_items.position = v.column1)",
                db::values_rows(lines.len(), 3, next)
            ));
            next += 3 * lines.len();
        }
        if event.is_some() {
            statement.push_str(&format!(", {}", outbox_part("u", next)));
        }
        statement.push_str(" SELECT COUNT(*) AS n FROM u");
        let mut update = bind_move(
            sqlx::query(&statement).persistent(db::prepare_rows(lines.len())),
            order,
            to,
            change,
            now,
        );
        for (position, (name, price)) in lines.iter().enumerate() {
            update = update
                .bind(i32::try_from(position).map_err(ServiceError::internal)?)
                .bind(name.as_str())
                .bind(price.minor());
        }
        if let Some(event) = event {
            update = bind_event(update, event);
        }
        let moved: i64 = update.fetch_one(self.db.pool()).await?.try_get("n")?;
        Ok(moved == 1)
    }
}

/// The WITH part writing an outbox row (six values from `$first`) if the
/// part `changed` wrote a row.
fn outbox_part(changed: &str, first: usize) -> String {
    format!(
        "e AS (INSERT INTO order_outbox (event_id, order_id, subject, payload, created_at, \
         traceparent) SELECT * FROM (VALUES {}) AS v WHERE EXISTS (SELECT 1 FROM {changed}))",
        db::values_rows(1, 6, first)
    )
}

impl OrderStore for SqlOrderStore {
    async fn create(&self, order: NewOrder<'_>) -> Result<Created, ServiceError> {
        let now = now_micros();
        let created = Order {
            id: order.id,
            customer_id: order.customer_id.to_owned(),
            idempotency_key: order.idempotency_key.to_owned(),
            fingerprint: order.fingerprint.to_owned(),
            state: SagaState::Reserving,
            items: order
                .items
                .iter()
                .map(|(product_id, quantity)| LineItem {
                    product_id: *product_id,
                    quantity: *quantity,
                    product_name: None,
                    unit_price: None,
                })
                .collect(),
            total: None,
            failure_reason: None,
            failure_kind: None,
            payment_id: None,
            created_at: now,
            updated_at: now,
        };
        let event = self.event_of(&created, now);
        if self.db.backend() == Backend::Postgres {
            return self.create_in_one(&order, created, event, now).await;
        }
        let mut tx = self.db.begin_write().await?;
        let inserted = bind_new_order(sqlx::query(INSERT_ORDER), &order, now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if !inserted {
            // The key was used before: that order is the answer.
            let existing = order_by_key(&mut tx, &order).await?;
            tx.commit().await?;
            return Ok(Created::Existing(existing));
        }
        // Every line in one statement.
        let statement = format!(
            "INSERT INTO order_items (position, product_id, quantity, order_id) VALUES {}",
            db::values_rows(order.items.len(), 4, 1)
        );
        let mut insert = sqlx::query(&statement).persistent(db::prepare_rows(order.items.len()));
        for (position, (product_id, quantity)) in order.items.iter().enumerate() {
            insert = insert
                .bind(i32::try_from(position).map_err(ServiceError::internal)?)
                .bind(product_id.to_string())
                .bind(i32::try_from(*quantity).map_err(ServiceError::internal)?)
                .bind(order.id.to_string());
        }
        insert.execute(&mut *tx).await?;
        if let Some(event) = &event {
            write_event(&mut tx, event).await?;
        }
        tx.commit().await?;
        if event.is_some() {
            self.written.notify_one();
        }
        Ok(Created::New(created))
    }

    async fn get(&self, id: OrderId) -> Result<Option<Order>, ServiceError> {
        READS.fetch_add(1, Ordering::Relaxed);
        let mut conn = self.db.pool().acquire().await?;
        order_in(&mut conn, id).await
    }

    async fn transition(
        &self,
        order: &Order,
        to: SagaState,
        change: Change,
    ) -> Result<Option<Order>, ServiceError> {
        let now = now_micros();
        // One conditional statement: only the writer that finds the order
        // still in its old state moves it.
        let update = bind_move(sqlx::query(MOVE_ORDER), order, to, &change, now);
        let after = moved(order, to, change.clone(), now);
        let event = self.event_of(&after, now);
        let lines = change.priced.as_ref().map(|(lines, _)| lines);
        if lines.is_none() && event.is_none() {
            // A lone statement needs no transaction around it.
            let moved_rows = update.execute(self.db.pool()).await?.rows_affected();
            return Ok((moved_rows == 1).then_some(after));
        }
        if self.db.backend() == Backend::Postgres {
            let moved = self
                .transition_in_one(order, to, &change, event.as_ref(), now)
                .await?;
            if moved && event.is_some() {
                self.written.notify_one();
            }
            return Ok(moved.then_some(after));
        }
        let mut tx = self.db.begin_write().await?;
        if update.execute(&mut *tx).await?.rows_affected() == 0 {
            return Ok(None);
        }
        if let Some(lines) = lines.filter(|lines| !lines.is_empty()) {
            // Every line's name and price in one statement (VALUES columns
            // are column1… on both backends).
            let statement = format!(
                "UPDATE order_items SET product_name = v.column2, unit_price_minor = v.column3 \
                 FROM (VALUES {}) AS v \
                 WHERE order_items.order_id = $1 AND order_items.position = v.column1",
                db::values_rows(lines.len(), 3, 2)
            );
            let mut update = sqlx::query(&statement)
                .persistent(db::prepare_rows(lines.len()))
                .bind(order.id.to_string());
            for (position, (name, price)) in lines.iter().enumerate() {
                update = update
                    .bind(i32::try_from(position).map_err(ServiceError::internal)?)
                    .bind(name.as_str())
                    .bind(price.minor());
            }
            update.execute(&mut *tx).await?;
        }
        // The event commits with the change it announces, or neither does.
        if let Some(event) = &event {
            write_event(&mut tx, event).await?;
        }
        tx.commit().await?;
        if event.is_some() {
            self.written.notify_one();
        }
        Ok(Some(after))
    }

    async fn claim_stranded(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<Order>, ServiceError> {
        let candidates = sqlx::query(
            "SELECT id FROM orders WHERE lease_until < $1 AND state IN \
             ('reserving', 'charging', 'committing', 'releasing', 'refunding', 'cancelling') \
             ORDER BY lease_until LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(self.db.pool())
        .await?;
        let mut claimed = Vec::with_capacity(candidates.len());
        for row in &candidates {
            let id: OrderId = stored_id(row, "id")?;
            // Conditional, so two workers never drive the same order.
            let taken = sqlx::query(
                "UPDATE orders SET lease_until = $1 WHERE id = $2 AND lease_until < $3",
            )
            .bind(lease_until)
            .bind(id.to_string())
            .bind(now)
            .execute(self.db.pool())
            .await?
            .rows_affected()
                == 1;
            if taken && let Some(order) = self.get(id).await? {
                claimed.push(order);
            }
        }
        Ok(claimed)
    }

    async fn unfinished(&self) -> Result<Unfinished, ServiceError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM orders WHERE state IN \
             ('reserving', 'charging', 'committing', 'releasing', 'refunding', 'cancelling')",
        )
        .fetch_one(self.db.pool())
        .await?;
        let count: i64 = row.try_get("n")?;
        Ok(Unfinished {
            count: u64::try_from(count).map_err(ServiceError::internal)?,
            oldest_created_at: row.try_get("oldest")?,
        })
    }

    async fn renew_lease(&self, id: OrderId, lease_until: i64) -> Result<(), ServiceError> {
        // Only ever later, so a renewal never shortens a claim.
        sqlx::query("UPDATE orders SET lease_until = $1 WHERE id = $2 AND lease_until < $1")
            .bind(lease_until)
            .bind(id.to_string())
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    async fn list(
        &self,
        customer_id: Option<&str>,
        after: Option<&PageToken>,
        limit: u32,
    ) -> Result<Vec<Order>, ServiceError> {
        READS.fetch_add(1, Ordering::Relaxed);
        // One statement for every case: an empty filter matches everyone and
        // the cursor starts past the newest order on the first page.
        let (after_time, after_id) = after.map_or((i64::MAX, String::new()), |t| {
            (t.created_at, t.id.to_string())
        });
        let rows = sqlx::query(select_orders!(
            "WHERE ($1 = '' OR customer_id = $1) \
             AND (created_at < $2 OR (created_at = $2 AND id < $3) OR $3 = '') \
             ORDER BY created_at DESC, id DESC LIMIT $4"
        ))
        .bind(customer_id.unwrap_or(""))
        .bind(after_time)
        .bind(&after_id)
        .bind(i64::from(limit))
        .fetch_all(self.db.pool())
        .await?;
        let mut conn = self.db.pool().acquire().await?;
        let mut orders = Vec::with_capacity(rows.len());
        for row in &rows {
            orders.push(with_items(&mut conn, order_from_row(row)?).await?);
        }
        Ok(orders)
    }
}
