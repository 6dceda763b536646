//! The `bazaar-product` binary: the catalog and its stock.
//!
//! Everything but process wiring lives in the library, so tests start the
//! same service on port 0.

use bazaar_product::config::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: Config = bazaar_runtime::config::load()?;
    let _telemetry = bazaar_runtime::telemetry::init("product", &config.telemetry)?;
    let listener = bazaar_runtime::server::bind(config.server.listen).await?;
    bazaar_product::run(config, listener, bazaar_runtime::shutdown::signal()).await
}
