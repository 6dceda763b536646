//! The gateway against real gRPC servers on port 0, driven over real HTTP.

mod bazaar;
mod edge;
mod errors;
mod foreign;
mod headers;
mod mapping;
mod metrics;
mod openapi;
mod startup;
mod storefront;
mod streaming;
mod support;
mod templates;
mod upstreams;
