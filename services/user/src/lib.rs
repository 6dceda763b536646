//! Bazaar's user service: accounts, credentials, and the access tokens every
//! other service trusts.
//!
//! [`run`] is the whole service on a bound listener; `main` adds only
//! configuration, telemetry and the stop signal, and tests call it directly
//! on port 0.

pub mod bootstrap;
pub mod config;
pub mod domain;
pub mod grpc;
pub mod keys;
pub mod password;
pub mod store;

use std::{future::Future, sync::Arc};

use anyhow::Context as _;
use bazaar_proto::user::v1::user_service_server::{SERVICE_NAME, UserServiceServer};
use bazaar_runtime::{
    auth::{AuthLayer, TokenVerifier},
    db::Database,
    server::ServerBuilder,
};
use tokio::net::TcpListener;
use tower::Layer as _;

pub use config::Config;

use crate::{
    grpc::UserApi,
    password::Passwords,
    store::{MIGRATIONS, SqlUserStore},
};

/// RPCs anyone may call: without them nobody could get a token.
const PUBLIC_METHODS: [&str; 3] = ["Register", "Login", "GetJwks"];

/// Runs the user service on `listener` until `shutdown` completes.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let db = Database::connect(&config.database, MIGRATIONS)
        .await
        .context("cannot open the database")?;
    let signer = Arc::new(keys::load_or_create(&config.tokens, &config.auth)?);
    let passwords = Passwords::new(&config.password).await?;
    let store = SqlUserStore::new(db.clone());
    if let Some(admin) = config.bootstrap_admin.as_ref().filter(|a| a.enabled) {
        bootstrap::ensure_admin(&store, &passwords, admin).await?;
    }

    // The service checks its own tokens locally, with its own public key.
    let verifier = TokenVerifier::new(&config.auth);
    verifier.set_keys([signer.jwk()])?;
    let auth = AuthLayer::new(Arc::new(verifier)).public(SERVICE_NAME, &PUBLIC_METHODS);
    let api = UserApi::new(store, passwords, signer, config.tokens.ttl);

    let served = ServerBuilder::new(config.server)
        .file_descriptor_set(bazaar_proto::FILE_DESCRIPTOR_SET)
        .add_service(auth.layer(UserServiceServer::new(api)))
        .serve(listener, shutdown)
        .await;
    db.close().await;
    Ok(served?)
}
