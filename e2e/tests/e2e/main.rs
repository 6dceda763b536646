//! Bazaar end to end: the real binaries, each its own process on free ports
//! with fresh databases, driven the way people and tools drive them.
//!
//! Nothing here builds anything. `make test` runs `cargo build --workspace
//! --bins` first; the suite takes the binaries from the target directory of
//! the profile it was itself built with (see [`binaries`]).
//!
//! - `grpc`: customer, admin, declined-card and privacy journeys over gRPC
//!   (mTLS as the mesh's `dev-client` workload);
//! - `security`: the security report's anonymous calls are refused on every
//!   port and change nothing;
//! - `authz`: the mesh policy's authorization matrix, every workload against
//!   every method, as the running services enforce it;
//! - `rest`: the same through the REST gateway, plus the edge's own
//!   endpoints and a checkout's notification (order events through the
//!   machine's NATS, each system in a namespace of its own); these run only
//!   when the gateway is part of the workspace;
//! - `browser`: the storefront the gateway serves at `/`, in headless
//!   Chromium (e2e/browser/storefront.mjs): checkout, a declined card, a
//!   field error, a double click, an admin's product, axe-core on every
//!   main page; screenshots in `<target>/e2e-screenshots/`;
//! - `tools`: grpcurl through reflection, and the journeys `make run` prints,
//!   run verbatim;
//! - `launcher`: `make run`'s launcher reaches ready and leaves no process
//!   behind, whether stopped by Ctrl-C or killed;
//! - `deploy`: what ships, booted: an image `make image` builds, run from
//!   its own root filesystem as its user; the Helm chart as rendered,
//!   every Deployment started as a kubelet would, probes and a purchase;
//! - `events`: order events reach the notification service once each
//!   through a NATS outage and the order and notification services killed;
//! - `postgres`: the core journey on PostgreSQL when `TEST_DATABASE_URL` is
//!   set.
//!
//! Every started process belongs to a guard that stops it on drop, panics
//! included, and prints the tail of its log when a test fails.

mod authz;
mod binaries;
mod browser;
mod contract;
mod deploy;
mod events;
mod grpc;
mod journeys;
mod launcher;
mod metrics;
mod nats;
mod postgres;
mod rest;
mod rest_client;
mod security;
mod shell;
mod system;
mod tools;
mod traces;
