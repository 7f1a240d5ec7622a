//! `LlmConfig`: providers, routes and wrapper settings, and how they become a
//! ready [`LlmStack`].
//!
//! Keys are never part of the config (so a config file or its `Debug` output
//! cannot leak one): each provider names the environment variable holding its
//! key (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `GEMINI_API_KEY` by default).
//! A provider that needs a key whose variable is unset is not constructed; the
//! routes pointing at it stay, and calls on them fail with
//! [`LlmError::NotConfigured`](crate::LlmError::NotConfigured) naming the
//! variable. That is what makes the defaults work offline: everything not
//! matching a real provider's pattern goes to `mock`, and asking for `gpt-4o`
//! without a key gets a clear error instead of a silent mock answer.
//!
//! Ollama's base URL is, in order: the provider's `base_url` in the config,
//! `OLLAMA_HOST`, `http://127.0.0.1:11434`.
//!
//! ```toml
//! # An example [llm] section as the host might load it.
//! call_timeout_ms = 30000
//! default_provider = "mock"
//! routes = [{ pattern = "gpt-*", provider = "openai" }, { pattern = "qwen*", provider = "vllm" }]
//! [providers.vllm]
//! kind = "openai"
//! base_url = "http://127.0.0.1:8000"
//! require_key = false
//! [cache]
//! ttl_ms = 60000
//! max_entries = 4096
//! [[prices]]
//! model = "gpt-4o-mini*"
//! input_per_mtok = 0.15
//! output_per_mtok = 0.60
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::chain::{BreakerConfig, CacheConfig, ChainBuilder, PriceTable, RetryConfig, TokenPrice};
use crate::providers::{
    AnthropicProvider, GeminiProvider, HttpSettings, OllamaProvider, OpenAiProvider,
};
use crate::router::Target;
use crate::{
    ApiKey, MemoryLedger, Metrics, MockConfig, MockProvider, Provider, Router, UsageLedger,
};

/// Which wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI Chat Completions and compatibles (vLLM, llama.cpp server, LiteLLM).
    Openai,
    Anthropic,
    Gemini,
    /// Ollama's native `/api/chat`.
    Ollama,
    Mock,
}

impl ProviderKind {
    fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::Openai => "https://api.openai.com",
            ProviderKind::Anthropic => "https://api.anthropic.com",
            ProviderKind::Gemini => "https://generativelanguage.googleapis.com",
            ProviderKind::Ollama => "http://127.0.0.1:11434",
            ProviderKind::Mock => "",
        }
    }

    fn default_key_env(self) -> Option<&'static str> {
        match self {
            ProviderKind::Openai => Some("OPENAI_API_KEY"),
            ProviderKind::Anthropic => Some("ANTHROPIC_API_KEY"),
            ProviderKind::Gemini => Some("GEMINI_API_KEY"),
            ProviderKind::Ollama | ProviderKind::Mock => None,
        }
    }

    fn default_requires_key(self) -> bool {
        matches!(
            self,
            ProviderKind::Openai | ProviderKind::Anthropic | ProviderKind::Gemini
        )
    }
}

/// One provider. Everything but `kind` has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    /// Scheme + host (+ optional prefix) without the API path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The environment variable holding the key (never the key itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Whether the provider is unusable without a key. Defaults to true for
    /// openai, anthropic and gemini; set false for local OpenAI-compatible servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_key: Option<bool>,
    /// Bound on one HTTP request (the chain's call timeout usually cuts sooner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout_ms: Option<u64>,
    /// Anthropic only: `max_tokens` when the request has none (the API requires one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_max_tokens: Option<u32>,
    /// Mock only: added latency.
    #[serde(default)]
    pub latency_ms: u64,
    /// Mock only: fraction of calls that fail, spread evenly.
    #[serde(default)]
    pub failure_rate: f64,
}

impl ProviderConfig {
    pub fn new(kind: ProviderKind) -> Self {
        Self {
            kind,
            base_url: None,
            api_key_env: None,
            require_key: None,
            request_timeout_ms: None,
            default_max_tokens: None,
            latency_ms: 0,
            failure_rate: 0.0,
        }
    }

    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    pub fn with_key_env(mut self, var: impl Into<String>) -> Self {
        self.api_key_env = Some(var.into());
        self
    }
}

