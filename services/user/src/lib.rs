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
pub mod metrics;
pub mod password;
pub mod store;
pub mod throttle;

use std::{future::Future, sync::Arc};

use bazaar_proto::user::v1::user_service_server::UserServiceServer;
use bazaar_runtime::{auth::TokenVerifier, service::App};
use tokio::net::TcpListener;

pub use config::Config;

use crate::{grpc::UserApi, metrics::AccountMetrics, password::Passwords, store::SqlUserStore};

pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let mut app = App::start(config.shared, store::MIGRATIONS).await?;
    let settings = config.settings;
    let signer = Arc::new(keys::load_or_create(&settings.tokens, app.auth_config())?);
    let published = keys::published(&signer, &settings.tokens, app.auth_config())?;
    let passwords = Passwords::new(&settings.password).await?;
    let store = SqlUserStore::new(app.db().clone());
    match settings.bootstrap_admin.as_ref() {
        Some(admin) if admin.enabled => {
            bootstrap::ensure_admin(&store, &passwords, admin).await?;
        }
        admin => bootstrap::explain_disabled(admin),
    }
    // Its own tokens are checked with its own key, so `auth.jwks_url` (the
    // other services' way to get that key) is not used here.
    // Which RPCs need a token (all but Register, Login, GetJwks) is the mesh
    // policy's to say.
    let verifier = TokenVerifier::new(app.auth_config());
    verifier.set_keys(&published)?;
    app.verify_with(Arc::new(verifier));
    let throttle = throttle::Throttle::new(settings.throttle.clone());
    let api = UserApi::new(
        store,
        passwords,
        signer,
        published,
        &settings.tokens,
        throttle,
        AccountMetrics::register(app.metrics()),
    );
    Ok(app
        .serve(UserServiceServer::new(api), listener, shutdown)
        .await?)
}
