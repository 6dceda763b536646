//! The user service, started for real on a port-0 socket with a fresh
//! database per test (SQLite always, PostgreSQL too when `TEST_DATABASE_URL`
//! is set) and called over gRPC in the test mesh, as the workload a real
//! caller is.

mod access;
mod callers;
mod metrics;
mod passwords;
mod persistence;
mod refresh;
mod registration;
mod rotation;
mod sessions;
mod support;
mod throttling;
