//! The payment service binary: [`bazaar_payment::run`] on the shared
//! skeleton until Ctrl-C or SIGTERM.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bazaar_runtime::service::main(bazaar_payment::run).await
}
