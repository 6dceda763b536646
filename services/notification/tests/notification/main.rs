//! The notification service against the machine's real NATS JetStream and
//! databases: each test publishes order events, as the order service does,
//! to a stream and subjects of its own, and reads what the service made of
//! them through its gRPC API over mTLS.

mod consume;
mod list;
mod support;
