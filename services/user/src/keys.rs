//! The token signing key: configured, or kept in a file so that tokens stay
//! valid across restarts (and across replicas that share the file).

use std::{
    fs,
    io::{self, Write as _},
    path::Path,
};

use anyhow::Context as _;
use bazaar_runtime::auth::{AuthConfig, Jwk, TokenSigner};

use crate::config::TokenConfig;

/// The signer from `tokens.signing_key`, else from `tokens.signing_key_file`,
/// creating that file with a fresh key on first start.
pub fn load_or_create(tokens: &TokenConfig, auth: &AuthConfig) -> anyhow::Result<TokenSigner> {
    if let Some(seed) = &tokens.signing_key {
        return TokenSigner::from_seed_base64(seed, auth).context("tokens.signing_key");
    }
    let path = &tokens.signing_key_file;
    match fs::read_to_string(path) {
        Ok(seed) => {
            warn_if_readable_by_others(path);
            TokenSigner::from_seed_base64(&seed, auth)
                .with_context(|| format!("signing key file {}", path.display()))
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => create(path, auth),
        Err(error) => Err(error)
            .with_context(|| format!("cannot read the signing key file {}", path.display())),
    }
}

/// The keys to publish and accept: `current`'s, then the public half of
/// `tokens.previous_signing_key` when set (and not the same key).
pub fn published(
    current: &TokenSigner,
    tokens: &TokenConfig,
    auth: &AuthConfig,
) -> anyhow::Result<Vec<Jwk>> {
    let mut keys = vec![current.jwk().clone()];
    if let Some(seed) = &tokens.previous_signing_key {
        let previous =
            TokenSigner::from_seed_base64(seed, auth).context("tokens.previous_signing_key")?;
        if previous.jwk() != current.jwk() {
            keys.push(previous.jwk().clone());
        }
    }
    Ok(keys)
}

fn create(path: &Path, auth: &AuthConfig) -> anyhow::Result<TokenSigner> {
    let signer = TokenSigner::generate(auth).context("generating a signing key")?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    }
    let mut options = fs::OpenOptions::new();
    // `create_new`: never overwrite a key that appeared meanwhile; tokens
    // signed with it would stop verifying.
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(path).and_then(|mut file| {
        file.write_all(signer.seed_base64().as_bytes())?;
        file.sync_all()
    });
    match written {
        Ok(()) => {
            tracing::info!(path = %path.display(), kid = %signer.jwk().kid, "generated a new signing key");
            Ok(signer)
        }
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            // Another instance won the race; use its key.
            let seed = fs::read_to_string(path)
                .with_context(|| format!("cannot read the signing key file {}", path.display()))?;
            TokenSigner::from_seed_base64(&seed, auth)
                .with_context(|| format!("signing key file {}", path.display()))
        }
        Err(error) => Err(error)
            .with_context(|| format!("cannot write the signing key file {}", path.display())),
    }
}

/// A private key readable by other users is a leak waiting to happen; say so
/// rather than refuse, as some volume mounts cannot set modes.
fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(metadata) = fs::metadata(path) {
            let mode = metadata.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = format!("{:o}", mode & 0o777),
                    "the signing key file is readable by other users; chmod 600 it"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens_in(dir: &Path) -> TokenConfig {
        TokenConfig {
            signing_key_file: dir.join("keys/signing.key"),
            ..TokenConfig::default()
        }
    }

    #[test]
    fn a_key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = tokens_in(dir.path());
        let auth = AuthConfig::default();
        let first = load_or_create(&tokens, &auth).unwrap();
        let second = load_or_create(&tokens, &auth).unwrap();
        assert_eq!(first.jwk(), second.jwk());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&tokens.signing_key_file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_configured_key_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let auth = AuthConfig::default();
        let configured = TokenSigner::generate(&auth).unwrap();
        let tokens = TokenConfig {
            signing_key: Some(configured.seed_base64()),
            ..tokens_in(dir.path())
        };
        let signer = load_or_create(&tokens, &auth).unwrap();
        assert_eq!(signer.jwk(), configured.jwk());
        assert!(!tokens.signing_key_file.exists());
    }

    #[test]
    fn the_previous_key_is_published_after_the_current_one() {
        let auth = AuthConfig::default();
        let (old, new) = (
            TokenSigner::generate(&auth).unwrap(),
            TokenSigner::generate(&auth).unwrap(),
        );
        let mut tokens = TokenConfig {
            previous_signing_key: Some(old.seed_base64()),
            ..TokenConfig::default()
        };
        let keys = published(&new, &tokens, &auth).unwrap();
        assert_eq!(keys, [new.jwk().clone(), old.jwk().clone()]);
        // The same key twice is published once.
        tokens.previous_signing_key = Some(new.seed_base64());
        assert_eq!(
            published(&new, &tokens, &auth).unwrap(),
            [new.jwk().clone()]
        );
        tokens.previous_signing_key = Some("not a key".into());
        let error = published(&new, &tokens, &auth).unwrap_err();
        assert!(
            format!("{error:#}").contains("tokens.previous_signing_key"),
            "{error:#}"
        );
    }

    #[test]
    fn a_bad_key_stops_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = TokenConfig {
            signing_key: Some("not a key".into()),
            ..tokens_in(dir.path())
        };
        let error = load_or_create(&tokens, &AuthConfig::default()).unwrap_err();
        assert!(
            format!("{error:#}").contains("tokens.signing_key"),
            "{error:#}"
        );
    }
}
