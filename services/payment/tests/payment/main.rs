//! The payment service, started for real on port 0 against each database
//! backend in the test mesh, driven with the generated gRPC client as the
//! workload a real caller would be.

mod charge;
mod ledger;
mod mesh;
mod metrics;
mod refund;
mod support;
