//! The shared runtime, exercised the way services use it: real servers on
//! port-0 sockets, real tonic clients.

mod auth;
mod config;
mod db;
mod mesh;
mod server;
mod support;
mod telemetry;
