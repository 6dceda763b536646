//! The `bazaar-gateway` binary: the REST/JSON edge.
//!
//! Everything but process wiring lives in the library, so tests start the
//! same gateway on port 0.

use bazaar_gateway::cli::Cli;
use clap::Parser as _;

// One thread: on a small box the multi-thread scheduler's cross-thread
// wake-ups (futex, eventfd) cost more CPU per request than the second
// worker gains; the load client and the upstream use the other core
// (bench/gateway/RESULTS.md, 2026-12-04).
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
