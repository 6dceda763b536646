//! The payment service, started for real on port 0 against each database
//! backend, driven with the generated gRPC client.

mod charge;
mod refund;
mod support;
