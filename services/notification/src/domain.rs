//! What the service knows of orders (the events it hears) and what it tells
//! customers, as types that hold only valid values.

pub mod event;
pub mod notification;
pub mod page;

pub use bazaar_domain::PageSize;
pub use event::{Change, EventId, OrderEvent, OrderId};
pub use notification::{Kind, Notification};
pub use page::PageToken;
