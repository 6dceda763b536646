//! The order service with real product and payment services, each on its own
//! port-0 socket and fresh database, driven with the generated clients.

mod access;
mod checkout;
mod recovery;
mod support;
