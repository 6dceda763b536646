//! The shared runtime of every Bazaar binary: one place for configuration,
//! telemetry, gRPC servers and clients, authentication and error mapping, so
//! each service is only its domain.
//!
//! A binary's `main` is [`service::main`]: typed config, telemetry, a bound
//! listener and the stop signal, handed to the service's `run`, which builds
//! on [`service::App`]. Tests call the same `run` on port 0 with their own
//! shutdown future.

pub mod admin;
pub mod auth;
pub mod client;
pub mod config;
pub mod db;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod status;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
