//! LLM providers behind djinn's `llm` capability.
//!
//! Plugins never see a provider, a key or a URL: the host turns a plugin's
//! `llm.complete` into a [`CompletionRequest`], checks it against the plugin's
//! grant, and hands it to a [`Provider`]. Everything here is host-side and
//! independent of WebAssembly, so it builds and tests on its own.
//!
//! The pieces:
//! - [`providers`]: real HTTP clients for the OpenAI-compatible Chat Completions,
//!   Anthropic Messages, Gemini `generateContent` and Ollama `/api/chat` wire
//!   formats, plus the deterministic [`MockProvider`].
//! - [`chain`]: wrappers that are themselves providers (metering, cache, budget,
//!   deadline, retry, circuit breaker) and [`ChainBuilder`], which stacks them in
//!   the standard order (the module doc says which order and why).
//! - [`Router`]: picks a provider chain by model-name glob.
//! - [`LlmConfig`]: the serde configuration; [`LlmConfig::build`] turns it into a
//!   ready [`LlmStack`] (router + metrics + usage ledger) for the host.
//! - [`Metrics`]: atomic counters with a snapshot and a Prometheus rendering.
//!
//! Keys live only in [`ApiKey`], whose `Debug` is redacted and which has no
//! `Display`; provider error bodies are scrubbed of the key before they become
//! an [`LlmError`], because some APIs echo the key they rejected.
//!
//! # Wiring it into the host
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use djinn_llm::{CallContext, ChatMessage, CompletionRequest, LlmConfig, MemoryLedger, Provider};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // Once at startup: config (serde, e.g. the `[llm]` table) + keys from the environment.
//! // Pass the database-backed `UsageLedger` instead of `MemoryLedger` to persist usage.
//! let stack = LlmConfig::default()
//!     .build_with(&|var| std::env::var(var).ok(), Arc::new(MemoryLedger::new()))?;
//! for (provider, why) in &stack.unavailable {
//!     tracing::info!(provider, why, "llm provider disabled");
//! }
//! let llm: Arc<dyn Provider> = stack.provider.clone(); // → Services::llm
//!
//! // Per call: the plugin's id, its deadline and its manifest's daily budget.
//! let ctx = CallContext::new("forecaster")
//!     .with_deadline(Some(tokio::time::Instant::now() + Duration::from_secs(2)))
//!     .with_daily_token_budget(Some(200_000));
//! let req = CompletionRequest {
//!     model: "mock".into(),
//!     messages: vec![ChatMessage { role: "user".into(), content: "hi".into() }],
//!     temperature: None,
//!     max_tokens: Some(256),
//! };
//! let answer = llm.complete(&ctx, &req).await?;
//!
//! // For /metrics:
//! let text = stack.metrics.snapshot().to_prometheus();
//! # let _ = (answer, text);
//! # Ok(())
//! # }
//! ```

pub mod chain;
pub mod config;
pub mod metrics;
mod mock;
pub mod providers;
pub mod router;
mod secret;

pub use chain::{
    BreakerConfig, CacheConfig, ChainBuilder, MemoryLedger, PriceTable, RetryConfig, TokenPrice,
    Usage, UsageLedger, UtcDay,
};
pub use config::{ConfigError, LlmConfig, LlmStack, ProviderConfig, ProviderKind, RouteConfig};
pub use metrics::{Metrics, MetricsSnapshot, Outcome};
pub use mock::{MockConfig, MockProvider};
pub use router::Router;
pub use secret::ApiKey;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// One chat turn.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

/// A completion request after the host resolved the model and checked the grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
}

/// What a provider answered, with token usage mapped to one shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionResponse {
    pub text: String,
    pub model: String,
    pub input_tokens: u32,
    pub output_tokens: u32,
}

/// Who is calling, until when, and how much they may spend today; the wrapper
/// chain budgets and cuts by this.
///
/// Build it with [`CallContext::new`] and the `with_*` methods so that fields
/// added later get their defaults.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The plugin on whose behalf the call is made.
    pub plugin_id: String,
    /// The latest instant the caller can wait for (the plugin's own deadline).
    pub deadline: Option<tokio::time::Instant>,
    /// The plugin's daily token budget (input + output, per UTC day) from its
    /// manifest grant; `None` means unlimited.
    pub daily_token_budget: Option<u64>,
    /// The plugin's daily cost budget in micro-USD; `None` means unlimited.
    /// Only models with a price in the [`PriceTable`] cost anything.
    pub daily_cost_budget_micros: Option<u64>,
}

