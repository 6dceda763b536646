//! The `bazaar-gateway` binary: the REST/JSON edge.
//!
//! Everything but process wiring lives in the library, so tests start the
//! same gateway on port 0.

use bazaar_gateway::cli::Cli;
use clap::Parser as _;

// A current-thread runtime: the acceptor and worker 0; `gateway.workers`
// adds one more single-threaded runtime per core (see `workers`), as the
// multi-thread scheduler's cross-thread wake-ups (futex, eventfd) cost more
// CPU per request on a small box (bench/gateway/RESULTS.md, 2026-12-04).
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let config = Cli::parse().load()?;
    let telemetry = config.telemetry.clone();
    let listen = config.gateway.listen;
    bazaar_runtime::service::launch("gateway", &telemetry, listen, |listener, shutdown| {
        bazaar_gateway::run(config, listener, shutdown)
    })
    .await
}
