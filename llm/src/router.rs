//! Picks a provider chain by model name.
//!
//! Routes are glob patterns (`*` any run of characters, `?` one character),
//! tried in order; the first match wins, then the default. A route can point
//! at a provider that could not be constructed (its key is unset); calls to
//! it fail with [`LlmError::NotConfigured`] naming the provider and why,
//! rather than silently going elsewhere.

use std::sync::Arc;

use async_trait::async_trait;

use crate::metrics::{CallRecordView, Outcome};
use crate::{CallContext, CompletionRequest, CompletionResponse, LlmError, Metrics, Provider};

/// Where a route leads.
#[derive(Clone)]
pub enum Target {
    /// A ready provider (usually a whole chain).
    Provider(Arc<dyn Provider>),
    /// A provider named in the config that was not constructed.
    Unavailable { provider: String, reason: String },
}

impl Target {
    fn provider_name(&self) -> &str {
        match self {
            Target::Provider(p) => p.name(),
            Target::Unavailable { provider, .. } => provider,
        }
    }
}

/// A [`Provider`] that dispatches on `req.model`.
#[derive(Clone, Default)]
pub struct Router {
    routes: Vec<(String, Target)>,
    default: Option<Target>,
    metrics: Option<Arc<Metrics>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let routes: Vec<(&str, &str)> = self
            .routes
            .iter()
            .map(|(p, t)| (p.as_str(), t.provider_name()))
            .collect();
        f.debug_struct("Router")
            .field("routes", &routes)
            .field("default", &self.default.as_ref().map(Target::provider_name))
            .finish()
    }
}

impl Router {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts routing failures (no route, unconfigured provider) in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Sends models matching `pattern` to `provider`.
    pub fn route(mut self, pattern: impl Into<String>, provider: Arc<dyn Provider>) -> Self {
        self.routes
            .push((pattern.into(), Target::Provider(provider)));
        self
    }

    /// Adds a route to any [`Target`].
    pub fn route_to(mut self, pattern: impl Into<String>, target: Target) -> Self {
        self.routes.push((pattern.into(), target));
        self
    }

    /// Where models that match no pattern go; without one they are denied.
    pub fn default_route(mut self, target: Target) -> Self {
        self.default = Some(target);
        self
    }

    /// The target for `model`, if any.
    pub fn resolve(&self, model: &str) -> Option<&Target> {
        self.routes
            .iter()
            .find(|(p, _)| glob_match(p, model))
            .map(|(_, t)| t)
            .or(self.default.as_ref())
    }

    fn fail(&self, provider: &str, e: LlmError) -> Result<CompletionResponse, LlmError> {
        if let Some(m) = &self.metrics {
            m.record_call(&CallRecordView {
                provider,
                outcome: Outcome::of::<()>(&Err(e.clone())),
                input_tokens: 0,
                output_tokens: 0,
                cost_micros: 0,
                retries: 0,
                cache_hit: None,
            });
        }
        tracing::warn!(target: "djinn::llm", provider, error = %e, "llm call not routed");
        Err(e)
    }
}

#[async_trait]
impl Provider for Router {
    fn name(&self) -> &str {
        "router"
    }

    async fn complete(
        &self,
        ctx: &CallContext,
        req: &CompletionRequest,
    ) -> Result<CompletionResponse, LlmError> {
        match self.resolve(&req.model) {
            Some(Target::Provider(p)) => p.complete(ctx, req).await,
            Some(Target::Unavailable { provider, reason }) => self.fail(
                provider,
                LlmError::NotConfigured {
                    model: req.model.clone(),
                    provider: provider.clone(),
                    reason: reason.clone(),
                },
            ),
            None => self.fail(
                "router",
                LlmError::Denied(format!(
                    "no route for model `{}` and no default provider",
                    req.model
                )),
            ),
        }
    }
}

/// Glob match with `*` (any run, including empty) and `?` (one character).
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MockProvider;

    #[test]
    fn globs() {
        assert!(glob_match("gpt-*", "gpt-4o-mini"));
        assert!(glob_match("llama*", "llama3.2:1b"));
        assert!(glob_match("*", ""));
        assert!(glob_match("claude-?-*", "claude-3-haiku"));
        assert!(!glob_match("gpt-*", "chatgpt-4o"));
        assert!(!glob_match("gemini-*", "gemini"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
    }

    #[tokio::test]
    async fn unavailable_and_unrouted_models_fail_clearly() {
        let metrics = Arc::new(Metrics::new());
        let r = Router::new()
            .with_metrics(metrics.clone())
            .route("mock*", Arc::new(MockProvider::default()))
            .route_to(
                "gpt-*",
                Target::Unavailable {
                    provider: "openai".into(),
                    reason: "OPENAI_API_KEY is not set".into(),
                },
            );
        let mut req = CompletionRequest {
            model: "gpt-4o".into(),
            messages: vec![],
            temperature: None,
            max_tokens: None,
        };
        let ctx = CallContext::new("p");
        let e = r.complete(&ctx, &req).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "model `gpt-4o` routes to provider `openai`, which is not configured: OPENAI_API_KEY is not set"
        );
        req.model = "other".into();
        assert!(matches!(
            r.complete(&ctx, &req).await,
            Err(LlmError::Denied(_))
        ));
        req.model = "mock".into();
        assert!(r.complete(&ctx, &req).await.is_ok());
        let s = metrics.snapshot();
        assert_eq!(s.providers["openai"].calls(Outcome::NotConfigured), 1);
        assert_eq!(s.denials, 1);
    }
}
