//! The user service's configuration: the shared sections plus `[tokens]`,
//! `[bootstrap_admin]`, `[password]` and `[throttle]`.
//!
//! `auth.jwks_url` is ignored here: the user service signs the tokens, so it
//! checks them with its own key instead of fetching its own JWK set.

use std::{fmt, path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};

pub use crate::throttle::ThrottleConfig;

/// The user service's whole configuration.
pub type Config = bazaar_runtime::service::Config<Settings>;

/// What only the user service configures.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub tokens: TokenConfig,
    /// An admin account created at start-up if no account has its email, so
    /// a fresh system can be administered. An existing account is left alone.
    /// Off unless `bootstrap_admin.enabled` is set: the development launcher
    /// (`make run`) and the chart set it, a bare production start does not.
    pub bootstrap_admin: Option<AdminConfig>,
    pub password: PasswordConfig,
    pub throttle: ThrottleConfig,
}

impl bazaar_runtime::service::Settings for Settings {
    const NAME: &'static str = "user";
    const DEFAULT_PORT: u16 = 50051;
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            tokens: TokenConfig::default(),
            bootstrap_admin: Some(AdminConfig::default()),
            password: PasswordConfig::default(),
            throttle: ThrottleConfig::default(),
        }
    }
}

/// The `[tokens]` section: how access tokens are signed and how long they
/// last.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenConfig {
    /// How long an access token is accepted after it is issued.
    /// Short, so roles a token carries are at most this stale: a refresh
    /// reads them again.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// How long a refresh token is accepted after it is issued; each use
    /// replaces it with a new one.
    #[serde(with = "humantime_serde")]
    pub refresh_ttl: Duration,
    /// The Ed25519 private key as a base64url seed (32 bytes), e.g. from a
    /// secret. Wins over `signing_key_file`.
    pub signing_key: Option<String>,
    /// Where the key is kept when `signing_key` is unset: read at start-up,
    /// or generated and written there (mode 0600) on first start, so tokens
    /// survive restarts.
    pub signing_key_file: PathBuf,
    /// The key this one replaced, as a base64url seed: during a rotation
    /// its public half is still published (and its tokens still accepted)
    /// until they expire, while only the current key signs. Rotate by
    /// restarting with the new key as `signing_key` and the old one here;
    /// verifiers refetch the key set when they meet the new key id.
    pub previous_signing_key: Option<String>,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            signing_key: None,
            signing_key_file: PathBuf::from("data/user-signing.key"),
            previous_signing_key: None,
        }
    }
}

impl fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenConfig")
            .field("ttl", &self.ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field(
                "signing_key",
                &self.signing_key.as_ref().map(|_| "<redacted>"),
            )
            .field("signing_key_file", &self.signing_key_file)
            .field(
                "previous_signing_key",
                &self.previous_signing_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The `[bootstrap_admin]` section.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AdminConfig {
    /// On: the account is created when missing
    /// (`BAZAAR__BOOTSTRAP_ADMIN__ENABLED=true`). Off by default, so the
    /// well-known development credentials never reach a deployment that did
    /// not ask for them.
    pub enabled: bool,
    pub email: String,
    pub password: String,
    pub display_name: String,
}

impl AdminConfig {
    /// The well-known development password; start-up warns when it is used.
    pub const DEV_PASSWORD: &'static str = "bazaar-admin-dev";
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            email: "admin@bazaar.local".to_owned(),
            password: Self::DEV_PASSWORD.to_owned(),
            display_name: "Admin".to_owned(),
        }
    }
}

impl fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminConfig")
            .field("enabled", &self.enabled)
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .field("display_name", &self.display_name)
            .finish()
    }
}

/// The `[password]` section: argon2id cost. Defaults are OWASP's minimum
/// for argon2id (19 MiB, 2 passes, 1 lane); raise them if logins can afford
/// it. Stored hashes carry their own parameters, so changing these affects
/// new hashes only.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PasswordConfig {
    /// Memory per hash, in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
    /// Hashes running at once; `0`: one per core.
    pub max_concurrent: usize,
    /// Hashes waiting for a slot at most; past it Login and Register answer
    /// `RESOURCE_EXHAUSTED` at once, so a flood cannot queue without bound.
    pub max_waiting: usize,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            max_concurrent: 0,
            max_waiting: 64,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn defaults_survive_the_config_layers() {
        let config = Config::load_from(None).unwrap();
        assert_eq!(config.shared.server.listen.port(), 50051);
        assert_eq!(config.shared.database.url, "sqlite://data/user.db");
        let settings = config.settings;
        assert_eq!(settings.tokens.ttl, Duration::from_secs(15 * 60));
        assert_eq!(
            settings.tokens.refresh_ttl,
            Duration::from_secs(30 * 24 * 3600)
        );
        assert_eq!(
            settings.bootstrap_admin.as_ref().map(|a| a.email.as_str()),
            Some("admin@bazaar.local")
        );
        assert!(
            !settings.bootstrap_admin.is_some_and(|a| a.enabled),
            "the dev admin is for development mode only"
        );
        assert_eq!(settings.password.memory_kib, 19_456);
    }

    #[test]
    fn a_file_overrides_single_keys() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            file,
            "[tokens]\nttl = \"15m\"\n[bootstrap_admin]\npassword = \"s3cret-enough\"\n\
             [password]\niterations = 3"
        )
        .unwrap();
        let settings = Config::load_from(Some(file.path())).unwrap().settings;
        assert_eq!(settings.tokens.ttl, Duration::from_secs(900));
        let admin = settings.bootstrap_admin.unwrap();
        assert_eq!(admin.password, "s3cret-enough");
        assert_eq!(admin.email, "admin@bazaar.local");
        assert_eq!(settings.password.iterations, 3);
        assert_eq!(settings.password.memory_kib, 19_456);
    }

    #[test]
    fn secrets_are_not_printed() {
        let mut config = Config::default();
        config.settings.tokens.signing_key = Some("c2VjcmV0LXNlZWQ".into());
        config.settings.tokens.previous_signing_key = Some("b2xkLXNlZWQ".into());
        let printed = format!("{config:?}");
        assert!(!printed.contains("b2xkLXNlZWQ"), "{printed}");
        assert!(!printed.contains(AdminConfig::DEV_PASSWORD), "{printed}");
        assert!(!printed.contains("c2VjcmV0LXNlZWQ"), "{printed}");
    }
}
