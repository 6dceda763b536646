//! The `bazaar-gateway` binary: the REST/JSON edge.
//!
//! Everything but process wiring lives in the library, so tests start the
//! same gateway on port 0.

use bazaar_gateway::cli::Cli;
use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Cli::parse().load()?;
    let _telemetry = bazaar_runtime::telemetry::init("gateway", &config.telemetry)?;
    let listener = bazaar_runtime::server::bind(config.gateway.listen).await?;
    bazaar_gateway::run(config, listener, bazaar_runtime::shutdown::signal()).await?;
    Ok(())
}
