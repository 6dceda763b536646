//! Where the catalog and reservations live.
//!
//! The trait is what the gRPC handlers, the seeder and the sweeper need; the
//! one implementation, [`sql::SqlStore`], serves PostgreSQL and SQLite with
//! the same SQL. Errors are already what the caller should see
//! ([`ServiceError`]): `NOT_FOUND`, `ALREADY_EXISTS`, `FAILED_PRECONDITION`,
//! `UNAVAILABLE`, or an internal error that is logged and hidden.

pub mod sql;

use std::{future::Future, time::Duration};

use bazaar_runtime::status::ServiceError;

use crate::domain::{
    listing::{ListQuery, Page},
    product::{NewProduct, Product, ProductId, ProductPatch},
    reservation::{OrderId, Reservation, ReserveRequest},
};

pub type StoreResult<T> = Result<T, ServiceError>;

/// The reason of the `FAILED_PRECONDITION` refusing a reservation for want
/// of stock.
pub const INSUFFICIENT_STOCK: &str = "INSUFFICIENT_STOCK";

/// The catalog and its stock.
pub trait ProductStore: Clone + Send + Sync + 'static {
    /// Adds a product; `ALREADY_EXISTS` if its SKU is taken.
    fn create(&self, product: NewProduct) -> impl Future<Output = StoreResult<Product>> + Send;

    /// `NOT_FOUND` if there is no such product.
    fn get(&self, id: ProductId) -> impl Future<Output = StoreResult<Product>> + Send;

    /// One page of products matching the filter, ordered by `(name, id)`.
    fn list(&self, query: ListQuery) -> impl Future<Output = StoreResult<Page>> + Send;

    /// Changes only the patched fields; `NOT_FOUND`, or `ALREADY_EXISTS` if
    /// the new SKU is taken.
    fn update(
        &self,
        id: ProductId,
        patch: ProductPatch,
    ) -> impl Future<Output = StoreResult<Product>> + Send;

    /// `NOT_FOUND` if there is no such product.
    fn delete(&self, id: ProductId) -> impl Future<Output = StoreResult<()>> + Send;

    /// Adds `products` if the catalog is empty, all or none; returns how many
    /// were added.
    fn seed_if_empty(
        &self,
        products: Vec<NewProduct>,
    ) -> impl Future<Output = StoreResult<usize>> + Send;

    /// Holds every item for the order or none, for `ttl`. Idempotent per
    /// order id: the same items again return the existing reservation,
    /// different ones are `ALREADY_EXISTS`.
    fn reserve(
        &self,
        request: ReserveRequest,
        ttl: Duration,
    ) -> impl Future<Output = StoreResult<Reservation>> + Send;

    /// RESERVED → COMMITTED; a no-op when already committed;
    /// `FAILED_PRECONDITION` once released or expired.
    fn commit(&self, order_id: OrderId) -> impl Future<Output = StoreResult<Reservation>> + Send;

    /// RESERVED or COMMITTED → RELEASED, returning the stock; a no-op when
    /// already released or expired.
    fn release(&self, order_id: OrderId) -> impl Future<Output = StoreResult<Reservation>> + Send;

    /// Expires RESERVED reservations whose time ran out before `now_micros`
    /// and returns their stock; returns how many expired.
    fn expire_due(&self, now_micros: i64) -> impl Future<Output = StoreResult<usize>> + Send;
}
