//! The shared runtime of every Bazaar binary: one place for configuration,
//! telemetry, gRPC servers and clients, authentication and error mapping, so
//! each service is only its domain.
//!
//! A binary's `main` is: [`config::load`] its typed config, [`telemetry::init`],
//! bind a listener, and hand it with [`shutdown::signal`] to its `run`, which
//! builds a [`server::ServerBuilder`]. Tests do the same on port 0 with their
//! own shutdown future.

pub mod auth;
pub mod client;
pub mod config;
pub mod db;
pub mod server;
pub mod shutdown;
pub mod status;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
