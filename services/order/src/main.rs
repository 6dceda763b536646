//! The order service binary: configuration from the environment, then
//! [`bazaar_order::run`] until Ctrl-C or SIGTERM.

use bazaar_order::config::Config;
use bazaar_runtime::{server, shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: Config = bazaar_runtime::config::load()?;
    let _telemetry = telemetry::init("order", &config.telemetry)?;
    let listener = server::bind(config.server.listen).await?;
    bazaar_order::run(config, listener, shutdown::signal()).await
}
