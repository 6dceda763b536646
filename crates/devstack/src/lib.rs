//! Bazaar's development stack: every binary started as a child process on
//! documented ports, wired together, with readiness checks and clean stops.
//!
//! - [`stack`] describes the system (ports, databases, wiring), shared by the
//!   `make run` launcher and the end-to-end suite;
//! - [`launcher`] is `make run` (the `bazaar-devstack` binary);
//! - [`ready`] checks gRPC health and the gateway's `/readyz`;
//! - [`observe`] is Prometheus for the stack (`make run --observe`, the
//!   e2e suite's metrics test);
//! - [`journey`] is the curl and grpcurl walk-through `make run` prints;
//! - [`process`] keeps children from outliving their parent.

pub mod journey;
pub mod launcher;
pub mod observe;
pub mod process;
pub mod ready;
pub mod stack;

pub use stack::{Databases, Ports, Service, Stack};