/// `pattern` (a glob over model names) → provider name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteConfig {
    pub pattern: String,
    pub provider: String,
}

impl RouteConfig {
    pub fn new(pattern: impl Into<String>, provider: impl Into<String>) -> Self {
        Self {
            pattern: pattern.into(),
            provider: provider.into(),
        }
    }
}

/// A price row: model glob and USD per million tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceConfig {
    pub model: String,
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

/// The whole LLM configuration. `LlmConfig::default()` runs offline: mock as
/// the default provider, the four real providers configured but only
/// constructed when their keys are present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LlmConfig {
    /// Providers by name. Names are what routes, metrics and logs use.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Tried in order; the first matching pattern wins.
    pub routes: Vec<RouteConfig>,
    /// Where models that match no route go; `None` denies them.
    pub default_provider: Option<String>,
    /// `max_entries = 0` turns the cache off.
    pub cache: CacheConfig,
    /// `failure_threshold = 0` turns the breaker off.
    pub breaker: BreakerConfig,
    /// `max_retries = 0` turns retries off.
    pub retry: RetryConfig,
    pub prices: Vec<PriceConfig>,
    /// Upper bound on one call including retries; the plugin's deadline can only shorten it.
    pub call_timeout_ms: u64,
}

impl Default for LlmConfig {
    fn default() -> Self {
        let providers = [
            ("mock", ProviderKind::Mock),
            ("openai", ProviderKind::Openai),
            ("anthropic", ProviderKind::Anthropic),
            ("gemini", ProviderKind::Gemini),
            ("ollama", ProviderKind::Ollama),
        ]
        .into_iter()
        .map(|(n, k)| (n.to_owned(), ProviderConfig::new(k)))
        .collect();
        Self {
            providers,
            routes: vec![
                RouteConfig::new("gpt-*", "openai"),
                RouteConfig::new("claude-*", "anthropic"),
                RouteConfig::new("gemini-*", "gemini"),
                RouteConfig::new("llama*", "ollama"),
            ],
            default_provider: Some("mock".into()),
            cache: CacheConfig::default(),
            breaker: BreakerConfig::default(),
            retry: RetryConfig::default(),
            prices: Vec::new(),
            call_timeout_ms: 60_000,
        }
    }
}

/// Why a configuration cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "route `{pattern}` points to provider `{provider}`, which is not in [llm.providers] (known: {known:?})"
    )]
    UnknownProvider {
        pattern: String,
        provider: String,
        known: Vec<String>,
    },
    #[error("provider `{provider}`: {reason}")]
    InvalidProvider { provider: String, reason: String },
}

/// Everything the host needs from the LLM side, built from one [`LlmConfig`].
#[derive(Clone)]
pub struct LlmStack {
    /// The router over every provider chain: hand this to the `llm` capability.
    pub provider: Arc<dyn Provider>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The usage ledger the budgets read and write.
    pub ledger: Arc<dyn UsageLedger>,
    /// Providers that were not constructed, and why (log these at startup).
    pub unavailable: BTreeMap<String, String>,
}

impl std::fmt::Debug for LlmStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmStack")
            .field("unavailable", &self.unavailable)
            .finish_non_exhaustive()
    }
}

impl LlmConfig {
    /// Builds with keys from the process environment and an in-memory ledger.
    pub fn build(&self) -> Result<LlmStack, ConfigError> {
        self.build_with(&|k| std::env::var(k).ok(), Arc::new(MemoryLedger::new()))
    }

