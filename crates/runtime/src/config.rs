//! Layered, typed configuration, parsed once at start-up.
//!
//! Layers, later ones winning: the binary's defaults (`T::default()`), then a
//! TOML file named by `BAZAAR_CONFIG` (if set), then environment variables
//! `BAZAAR__SECTION__KEY` (`__` separates nesting levels; keys are
//! case-insensitive). A bad value fails start-up with a message naming the key
//! and where the value came from.

use std::path::{Path, PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Serialize, de::DeserializeOwned};

/// Prefix of the environment variables that override configuration.
pub const ENV_PREFIX: &str = "BAZAAR__";
/// The environment variable naming an optional TOML configuration file.
pub const FILE_ENV: &str = "BAZAAR_CONFIG";

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist (named by {FILE_ENV})")]
    MissingFile(PathBuf),
    /// Every bad key, each with the value's source.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl From<figment::Error> for ConfigError {
    fn from(error: figment::Error) -> Self {
        // figment chains one error per bad key; report them all at once.
        let all: Vec<String> = error.into_iter().map(|e| describe(&e)).collect();
        Self::Invalid(all.join("; "))
    }
}

/// `server.listen (from BAZAAR__SERVER__LISTEN): invalid type ...`: the key as
/// written in a file, and exactly where the bad value came from.
fn describe(error: &figment::Error) -> String {
    use figment::Source;
    let key = error.path.join(".").to_ascii_lowercase();
    let origin = error.metadata.as_ref().map(|md| match &md.source {
        Some(Source::File(path)) => format!("file {}", path.display()),
        _ if md.name.contains("environment") => {
            format!("{ENV_PREFIX}{}", error.path.join("__").to_ascii_uppercase())
        }
        _ => md.name.to_string(),
    });
    match (key.is_empty(), origin) {
        (true, Some(origin)) => format!("{} (from {origin})", error.kind),
        (true, None) => error.kind.to_string(),
        (false, Some(origin)) => format!("{key} (from {origin}): {}", error.kind),
        (false, None) => format!("{key}: {}", error.kind),
    }
}

/// Loads `T` from defaults, the file named by `BAZAAR_CONFIG` and the
/// `BAZAAR__` environment.
pub fn load<T>() -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned + Default,
{
    load_from(file_from_env().as_deref())
}

/// Like [`load`], with the file given explicitly (e.g. from a `--config` flag).
pub fn load_from<T>(file: Option<&Path>) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned + Default,
{
    extract(layers::<T>(file)?)
}

/// The layers without extracting, for callers that add their own.
pub fn layers<T>(file: Option<&Path>) -> Result<Figment, ConfigError>
where
    T: Serialize + Default,
{
    layered(Figment::from(Serialized::defaults(T::default())), file)
}

/// The file and environment layers over the given defaults.
pub fn layered(defaults: Figment, file: Option<&Path>) -> Result<Figment, ConfigError> {
    let mut figment = defaults;
    if let Some(path) = file {
        // figment skips a missing file silently; a named one must exist.
        if !path.is_file() {
            return Err(ConfigError::MissingFile(path.to_path_buf()));
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    Ok(figment.merge(Env::prefixed(ENV_PREFIX).split("__")))
}

/// Extracts the typed configuration from assembled layers.
pub fn extract<T: DeserializeOwned>(figment: Figment) -> Result<T, ConfigError> {
    Ok(figment.extract()?)
}

/// The file named by `BAZAAR_CONFIG`, if any.
pub fn file_from_env() -> Option<PathBuf> {
    std::env::var_os(FILE_ENV).map(PathBuf::from)
}
