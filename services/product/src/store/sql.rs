//! [`ProductStore`] over PostgreSQL or SQLite, with one dialect for both.
//!
//! Stock is never read-then-written: every change is a conditional `UPDATE`
//! (`... WHERE stock >= $1`) inside a write transaction, so concurrent
//! reservations cannot oversell on either backend. Transactions that touch
//! several products lock them in product-id order, so they cannot deadlock.

use std::time::Duration;

use bazaar_domain::Money;
use bazaar_runtime::{
    db::{self, Database, Migrations},
    status::ServiceError,
};
use sqlx::{AnyConnection, FromRow, migrate::Migrator};

use super::{ProductStore, StoreResult};
use crate::domain::{
    Invalid,
    listing::{Cursor, ListQuery, Page},
    product::{
        Category, Description, NewProduct, Product, ProductId, ProductName, ProductPatch, Sku,
        StockLevel,
    },
    reservation::{
        OrderId, Quantity, Reservation, ReservationState, ReserveRequest, ReservedItem, StockItem,
    },
};

static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");

/// The schema, per backend: PostgreSQL needs `COLLATE "C"` to order names
/// bytewise as SQLite does, and SQLite has no collation of that name.
pub const MIGRATIONS: Migrations = Migrations::PerBackend {
    postgres: &POSTGRES,
    sqlite: &SQLITE,
};

/// How many expired reservations the sweeper handles per query.
const SWEEP_BATCH: i64 = 100;

/// The columns of a [`ProductRow`], as a literal so queries stay static
/// strings (`concat!`, never `format!`).
macro_rules! product_columns {
    () => {
        "id, sku, name, description, category, price_minor, currency_code, stock, create_time, update_time"
    };
}

/// The catalog in a SQL database.
#[derive(Debug, Clone)]
pub struct SqlStore {
    db: Database,
}

impl SqlStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

#[derive(FromRow)]
struct ProductRow {
    id: String,
    sku: String,
    name: String,
    description: String,
    category: String,
    price_minor: i64,
    currency_code: String,
    stock: i64,
    create_time: i64,
    update_time: i64,
}

impl TryFrom<ProductRow> for Product {
    type Error = ServiceError;

    fn try_from(row: ProductRow) -> Result<Self, ServiceError> {
        Ok(Self {
            id: stored("product id", ProductId::parse(&row.id))?,
            sku: stored("sku", Sku::parse(row.sku))?,
            name: stored("name", ProductName::parse(row.name))?,
            description: stored("description", Description::parse(row.description))?,
            category: stored("category", Category::parse(row.category))?,
            price: stored_money(row.price_minor, &row.currency_code)?,
            stock: stored("stock", StockLevel::parse(row.stock))?,
            create_time: row.create_time,
            update_time: row.update_time,
        })
    }
}

#[derive(FromRow)]
struct ReservationRow {
    order_id: String,
    state: String,
    create_time: i64,
    expire_time: i64,
}

#[derive(FromRow)]
struct ReservedItemRow {
    product_id: String,
    quantity: i64,
    product_name: String,
    unit_price_minor: i64,
    currency_code: String,
}

impl TryFrom<ReservedItemRow> for ReservedItem {
    type Error = ServiceError;

    fn try_from(row: ReservedItemRow) -> Result<Self, ServiceError> {
        let quantity = i32::try_from(row.quantity).map_err(|_| Invalid("is out of range"));
        Ok(Self {
            product_id: stored("product id", ProductId::parse(&row.product_id))?,
            quantity: stored("quantity", quantity.and_then(Quantity::parse))?,
            product_name: row.product_name,
            unit_price: stored_money(row.unit_price_minor, &row.currency_code)?,
        })
    }
}

/// A stored value that no longer parses is a bug (or a hand edit), not the
/// caller's fault.
fn stored<T, E: std::fmt::Display>(what: &'static str, value: Result<T, E>) -> StoreResult<T> {
    value.map_err(|e| ServiceError::internal(format!("stored {what} is invalid: {e}")))
}

