//! LLM providers behind djinn's `llm` capability.
//!
//! Plugins never see a provider, a key or a URL: the host turns a plugin's
//! `llm.complete` into a [`CompletionRequest`], checks it against the plugin's
//! grant, and hands it to a [`Provider`]. Everything here is host-side and
//! independent of WebAssembly, so it builds and tests on its own.

mod mock;

pub use mock::{MockConfig, MockProvider};

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

/// Who is calling and until when; the wrapper chain budgets and cuts by this.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The plugin on whose behalf the call is made.
    pub plugin_id: String,
    /// The latest instant the caller can wait for (the plugin's own deadline).
    pub deadline: Option<tokio::time::Instant>,
}

impl CallContext {
    pub fn new(plugin_id: impl Into<String>) -> Self {
        Self {
            plugin_id: plugin_id.into(),
            deadline: None,
        }
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
    /// The request is outside the plugin's grant (model, token cap).
    #[error("denied: {0}")]
    Denied(String),
    /// The plugin's daily budget is spent.
    #[error("budget exceeded: {0}")]
    BudgetExceeded(String),
    /// The call ran past its deadline.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The provider failed or could not be reached.
    #[error("provider `{provider}` failed: {message}")]
    Provider { provider: String, message: String },
}

impl LlmError {
    /// Whether trying again later could succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, LlmError::Timeout(_) | LlmError::Provider { .. })
    }
}

/// A source of completions: a real API, a local server or the mock.
#[async_trait]
pub trait Provider: Send + Sync {
    /// A short name for logs and metrics (`openai`, `mock`, ...).
    fn name(&self) -> &str;

    async fn complete(
        &self,
        ctx: &CallContext,
        req: &CompletionRequest,
    ) -> Result<CompletionResponse, LlmError>;
}
