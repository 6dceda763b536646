//! The product service binary: [`bazaar_product::run`] on the shared
//! skeleton until Ctrl-C or SIGTERM.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bazaar_runtime::service::main(bazaar_product::run).await
}
