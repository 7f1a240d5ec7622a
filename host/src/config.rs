//! The host's one configuration: a TOML file, then environment variables, then
//! command-line flags (applied by the CLI). Every field has a default that runs
//! offline: SQLite in `./.djinn`, the mock LLM.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::runtime::{EffectiveLimits, RuntimeConfig};

/// `djinn.config.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostConfig {
    /// Where the database and the compiled-component cache live (default `./.djinn`).
    pub data_dir: Option<PathBuf>,
    /// `sqlite://…` or `postgres://…`; default `sqlite://<data_dir>/djinn.db`.
    /// Env: `DJINN_DATABASE_URL`.
    pub database_url: Option<String>,
    /// SQLite only: `full` (default) makes every commit, audit batches included,
    /// durable across power loss; `normal` (WAL) survives a crash of the process but
    /// may lose the last commits if the machine loses power, for a faster commit.
    pub sqlite_synchronous: SqliteSync,
    pub limits: LimitsConfig,
    /// Per-plugin values that override each manifest's `[config]`.
    pub plugin_config: HashMap<String, BTreeMap<String, String>>,
    /// Providers, routes, cache, breaker, retry and prices (see docs/operations.md).
    pub llm: djinn_llm::LlmConfig,
    pub api: ApiConfig,
}

/// SQLite's `synchronous` setting (see [`HostConfig::sqlite_synchronous`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    #[default]
    Full,
    Normal,
}

/// `[api]`: where `djinn serve` listens and who may call it.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Default `127.0.0.1:8080`. Without tokens the host listens on loopback only.
    pub listen: String,
    /// `[[api.tokens]]`: name, role (operator|consumer), sha256 of the token.
    pub tokens: Vec<crate::api::TokenConfig>,
    /// `[api.jwt]`: accept JWTs from one issuer as well (HS256 or RS256).
    pub jwt: Option<crate::api::JwtConfig>,
    /// Questions running at once; more get 503 `overloaded` (default 64).
    pub max_running_asks: usize,
    /// Questions one caller may start per minute; more get 429 `rate_limited`
    /// (default 0: no per-caller limit).
    pub asks_per_minute: u32,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            tokens: Vec::new(),
            jwt: None,
            max_running_asks: 64,
            asks_per_minute: 0,
        }
    }
}

/// Defaults for manifests that leave a limit unset, and ceilings no manifest may exceed.
///
/// `pool` may be left out of `defaults` and `ceilings`; it is then 0, so a
/// `ceilings` table without `pool` forbids instance reuse for every plugin.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    pub defaults: Option<EffectiveLimits>,
    pub ceilings: Option<EffectiveLimits>,
    pub max_concurrent_instances: Option<u32>,
    /// Idle pooled instances kept across all plugins, in allocator slots of
    /// their own; default a quarter of `max_concurrent_instances`, at most all of it.
    pub max_idle_instances: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path} is invalid: {message}")]
    Parse { path: String, message: String },
}

impl HostConfig {
    /// Reads `path` if given (a missing explicit file is an error), then applies
    /// the environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: p.display().to_string(),
                    message: e.to_string(),
                })?
            }
            None => HostConfig::default(),
        };
        if let Ok(url) = std::env::var("DJINN_DATABASE_URL")
            && !url.is_empty()
        {
            config.database_url = Some(url);
        }
        if let Ok(dir) = std::env::var("DJINN_DATA_DIR")
            && !dir.is_empty()
        {
            config.data_dir = Some(PathBuf::from(dir));
        }
        Ok(config)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(".djinn"))
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir().join("djinn.db").display()))
    }

    /// The runtime settings this config implies.
    pub fn runtime(&self) -> RuntimeConfig {
        let base = RuntimeConfig::default();
        RuntimeConfig {
            cache_dir: Some(self.data_dir().join("cache")),
            defaults: self.limits.defaults.unwrap_or(base.defaults),
            ceilings: self.limits.ceilings.unwrap_or(base.ceilings),
            max_concurrent_instances: self
                .limits
                .max_concurrent_instances
                .unwrap_or(base.max_concurrent_instances),
            max_idle_instances: self.limits.max_idle_instances,
            plugin_config: self.plugin_config.clone(),
            ..base
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_run_offline_in_the_data_dir() {
        let c: HostConfig = toml::from_str("").unwrap();
        assert_eq!(c.database_url(), "sqlite://.djinn/djinn.db");
        assert_eq!(c.runtime().cache_dir, Some(PathBuf::from(".djinn/cache")));
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = toml::from_str::<HostConfig>("databse_url = \"x\"").unwrap_err();
        assert!(err.to_string().contains("databse_url"), "{err}");
    }

    #[test]
    fn idle_instances_are_bounded_by_the_calls_in_flight() {
        let c: HostConfig =
            toml::from_str("[limits]\nmax_concurrent_instances = 16\nmax_idle_instances = 17")
                .unwrap();
        let err = c.runtime().idle_instance_budget().unwrap_err().to_string();
        assert!(
            err.contains("max_idle_instances = 17 exceeds max_concurrent_instances = 16"),
            "{err}"
        );
        let c: HostConfig = toml::from_str(
            "[limits]\nmax_idle_instances = 10\n\
             ceilings = { fuel = 1, timeout_ms = 1, memory_mib = 1, max_output_bytes = 1, max_messages = 1, pool = 2 }",
        )
        .unwrap();
        let rt = c.runtime();
        assert_eq!(rt.idle_instance_budget().unwrap(), 10);
        assert_eq!(rt.ceilings.pool, 2);
    }

    #[test]
    fn parses_llm_and_limits_sections() {
        let c: HostConfig = toml::from_str(
            r#"
            data_dir = "/var/lib/djinn"
            [limits]
            max_concurrent_instances = 32
            [plugin_config.enricher]
            currency = "EUR"
            [llm]
            call_timeout_ms = 5000
            "#,
        )
        .unwrap();
        assert_eq!(c.runtime().max_concurrent_instances, 32);
        assert_eq!(c.runtime().idle_instance_budget().unwrap(), 8);
        assert_eq!(c.llm.call_timeout_ms, 5000);
        assert_eq!(c.plugin_config["enricher"]["currency"], "EUR");
    }
}
