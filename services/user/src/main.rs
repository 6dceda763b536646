//! The `bazaar-user` binary: configuration, telemetry, a socket, then
//! [`bazaar_user::run`] until Ctrl-C or SIGTERM.

use bazaar_user::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: Config = bazaar_runtime::config::load()?;
    let _telemetry = bazaar_runtime::telemetry::init("user", &config.telemetry)?;
    let listener = bazaar_runtime::server::bind(config.server.listen).await?;
    bazaar_user::run(config, listener, bazaar_runtime::shutdown::signal()).await
}
