//! The payment service binary: configuration from the environment, then
//! [`bazaar_payment::run`] until Ctrl-C or SIGTERM.

use bazaar_payment::config::Config;
use bazaar_runtime::{server, shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: Config = bazaar_runtime::config::load()?;
    let _telemetry = telemetry::init("payment", &config.telemetry)?;
    let listener = server::bind(config.server.listen).await?;
    bazaar_payment::run(config, listener, shutdown::signal()).await
}
