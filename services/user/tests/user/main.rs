//! The user service, started for real on a port-0 socket with a fresh
//! database per test (SQLite always, PostgreSQL too when `TEST_DATABASE_URL`
//! is set) and called over gRPC like any client would.

mod access;
mod persistence;
mod registration;
mod sessions;
mod support;