    /// Builds with the given environment lookup and usage ledger (the host
    /// passes its database-backed ledger here).
    pub fn build_with(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        ledger: Arc<dyn UsageLedger>,
    ) -> Result<LlmStack, ConfigError> {
        let known: Vec<String> = self.providers.keys().cloned().collect();
        let check = |pattern: &str, provider: &str| {
            if self.providers.contains_key(provider) {
                Ok(())
            } else {
                Err(ConfigError::UnknownProvider {
                    pattern: pattern.to_owned(),
                    provider: provider.to_owned(),
                    known: known.clone(),
                })
            }
        };
        for r in &self.routes {
            check(&r.pattern, &r.provider)?;
        }
        if let Some(d) = &self.default_provider {
            check("(default)", d)?;
        }

        let builder = self.chain_builder().ledger(ledger.clone());
        let metrics = builder.metrics_handle();
        let mut targets: BTreeMap<String, Target> = BTreeMap::new();
        let mut unavailable = BTreeMap::new();
        for (name, pc) in &self.providers {
            match construct(name, pc, env)? {
                Ok(p) => {
                    targets.insert(name.clone(), Target::Provider(builder.wrap(p)));
                }
                Err(reason) => {
                    tracing::info!(target: "djinn::llm", provider = %name, %reason, "llm provider not configured");
                    unavailable.insert(name.clone(), reason.clone());
                    targets.insert(
                        name.clone(),
                        Target::Unavailable {
                            provider: name.clone(),
                            reason,
                        },
                    );
                }
            }
        }
        let mut router = Router::new().with_metrics(metrics.clone());
        for r in &self.routes {
            router = router.route_to(r.pattern.clone(), targets[&r.provider].clone());
        }
        if let Some(d) = &self.default_provider {
            router = router.default_route(targets[d].clone());
        }
        Ok(LlmStack {
            provider: Arc::new(router),
            metrics,
            ledger,
            unavailable,
        })
    }

    /// A [`ChainBuilder`] with this config's wrapper settings and prices.
    pub fn chain_builder(&self) -> ChainBuilder {
        ChainBuilder::new()
            .cache((self.cache.max_entries > 0).then(|| self.cache.clone()))
            .breaker((self.breaker.failure_threshold > 0).then(|| self.breaker.clone()))
            .retry((self.retry.max_retries > 0).then(|| self.retry.clone()))
            .call_timeout(
                (self.call_timeout_ms > 0).then(|| Duration::from_millis(self.call_timeout_ms)),
            )
            .prices(PriceTable::new(
                self.prices
                    .iter()
                    .map(|p| {
                        (
                            p.model.clone(),
                            TokenPrice {
                                input_per_mtok: p.input_per_mtok,
                                output_per_mtok: p.output_per_mtok,
                            },
                        )
                    })
                    .collect(),
            ))
    }
}

/// `Ok(Err(reason))` when the provider is simply not available (missing key);
/// `Err` when its configuration is broken.
#[allow(clippy::type_complexity)]
fn construct(
    name: &str,
    pc: &ProviderConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Result<Arc<dyn Provider>, String>, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidProvider {
        provider: name.to_owned(),
        reason,
    };
    if pc.kind == ProviderKind::Mock {
        if !(0.0..=1.0).contains(&pc.failure_rate) {
            return Err(invalid(format!(
                "failure_rate {} is outside [0, 1]",
                pc.failure_rate
            )));
        }
        return Ok(Ok(Arc::new(MockProvider::new(MockConfig {
            latency: Duration::from_millis(pc.latency_ms),
            failure_rate: pc.failure_rate,
        }))));
    }
    let key_env = pc
        .api_key_env
        .as_deref()
        .or(pc.kind.default_key_env())
        .filter(|v| !v.is_empty());
    let key = key_env
        .and_then(env)
        .map(ApiKey::new)
        .filter(|k| !k.expose().is_empty());
    let require_key = pc.require_key.unwrap_or(pc.kind.default_requires_key());
    if key.is_none() && require_key {
        return Ok(Err(match key_env {
            Some(v) => format!("set {v} to enable it"),
            None => "it requires a key but names no api_key_env".to_owned(),
        }));
    }
    let base_url = match (&pc.base_url, pc.kind) {
        (Some(u), _) => u.clone(),
        (None, ProviderKind::Ollama) => env("OLLAMA_HOST")
            .filter(|h| !h.trim().is_empty())
            .map(|h| ollama_url(&h))
            .unwrap_or_else(|| pc.kind.default_base_url().to_owned()),
        (None, k) => k.default_base_url().to_owned(),
    };
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(invalid(format!(
            "base_url `{base_url}` must start with http:// or https://"
        )));
    }
    let mut settings = HttpSettings::new(name, base_url);
    if let Some(ms) = pc.request_timeout_ms {
        settings = settings.with_timeout(Duration::from_millis(ms));
    }
    if let Some(k) = key {
        settings = settings.with_key(k);
    }
    let p: Arc<dyn Provider> = match pc.kind {
        ProviderKind::Openai => Arc::new(OpenAiProvider::new(settings).map_err(invalid)?),
        ProviderKind::Anthropic => Arc::new(
            AnthropicProvider::new(settings, pc.default_max_tokens.unwrap_or(1024))
                .map_err(invalid)?,
        ),
        ProviderKind::Gemini => Arc::new(GeminiProvider::new(settings).map_err(invalid)?),
        ProviderKind::Ollama => Arc::new(OllamaProvider::new(settings).map_err(invalid)?),
        ProviderKind::Mock => unreachable!("handled above"),
    };
    Ok(Ok(p))
}

