//! Domain types more than one service holds: ids, money, cards, and the keys that
//! make requests safe to repeat. Parsed once from the wire at the gRPC edge, so
//! code inside never meets an invalid one.

pub mod card;
pub mod id;
pub mod idempotency;
pub mod money;
pub mod page;

pub use id::IdError;
pub use idempotency::IdempotencyKey;
pub use money::{Currency, Money, MoneyError};
pub use page::PageSize;
