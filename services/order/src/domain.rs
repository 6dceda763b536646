//! Orders, their saga states and the requests that make them.

pub mod order;
pub mod page;

pub use order::{IdempotencyKey, LineItem, Order, OrderId, PlaceCommand, SagaState};
pub use page::{PageSize, PageToken};