/// `OLLAMA_HOST` is often `host:port` or `0.0.0.0:11434` (a bind address).
fn ollama_url(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    let with_scheme = if host.starts_with("http://") || host.starts_with("https://") {
        host.to_owned()
    } else {
        format!("http://{host}")
    };
    with_scheme.replace("://0.0.0.0", "://127.0.0.1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CallContext, ChatMessage, CompletionRequest, LlmError};

    fn req(model: &str) -> CompletionRequest {
        CompletionRequest {
            model: model.into(),
            messages: vec![ChatMessage {
                role: "user".into(),
                content: "hi".into(),
            }],
            temperature: None,
            max_tokens: None,
        }
    }

    #[tokio::test]
    async fn defaults_work_offline_and_name_the_missing_key() {
        let stack = LlmConfig::default()
            .build_with(&|_| None, Arc::new(MemoryLedger::new()))
            .unwrap();
        assert_eq!(
            stack.unavailable.keys().collect::<Vec<_>>(),
            ["anthropic", "gemini", "openai"]
        );
        let ctx = CallContext::new("p");
        let ok = stack.provider.complete(&ctx, &req("mock")).await.unwrap();
        assert!(ok.text.starts_with("[mock "));
        let e = stack
            .provider
            .complete(&ctx, &req("gpt-4o"))
            .await
            .unwrap_err();
        assert!(matches!(e, LlmError::NotConfigured { .. }));
        assert!(e.to_string().contains("set OPENAI_API_KEY"), "{e}");
    }

    #[test]
    fn config_round_trips_through_serde_and_rejects_unknown_routes() {
        let c: LlmConfig = serde_json::from_str(
            r#"{"routes":[{"pattern":"qwen*","provider":"vllm"}],
                "providers":{"vllm":{"kind":"openai","base_url":"http://127.0.0.1:1","require_key":false}},
                "cache":{"ttl_ms":5}}"#,
        )
        .unwrap();
        assert_eq!(c.cache.ttl_ms, 5);
        assert_eq!(c.cache.max_entries, 1024);
        assert_eq!(c.default_provider.as_deref(), Some("mock"));
        // `providers` replaced the default map, so the default route to mock is dangling.
        let e = c
            .build_with(&|_| None, Arc::new(MemoryLedger::new()))
            .unwrap_err();
        assert!(
            matches!(e, ConfigError::UnknownProvider { ref provider, .. } if provider == "mock"),
            "{e}"
        );
        let json = serde_json::to_string(&LlmConfig::default()).unwrap();
        let back: LlmConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, LlmConfig::default());
    }

    #[test]
    fn ollama_host_forms() {
        assert_eq!(ollama_url("0.0.0.0:11434"), "http://127.0.0.1:11434");
        assert_eq!(
            ollama_url("https://ollama.internal/"),
            "https://ollama.internal"
        );
    }

    #[test]
    fn keys_stay_out_of_debug_output() {
        let stack = LlmConfig::default()
            .build_with(
                &|k| (k == "OPENAI_API_KEY").then(|| "sk-secret-debug-0000".to_owned()),
                Arc::new(MemoryLedger::new()),
            )
            .unwrap();
        assert!(!stack.unavailable.contains_key("openai"));
        let s = format!("{stack:?} {:?}", LlmConfig::default());
        assert!(!s.contains("sk-secret"), "{s}");
    }
}
