//! Orders, their saga states and the requests that make them.

pub mod order;
pub mod page;

pub use bazaar_domain::PageSize;
pub use order::{
    CardSummary, FailureKind, IdempotencyKey, LineItem, Order, OrderId, OrderStatus, PaymentId,
    PlaceCommand, ProductId, SagaState,
};
pub use page::PageToken;
