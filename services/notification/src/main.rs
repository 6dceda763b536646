//! The notification service binary: [`bazaar_notification::run`] on the
//! shared skeleton until Ctrl-C or SIGTERM.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bazaar_runtime::service::main(bazaar_notification::run).await
}
