//! The order service with real product and payment services, each on its own
//! port-0 socket and fresh database, all in the test mesh, driven with the
//! generated clients as the workloads that really call them.

mod access;
mod checkout;
mod detached;
mod events;
mod metrics;
mod outbox;
mod recovery;
mod resilience;
mod support;
mod watches;