fn stored_money(amount: i64, currency: &str) -> StoreResult<Money> {
    Money::from_parts(currency, amount)
        .map_err(|e| ServiceError::internal(format!("stored price is invalid: {e}")))
}

/// `ALREADY_EXISTS` for a taken SKU, the usual mapping otherwise.
fn sku_taken(sku: Option<&Sku>) -> impl FnOnce(sqlx::Error) -> ServiceError + '_ {
    move |error| {
        if db::is_unique_violation(&error) {
            match sku {
                Some(sku) => {
                    ServiceError::AlreadyExists(format!("a product with SKU {}", sku.as_str()))
                }
                None => ServiceError::AlreadyExists("a product with that SKU".into()),
            }
        } else {
            error.into()
        }
    }
}

fn product_not_found(id: ProductId) -> ServiceError {
    ServiceError::NotFound(format!("product {id}"))
}

fn reservation_not_found(order_id: &OrderId) -> ServiceError {
    ServiceError::NotFound(format!("reservation for order {order_id}"))
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

async fn insert_product(
    conn: &mut AnyConnection,
    product: &NewProduct,
    id: ProductId,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(concat!(
        "INSERT INTO products (",
        product_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)"
    ))
    .bind(id.to_string())
    .bind(product.sku.as_str())
    .bind(product.name.as_str())
    .bind(product.description.as_str())
    .bind(product.category.as_str())
    .bind(product.price.minor())
    .bind(product.price.currency().code())
    .bind(product.stock.get())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A reservation's items, in the order they were asked for.
const SELECT_ITEMS: &str = "SELECT product_id, quantity, product_name, unit_price_minor, \
     currency_code FROM reservation_items WHERE order_id = $1 ORDER BY position";

async fn load_reservation(
    conn: &mut AnyConnection,
    order_id: &OrderId,
) -> StoreResult<Option<Reservation>> {
    let row: Option<ReservationRow> = sqlx::query_as(
        "SELECT order_id, state, create_time, expire_time FROM reservations WHERE order_id = $1",
    )
    .bind(order_id.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let items: Vec<ReservedItemRow> = sqlx::query_as(SELECT_ITEMS)
        .bind(order_id.as_str())
        .fetch_all(&mut *conn)
        .await?;
    reservation_of(row, items).map(Some)
}

/// A reservation from its stored row and its items' rows.
fn reservation_of(row: ReservationRow, items: Vec<ReservedItemRow>) -> StoreResult<Reservation> {
    Ok(Reservation {
        order_id: stored("order id", OrderId::parse(row.order_id))?,
        items: items
            .into_iter()
            .map(ReservedItem::try_from)
            .collect::<StoreResult<_>>()?,
        state: stored("reservation state", ReservationState::parse(&row.state))?,
        create_time: row.create_time,
        expire_time: row.expire_time,
    })
}

/// `NOT_FOUND` unless the order has a reservation.
async fn existing_reservation(
    conn: &mut AnyConnection,
    order_id: &OrderId,
) -> StoreResult<Reservation> {
    load_reservation(conn, order_id)
        .await?
        .ok_or_else(|| reservation_not_found(order_id))
}

/// The moves of a reservation's state, each one conditional `UPDATE`, so a
/// move that loses a race to another changes nothing.
#[derive(Debug, Clone, Copy)]
enum Transition {
    /// RESERVED and not yet due → COMMITTED.
    Commit,
    /// RESERVED or COMMITTED → RELEASED.
    Release,
    /// RESERVED and due → EXPIRED.
    Expire,
}

impl Transition {
    /// The statement: `$1` the new state, `$2` now, `$3` the order id and
    /// `$4`… the states it may leave.
    fn sql(self) -> &'static str {
        match self {
            Self::Commit => {
                "UPDATE reservations SET state = $1, update_time = $2 \
                 WHERE order_id = $3 AND state = $4 AND expire_time > $2"
            }
            Self::Release => {
                "UPDATE reservations SET state = $1, update_time = $2 \
                 WHERE order_id = $3 AND state IN ($4, $5)"
            }
            Self::Expire => {
                "UPDATE reservations SET state = $1, update_time = $2 \
                 WHERE order_id = $3 AND state = $4 AND expire_time <= $2"
            }
        }
    }

    /// The state it moves to and the ones it moves from.
    fn states(self) -> (ReservationState, &'static [ReservationState]) {
        use ReservationState::{Committed, Expired, Released, Reserved};
        match self {
            Self::Commit => (Committed, &[Reserved]),
            Self::Release => (Released, &[Reserved, Committed]),
            Self::Expire => (Expired, &[Reserved]),
        }
    }

    /// True if the reservation moved.
    async fn apply(
        self,
        conn: &mut AnyConnection,
        order_id: &OrderId,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let (to, from) = self.states();
        let mut query = sqlx::query(self.sql())
            .bind(to.as_str())
            .bind(now)
            .bind(order_id.as_str());
        for state in from {
            query = query.bind(state.as_str());
        }
        Ok(query.execute(conn).await?.rows_affected() > 0)
    }
}

/// Puts a reservation's items back on the shelf. A product deleted since
/// has no shelf to return to; its row is simply not there.
async fn return_stock(
    conn: &mut AnyConnection,
    items: &[ReservedItem],
    now: i64,
) -> Result<(), sqlx::Error> {
    let mut sorted: Vec<&ReservedItem> = items.iter().collect();
    sorted.sort_by_key(|i| i.product_id);
    for item in sorted {
        sqlx::query("UPDATE products SET stock = stock + $1, update_time = $2 WHERE id = $3")
            .bind(i64::from(item.quantity.get()))
            .bind(now)
            .bind(item.product_id.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Expires one reservation if it is still RESERVED and due, returning its
/// stock; false if a commit or release got there first.
async fn expire_reservation(
    conn: &mut AnyConnection,
    order_id: &OrderId,
    now: i64,
) -> StoreResult<bool> {
    if !Transition::Expire.apply(conn, order_id, now).await? {
        return Ok(false);
    }
    if let Some(reservation) = load_reservation(conn, order_id).await? {
        return_stock(conn, &reservation.items, now).await?;
    }
    Ok(true)
}

/// Takes `item` off the shelf if there is enough; otherwise says why not.
/// Returns the product's name and price at this moment.
async fn take_stock(
    conn: &mut AnyConnection,
    item: StockItem,
    now: i64,
) -> StoreResult<(String, Money)> {
    let quantity = i64::from(item.quantity.get());
    let taken: Option<(String, i64, String)> = sqlx::query_as(
        "UPDATE products SET stock = stock - $1, update_time = $2 \
         WHERE id = $3 AND stock >= $1 \
         RETURNING name, price_minor, currency_code",
    )
    .bind(quantity)
    .bind(now)
    .bind(item.product_id.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    if let Some((name, amount, currency)) = taken {
        return Ok((name, stored_money(amount, &currency)?));
    }
    let available: Option<(i64,)> = sqlx::query_as("SELECT stock FROM products WHERE id = $1")
        .bind(item.product_id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    Err(match available {
        None => product_not_found(item.product_id),
        Some((available,)) => ServiceError::failed_precondition(
            super::INSUFFICIENT_STOCK,
            format!(
                "not enough stock for product {}: {quantity} requested, {available} available",
                item.product_id
            ),
        )
        .with_metadata("product_id", item.product_id.to_string()),
    })
}

impl ProductStore for SqlStore {
    async fn create(&self, product: NewProduct) -> StoreResult<Product> {
        let id = ProductId::generate();
        let now = db::now_micros();
        let mut conn = self.db.pool().acquire().await?;
        insert_product(&mut conn, &product, id, now)
            .await
            .map_err(sku_taken(Some(&product.sku)))?;
        Ok(Product {
            id,
            sku: product.sku,
            name: product.name,
            description: product.description,
            category: product.category,
            price: product.price,
            stock: product.stock,
            create_time: now,
            update_time: now,
        })
    }

    async fn get(&self, id: ProductId) -> StoreResult<Product> {
        let row: Option<ProductRow> = sqlx::query_as(concat!(
            "SELECT ",
            product_columns!(),
            " FROM products WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(self.db.pool())
        .await?;
        row.ok_or_else(|| product_not_found(id))?.try_into()
    }

    async fn list(&self, query: ListQuery) -> StoreResult<Page> {
        let page_size = query.page_size.get();
        let category = query.filter.category.as_ref().map(Category::as_str);
        let pattern = query.filter.search.as_ref().map(|s| s.like_pattern());
        let (after_name, after_id) = match &query.after {
            Some(cursor) => (Some(cursor.name.as_str()), Some(cursor.id.to_string())),
            None => (None, None),
        };
        // One row more than a page tells whether another page follows.
        let rows: Vec<ProductRow> = sqlx::query_as(concat!(
            "SELECT ",
            product_columns!(),
            " FROM products \
             WHERE ($1 IS NULL OR category = $1) \
               AND ($2 IS NULL OR LOWER(name) LIKE $2 ESCAPE '!' \
                    OR LOWER(description) LIKE $2 ESCAPE '!') \
               AND ($3 IS NULL OR name > $3 OR (name = $3 AND id > $4)) \
             ORDER BY name, id \
             LIMIT $5"
        ))
        .bind(category)
        .bind(pattern)
        .bind(after_name)
        .bind(after_id)
        .bind(i64::from(page_size) + 1)
        .fetch_all(self.db.pool())
        .await?;
        let mut products = rows
            .into_iter()
            .map(Product::try_from)
            .collect::<StoreResult<Vec<_>>>()?;
        let more = products.len() > page_size as usize;
        products.truncate(page_size as usize);
        let next = if more {
            products.last().map(Cursor::after)
        } else {
            None
        };
        Ok(Page { products, next })
    }

    async fn update(&self, id: ProductId, patch: ProductPatch) -> StoreResult<Product> {
        if patch.is_empty() {
            return self.get(id).await;
        }
        // One statement: unpatched columns keep their value even if a
        // reservation changes the stock meanwhile.
        let row: Option<ProductRow> = sqlx::query_as(concat!(
            "UPDATE products SET \
               sku = COALESCE($1, sku), \
               name = COALESCE($2, name), \
               description = COALESCE($3, description), \
               category = COALESCE($4, category), \
               price_minor = COALESCE($5, price_minor), \
               currency_code = COALESCE($6, currency_code), \
               stock = COALESCE($7, stock), \
               update_time = $8 \
             WHERE id = $9 \
             RETURNING ",
            product_columns!()
        ))
        .bind(patch.sku.as_ref().map(Sku::as_str))
        .bind(patch.name.as_ref().map(ProductName::as_str))
        .bind(patch.description.as_ref().map(Description::as_str))
        .bind(patch.category.as_ref().map(Category::as_str))
        .bind(patch.price.map(Money::minor))
        .bind(patch.price.map(|p| p.currency().code()))
        .bind(patch.stock.map(StockLevel::get))
        .bind(db::now_micros())
        .bind(id.to_string())
        .fetch_optional(self.db.pool())
        .await
        .map_err(sku_taken(patch.sku.as_ref()))?;
        row.ok_or_else(|| product_not_found(id))?.try_into()
    }

    async fn delete(&self, id: ProductId) -> StoreResult<()> {
        let deleted = sqlx::query("DELETE FROM products WHERE id = $1")
            .bind(id.to_string())
            .execute(self.db.pool())
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(product_not_found(id));
        }
        Ok(())
    }

    async fn seed_if_empty(&self, products: Vec<NewProduct>) -> StoreResult<usize> {
        let mut tx = self.db.begin_write().await?;
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM products")
            .fetch_one(&mut *tx)
            .await?;
        if count > 0 {
            return Ok(0);
        }
        let now = db::now_micros();
        for product in &products {
            match insert_product(&mut tx, product, ProductId::generate(), now).await {
                Ok(()) => {}
                // Another instance seeded the same empty catalog first.
                Err(error) if db::is_unique_violation(&error) => return Ok(0),
                Err(error) => return Err(error.into()),
            }
        }
        tx.commit().await?;
        Ok(products.len())
    }

    async fn reserve(&self, request: ReserveRequest, ttl: Duration) -> StoreResult<Reservation> {
        let now = db::now_micros();
        let expire_time = now.saturating_add(micros(ttl));
        if self.db.backend() == db::Backend::Postgres
            && let Some(reservation) = self.reserve_in_one(&request, now, expire_time).await?
        {
            return Ok(reservation);
        }
        let order_id = request.order_id;
        let mut tx = self.db.begin_write().await?;

        // Claim the order id first: a concurrent duplicate waits here until
        // this transaction ends, then sees the finished reservation.
        let claimed = sqlx::query(
            "INSERT INTO reservations (order_id, state, create_time, expire_time, update_time) \
             VALUES ($1, $2, $3, $4, $3) ON CONFLICT (order_id) DO NOTHING",
        )
        .bind(order_id.as_str())
        .bind(ReservationState::Reserved.as_str())
        .bind(now)
        .bind(expire_time)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            let existing = load_reservation(&mut tx, &order_id).await?;
            tx.rollback().await?;
            let existing = existing.ok_or_else(|| {
                ServiceError::internal("a reservation conflicted but cannot be read")
            })?;
            if existing.matches(&request.items) {
                return Ok(existing);
            }
            return Err(ServiceError::AlreadyExists(format!(
                "a different reservation for order {order_id}"
            )));
        }

        let mut taken = Vec::with_capacity(request.items.as_slice().len());
        for item in request.items.sorted() {
            match take_stock(&mut tx, item, now).await {
                Ok((name, price)) => taken.push((item.product_id, name, price)),
                Err(error) => {
                    // All or nothing: give back what was taken so far.
                    tx.rollback().await?;
                    return Err(error);
                }
            }
        }

        let mut items = Vec::with_capacity(taken.len());
        for item in request.items.as_slice() {
            let Some((_, name, price)) = taken.iter().find(|(id, ..)| *id == item.product_id)
            else {
                return Err(ServiceError::internal("a reserved item went missing"));
            };
            items.push(ReservedItem {
                product_id: item.product_id,
                quantity: item.quantity,
                product_name: name.clone(),
                unit_price: *price,
            });
        }
        // Every item in one statement.
        let statement = format!(
            "INSERT INTO reservation_items \
             (order_id, position, product_id, quantity, product_name, unit_price_minor, currency_code) \
             VALUES {}",
            db::values_rows(items.len(), 7, 1)
        );
        let mut insert = sqlx::query(&statement).persistent(db::prepare_rows(items.len()));
        for (position, item) in items.iter().enumerate() {
            insert = insert
                .bind(order_id.as_str())
                .bind(i64::try_from(position).unwrap_or(i64::MAX))
                .bind(item.product_id.to_string())
                .bind(i64::from(item.quantity.get()))
                .bind(item.product_name.as_str())
                .bind(item.unit_price.minor())
                .bind(item.unit_price.currency().code());
        }
        insert.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Reservation {
            order_id,
            items,
            state: ReservationState::Reserved,
            create_time: now,
            expire_time,
        })
    }

    async fn commit(&self, order_id: OrderId) -> StoreResult<Reservation> {
        let now = db::now_micros();
        if let Some(reservation) = self.commit_reserved(&order_id, now).await? {
            return Ok(reservation);
        }
        // Not RESERVED and in time: committed already, due, released or
        // unknown; each told apart under a transaction.
        let mut tx = self.db.begin_write().await?;
        let committed = Transition::Commit.apply(&mut tx, &order_id, now).await?;
        let reservation = existing_reservation(&mut tx, &order_id).await?;
        if committed || reservation.state == ReservationState::Committed {
            tx.commit().await?;
            return Ok(reservation);
        }
        if reservation.state == ReservationState::Reserved {
            // Its time ran out and the sweeper has not got to it yet: expire
            // it now rather than sell stock the order no longer holds.
            expire_reservation(&mut tx, &order_id, now).await?;
            tx.commit().await?;
            return Err(expired(&order_id));
        }
        tx.rollback().await?;
        Err(match reservation.state {
            ReservationState::Released => ServiceError::failed_precondition(
                "RESERVATION_RELEASED",
                format!("the reservation for order {order_id} was released"),
            ),
            _ => expired(&order_id),
        })
    }

    async fn release(&self, order_id: OrderId) -> StoreResult<Reservation> {
        let now = db::now_micros();
        let mut tx = self.db.begin_write().await?;
        let released = Transition::Release.apply(&mut tx, &order_id, now).await?;
        let reservation = existing_reservation(&mut tx, &order_id).await?;
        if released {
            return_stock(&mut tx, &reservation.items, now).await?;
        }
        tx.commit().await?;
        Ok(reservation)
    }

    async fn expire_due(&self, now_micros: i64) -> StoreResult<usize> {
        let mut expired = 0;
        loop {
            let due: Vec<(String,)> = sqlx::query_as(
                "SELECT order_id FROM reservations \
                 WHERE state = $1 AND expire_time <= $2 \
                 ORDER BY expire_time LIMIT $3",
            )
            .bind(ReservationState::Reserved.as_str())
            .bind(now_micros)
            .bind(SWEEP_BATCH)
            .fetch_all(self.db.pool())
            .await?;
            let mut progress = false;
            for (order_id,) in &due {
                let order_id = stored("order id", OrderId::parse(order_id.clone()))?;
                let mut tx = self.db.begin_write().await?;
                if expire_reservation(&mut tx, &order_id, now_micros).await? {
                    expired += 1;
                    progress = true;
                }
                tx.commit().await?;
            }
            // A short batch was the last; a batch that changed nothing means
            // others are handling these rows.
            if due.len() < SWEEP_BATCH as usize || !progress {
                return Ok(expired);
            }
        }
    }
}

/// A whole reservation as one statement (PostgreSQL): claim the order id
/// (a concurrent duplicate waits on it, then claims nothing), lock the
/// products in id order (the order every transaction takes them in, so two
/// reservations never deadlock), take the stock of each that has enough,
/// and record what was taken. `$1` the order id, `$2` the state, `$3` now,
/// `$4` the expiry, then (position, product id, quantity) per item.
fn reserve_statement(items: usize) -> String {
    format!(
        "WITH claim AS (INSERT INTO reservations (order_id, state, create_time, expire_time, \
         update_time) VALUES ($1, $2, $3, $4, $3) ON CONFLICT (order_id) DO NOTHING \
         RETURNING order_id), \
         want AS (SELECT * FROM (VALUES {}) AS v), \
         locked AS (SELECT p.id FROM products p JOIN want w ON p.id = w.column2 \
         WHERE EXISTS (SELECT 1 FROM claim) ORDER BY p.id COLLATE \"C\" FOR UPDATE OF p), \
         taken AS (UPDATE products p SET stock = p.stock - w.column3, update_time = $3 \
         FROM want w WHERE p.id = w.column2 AND p.id IN (SELECT id FROM locked) \
         AND p.stock >= w.column3 \
         RETURNING p.id, p.name, p.price_minor, p.currency_code, w.column1 AS position, \
         w.column3 AS quantity) \
         INSERT INTO reservation_items (order_id, position, product_id, quantity, product_name, \
         unit_price_minor, currency_code) \
         SELECT $1, position, id, quantity, name, price_minor, currency_code FROM taken \
         RETURNING product_id, product_name, unit_price_minor, currency_code",
        db::values_rows(items, 3, 5)
    )
}

impl SqlStore {
    /// The usual reservation on PostgreSQL, every item available: one
    /// statement in a transaction (three round trips, against four plus one
    /// per item). `None`, with nothing kept, when it is not the usual case
    /// (the order id was claimed before, or an item is missing or short):
    /// the general path then tells which, as it always has.
    async fn reserve_in_one(
        &self,
        request: &ReserveRequest,
        now: i64,
        expire_time: i64,
    ) -> StoreResult<Option<Reservation>> {
        let asked = request.items.as_slice();
        let statement = reserve_statement(asked.len());
        let mut query = sqlx::query_as(&statement)
            .persistent(db::prepare_rows(asked.len()))
            .bind(request.order_id.as_str())
            .bind(ReservationState::Reserved.as_str())
            .bind(now)
            .bind(expire_time);
        for (position, item) in asked.iter().enumerate() {
            query = query
                .bind(i64::try_from(position).unwrap_or(i64::MAX))
                .bind(item.product_id.to_string())
                .bind(i64::from(item.quantity.get()));
        }
        let mut tx = self.db.begin_write().await?;
        let taken: Vec<(String, String, i64, String)> = query.fetch_all(&mut *tx).await?;
        if taken.len() != asked.len() {
            tx.rollback().await?;
            return Ok(None);
        }
        let items = asked
            .iter()
            .map(|item| {
                let id = item.product_id.to_string();
                let (_, name, amount, currency) = taken
                    .iter()
                    .find(|(taken, ..)| *taken == id)
                    .ok_or_else(|| ServiceError::internal("a reserved item went missing"))?;
                Ok(ReservedItem {
                    product_id: item.product_id,
                    quantity: item.quantity,
                    product_name: name.clone(),
                    unit_price: stored_money(*amount, currency)?,
                })
            })
            .collect::<StoreResult<Vec<_>>>();
        // Nothing is kept unless every item is whole (dropping `tx` rolls
        // it back).
        let items = items?;
        tx.commit().await?;
        Ok(Some(Reservation {
            order_id: request.order_id.clone(),
            items,
            state: ReservationState::Reserved,
            create_time: now,
            expire_time,
        }))
    }

    /// The usual commit, outside a transaction: a RESERVED reservation not
    /// yet due moves to COMMITTED, and comes back with its items (written
    /// once, when it was made, so reading them after the move is as good as
    /// within it). One statement on PostgreSQL, two on SQLite (no UPDATE in
    /// a WITH there); `None` when the reservation is in any other state.
    async fn commit_reserved(
        &self,
        order_id: &OrderId,
        now: i64,
    ) -> StoreResult<Option<Reservation>> {
        let (to, from) = Transition::Commit.states();
        let Some(from) = from.first() else {
            return Ok(None);
        };
        let (header, items) = match self.db.backend() {
            db::Backend::Postgres => {
                let rows = sqlx::query(
                    "WITH moved AS (UPDATE reservations SET state = $1, update_time = $2 \
                     WHERE order_id = $3 AND state = $4 AND expire_time > $2 \
                     RETURNING order_id, state, create_time, expire_time) \
                     SELECT m.order_id, m.state, m.create_time, m.expire_time, i.product_id, \
                     i.quantity, i.product_name, i.unit_price_minor, i.currency_code \
                     FROM moved m JOIN reservation_items i ON i.order_id = m.order_id \
                     ORDER BY i.position",
                )
                .bind(to.as_str())
                .bind(now)
                .bind(order_id.as_str())
                .bind(from.as_str())
                .fetch_all(self.db.pool())
                .await?;
                let Some(first) = rows.first() else {
                    return Ok(None);
                };
                let items = rows
                    .iter()
                    .map(ReservedItemRow::from_row)
                    .collect::<Result<Vec<_>, _>>()?;
                (ReservationRow::from_row(first)?, items)
            }
            db::Backend::Sqlite => {
                let header: Option<ReservationRow> = sqlx::query_as(
                    "UPDATE reservations SET state = $1, update_time = $2 \
                     WHERE order_id = $3 AND state = $4 AND expire_time > $2 \
                     RETURNING order_id, state, create_time, expire_time",
                )
                .bind(to.as_str())
                .bind(now)
                .bind(order_id.as_str())
                .bind(from.as_str())
                .fetch_optional(self.db.pool())
                .await?;
                let Some(header) = header else {
                    return Ok(None);
                };
                let items: Vec<ReservedItemRow> = sqlx::query_as(SELECT_ITEMS)
                    .bind(order_id.as_str())
                    .fetch_all(self.db.pool())
                    .await?;
                (header, items)
            }
        };
        reservation_of(header, items).map(Some)
    }
}

fn expired(order_id: &OrderId) -> ServiceError {
    ServiceError::failed_precondition(
        "RESERVATION_EXPIRED",
        format!("the reservation for order {order_id} expired"),
    )
}
