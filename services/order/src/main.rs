//! The order service binary: [`bazaar_order::run`] on the shared skeleton
//! until Ctrl-C or SIGTERM.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bazaar_runtime::service::main(bazaar_order::run).await
}
