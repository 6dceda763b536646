//! Keeping a verifier's keys current from the user service's JWK set.

use std::{sync::Arc, time::Duration};

use super::{AuthConfig, Jwk, KeyError, TokenVerifier};

/// A verifier for `config`: its pinned `keys` at once and, with a `jwks_url`,
/// the user service's published keys, fetched in the background (retrying
/// until the user service answers, then every `jwks_refresh`). Until the
/// first fetch, tokens signed by unpinned keys are `UNAUTHENTICATED`.
pub fn verifier_from_config(config: &AuthConfig) -> Result<Arc<TokenVerifier>, KeyError> {
    let verifier = Arc::new(TokenVerifier::new(config));
    verifier.set_keys(&config.keys)?;
    if let Some(url) = &config.jwks_url {
        let client_config = crate::client::ClientConfig::for_url(url.clone());
        match crate::client::channel(&client_config) {
            Ok(channel) => {
                tokio::spawn(refresh_jwks(
                    Arc::downgrade(&verifier),
                    channel,
                    config.keys.clone(),
                    config.jwks_refresh,
                ));
            }
            Err(error) => tracing::error!(%error, "auth.jwks_url is not a usable address"),
        }
    }
    Ok(verifier)
}

async fn refresh_jwks(
    verifier: std::sync::Weak<TokenVerifier>,
    channel: tonic::transport::Channel,
    pinned: Vec<Jwk>,
    every: Duration,
) {
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
        if verifier.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(wait).await;
    }
}