impl CallContext {
    /// A context with no deadline and no budgets.
    pub fn new(plugin_id: impl Into<String>) -> Self {
        Self {
            plugin_id: plugin_id.into(),
            deadline: None,
            daily_token_budget: None,
            daily_cost_budget_micros: None,
        }
    }

    /// Sets the latest instant the caller can wait for.
    pub fn with_deadline(mut self, deadline: Option<tokio::time::Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// Sets the plugin's daily token budget (`daily_token_budget` in its manifest).
    pub fn with_daily_token_budget(mut self, tokens: Option<u64>) -> Self {
        self.daily_token_budget = tokens;
        self
    }

    /// Sets the plugin's daily cost budget in micro-USD.
    pub fn with_daily_cost_budget_micros(mut self, micros: Option<u64>) -> Self {
        self.daily_cost_budget_micros = micros;
        self
    }

    /// Time left before the deadline, if there is one.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(tokio::time::Instant::now()))
    }
}

/// Why a completion failed. Messages never contain provider keys.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// The request is outside the plugin's grant (model, token cap), or no
    /// route matches its model.
    #[error("denied: {0}")]
    Denied(String),
    /// The plugin's daily budget is spent.
    #[error("budget exceeded: {0}")]
    BudgetExceeded(String),
    /// The call ran past its deadline.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The provider failed or could not be reached (5xx, connection refused, ...).
    /// Retryable.
    #[error("provider `{provider}` failed: {message}")]
    Provider { provider: String, message: String },
    /// The provider throttled us (HTTP 429). Retryable, after `retry_after` if given.
    #[error("provider `{provider}` rate-limited the call{}", retry_after_text(.retry_after))]
    RateLimited {
        provider: String,
        retry_after: Option<Duration>,
    },
    /// The provider refused our key (HTTP 401/403). Check the key's environment
    /// variable and its permissions; retrying will not help.
    #[error("provider `{provider}` refused the credentials: {message}")]
    Unauthorized { provider: String, message: String },
    /// The provider rejected the request itself (HTTP 400/404/422, a blocked
    /// prompt). Retrying the same request will not help.
    #[error("provider `{provider}` rejected the request: {message}")]
    Rejected { provider: String, message: String },
    /// The provider answered 2xx with a body we could not understand.
    #[error("provider `{provider}` sent a malformed response: {message}")]
    Malformed { provider: String, message: String },
    /// The circuit breaker for this provider is open after repeated failures.
    #[error("provider `{provider}` is unavailable (circuit open, next probe in {retry_in:?})")]
    CircuitOpen {
        provider: String,
        retry_in: Duration,
    },
    /// The model routes to a provider that was not constructed (usually its
    /// API key variable is unset).
    #[error("model `{model}` routes to provider `{provider}`, which is not configured: {reason}")]
    NotConfigured {
        model: String,
        provider: String,
        reason: String,
    },
    /// The usage ledger could not be read or written; the call is refused
    /// rather than run unbudgeted.
    #[error("usage ledger failed: {0}")]
    Ledger(String),
}

fn retry_after_text(d: &Option<Duration>) -> String {
    match d {
        Some(d) => format!(" (retry after {d:?})"),
        None => String::new(),
    }
}

impl LlmError {
    /// Whether trying again later could succeed: timeouts, 5xx and transport
    /// failures, and 429s. Never 400/401/403, denials or an open circuit.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            LlmError::Timeout(_) | LlmError::Provider { .. } | LlmError::RateLimited { .. }
        )
    }
}

/// A source of completions: a real API, a local server, the mock, or a wrapper
/// around another provider.
#[async_trait]
pub trait Provider: Send + Sync {
    /// A short name for logs and metrics (`openai`, `mock`, ...). Wrappers
    /// return the name of the provider they wrap.
    fn name(&self) -> &str;

    async fn complete(
        &self,
        ctx: &CallContext,
        req: &CompletionRequest,
    ) -> Result<CompletionResponse, LlmError>;
}
