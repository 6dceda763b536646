//! Keeping a verifier's keys current from the user service's JWK set.

use std::{sync::Arc, time::Duration};

use tonic::client::GrpcService;

use super::{AuthConfig, Jwk, KeyError, TokenVerifier, verifier::Refetch};

/// A verifier for `config`: its pinned `keys` at once and, given the user
/// service (reached at `auth.jwks_url`), its published keys, fetched in the
/// background (retrying until the user service answers, then every
/// `jwks_refresh`, and early when a token names an unknown key, at most once
/// per `jwks_min_refetch`). Until the first fetch, tokens signed by unpinned
/// keys wait for it briefly, then are `UNAUTHENTICATED`.
pub fn verifier_from_config<T>(
    config: &AuthConfig,
    user_service: Option<T>,
) -> Result<Arc<TokenVerifier>, KeyError>
where
    T: GrpcService<tonic::body::Body> + Send + 'static,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <T::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
    T::Future: Send,
{
    let Some(channel) = user_service else {
        let verifier = Arc::new(TokenVerifier::new(config));
        verifier.set_keys(&config.keys)?;
        return Ok(verifier);
    };
    let refetch = Arc::new(Refetch::new(config.jwks_min_refetch));
    let verifier = Arc::new(TokenVerifier::refetching(config, Arc::clone(&refetch)));
    verifier.set_keys(&config.keys)?;
    tokio::spawn(refresh_jwks(
        Arc::downgrade(&verifier),
        refetch,
        channel,
        config.keys.clone(),
        config.jwks_refresh,
    ));
    Ok(verifier)
}

async fn refresh_jwks<T>(
    verifier: std::sync::Weak<TokenVerifier>,
    refetch: Arc<Refetch>,
    channel: T,
    pinned: Vec<Jwk>,
    every: Duration,
) where
    T: GrpcService<tonic::body::Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <T::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    use bazaar_proto::user::v1::{GetJwksRequest, user_service_client::UserServiceClient};
    let mut client = UserServiceClient::new(channel);
    let mut retry = Duration::from_millis(100);
    loop {
        let wait = match client.get_jwks(GetJwksRequest {}).await {
            Ok(response) => {
                let Some(verifier) = verifier.upgrade() else {
                    return;
                };
                let fetched = response
                    .into_inner()
                    .keys
                    .into_iter()
                    .filter(|k| k.kty == Jwk::KTY && k.crv == Jwk::CRV)
                    .map(|k| Jwk { kid: k.kid, x: k.x });
                let keys: Vec<Jwk> = pinned.iter().cloned().chain(fetched).collect();
                match verifier.set_keys(&keys) {
                    Ok(()) => tracing::debug!(keys = keys.len(), "refreshed the JWK set"),
                    Err(error) => {
                        tracing::error!(%error, "the user service published an unusable key")
                    }
                }
                retry = Duration::from_millis(100);
                every
            }
            Err(status) => {
                tracing::warn!(%status, ?retry, "cannot fetch the JWK set yet");
                let wait = retry;
                retry = (retry * 2).min(Duration::from_secs(10));
                wait
            }
        };
        refetch.done();
        if verifier.strong_count() == 0 {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = refetch.asked() => {}
        }
    }
}
