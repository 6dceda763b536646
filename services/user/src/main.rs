//! The user service binary: [`bazaar_user::run`] on the shared skeleton until
//! Ctrl-C or SIGTERM.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bazaar_runtime::service::main(bazaar_user::run).await
}
