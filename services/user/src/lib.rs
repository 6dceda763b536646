//! Bazaar's user service: accounts, credentials, and the access tokens every
//! other service trusts.
//!
//! [`run`] serves it on a bound listener until `shutdown` completes, so tests
//! start the real service on port 0.

pub mod bootstrap;
pub mod config;
pub mod domain;
pub mod grpc;
pub mod keys;
pub mod password;
pub mod store;

use std::{future::Future, sync::Arc};

use bazaar_proto::user::v1::user_service_server::{SERVICE_NAME, UserServiceServer};
use bazaar_runtime::{
    auth::{AuthLayer, TokenVerifier},
    service::App,
};
use tokio::net::TcpListener;
use tower::Layer as _;

pub use config::Config;

use crate::{grpc::UserApi, password::Passwords, store::SqlUserStore};

/// RPCs anyone may call: without them nobody could get a token.
const PUBLIC_METHODS: [&str; 3] = ["Register", "Login", "GetJwks"];

pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let app = App::start(config.shared, store::MIGRATIONS).await?;
    let settings = config.settings;
    let signer = Arc::new(keys::load_or_create(&settings.tokens, app.auth_config())?);
    let passwords = Passwords::new(&settings.password).await?;
    let store = SqlUserStore::new(app.db().clone());
    if let Some(admin) = settings.bootstrap_admin.as_ref().filter(|a| a.enabled) {
        bootstrap::ensure_admin(&store, &passwords, admin).await?;
    }
    // Its own tokens are checked with its own key, so `auth.jwks_url` (the
    // other services' way to get that key) is not used here.
    let verifier = TokenVerifier::new(app.auth_config());
    verifier.set_keys([signer.jwk()])?;
    let auth = AuthLayer::new(Arc::new(verifier)).public(SERVICE_NAME, &PUBLIC_METHODS);
    let api = UserApi::new(store, passwords, signer, settings.tokens.ttl);
    Ok(app
        .serve(auth.layer(UserServiceServer::new(api)), listener, shutdown)
        .await?)
}
