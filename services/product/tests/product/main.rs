//! The product service, exercised like a client would: the real `run` on a
//! port-0 socket, a fresh database per test on every backend under test
//! (SQLite always, PostgreSQL when `TEST_DATABASE_URL` is set), and the
//! generated gRPC client over mTLS as the mesh workload a real caller is.

mod callers;
mod catalog;
mod listing;
mod metrics;
mod seed;
mod stock;
mod support;
mod validation;
