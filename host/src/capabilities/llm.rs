//! `llm`: chat completions through the host's provider.
//!
//! The grant is checked on every call before any provider sees the request: the
//! model must match the manifest's list, and `max-tokens` must not exceed
//! `max_tokens_per_call` (it defaults to that cap). The provider call is bounded
//! by the plugin's own remaining deadline. Denials come back to the plugin as
//! `llm-error::denied` and are logged with the plugin id.

use djinn_llm::{CallContext, ChatMessage, CompletionRequest, LlmError as ProviderError};

use crate::audit::{AuditEvent, AuditKind};
use crate::runtime::bindings::agent::djinn::plugin::llm::{Host, LlmError, Request, Response};
use crate::runtime::manifest::LlmGrant;
use crate::runtime::state::HostState;

/// Checks a request against the grant and resolves the model and token cap.
pub(crate) fn authorize(
    plugin: &str,
    grant: &LlmGrant,
    req: &Request,
) -> Result<(String, u32), String> {
    let model = match &req.model {
        Some(m) => m.clone(),
        None => grant.default_model().map(str::to_owned).ok_or_else(|| {
            format!(
                "plugin `{plugin}` named no model and its grant has no default (only patterns: {:?})",
                grant.models
            )
        })?,
    };
    if !grant.allows(&model) {
        return Err(format!(
            "model `{model}` is not granted to plugin `{plugin}`; granted: {:?}",
            grant.models
        ));
    }
    let max_tokens = req.max_tokens.unwrap_or(grant.max_tokens_per_call);
    if max_tokens > grant.max_tokens_per_call {
        return Err(format!(
            "max-tokens {max_tokens} exceeds plugin `{plugin}`'s max_tokens_per_call of {}",
            grant.max_tokens_per_call
        ));
    }
    Ok((model, max_tokens))
}

impl Host for HostState {
    async fn complete(&mut self, req: Request) -> Result<Response, LlmError> {
        let plugin = self.plugin.id().to_owned();
        let Some(grant) = &self.plugin.manifest.grants.llm else {
            return Err(LlmError::Denied("llm is not granted to this plugin".into()));
        };
        let (model, max_tokens) = match authorize(&plugin, grant, &req) {
            Ok(v) => v,
            Err(reason) => {
                tracing::warn!(target: "djinn::llm", plugin, reason, "llm call denied");
                self.plugin.services.audit.record(
                    AuditEvent::new(
                        AuditKind::LlmDenial,
                        "host",
                        serde_json::json!({ "reason": reason, "model": req.model }),
                    )
                    .plugin(plugin.as_str()),
                );
                return Err(LlmError::Denied(reason));
            }
        };
        let request = CompletionRequest {
            model,
            messages: req
                .messages
                .into_iter()
                .map(|m| ChatMessage {
                    role: m.role,
                    content: m.content,
                })
                .collect(),
            temperature: req.temperature,
            max_tokens: Some(max_tokens),
        };
        let ctx = CallContext::new(plugin)
            .with_deadline(Some(tokio::time::Instant::from_std(self.deadline)))
            .with_daily_token_budget(grant.daily_token_budget);
        let provider = self.plugin.services.llm.clone();
        let remaining = ctx.remaining().unwrap_or_default();
        let result = match tokio::time::timeout(remaining, provider.complete(&ctx, &request)).await
        {
            Ok(r) => r,
            Err(_) => Err(ProviderError::Timeout(remaining)),
        };
        match result {
            Ok(r) => Ok(Response {
                text: r.text,
                model: r.model,
                input_tokens: r.input_tokens,
                output_tokens: r.output_tokens,
            }),
            Err(ProviderError::Denied(m)) => Err(LlmError::Denied(m)),
            Err(e @ ProviderError::BudgetExceeded(_)) => {
                Err(LlmError::BudgetExceeded(e.to_string()))
            }
            Err(e) => Err(LlmError::Unavailable(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(models: &[&str], cap: u32) -> LlmGrant {
        LlmGrant {
            models: models.iter().map(|s| s.to_string()).collect(),
            max_tokens_per_call: cap,
            daily_token_budget: None,
        }
    }

    fn req(model: Option<&str>, max_tokens: Option<u32>) -> Request {
        Request {
            model: model.map(str::to_owned),
            messages: vec![],
            temperature: None,
            max_tokens,
        }
    }

    #[test]
    fn default_model_and_cap() {
        let g = grant(&["gpt-*", "mock"], 100);
        assert_eq!(
            authorize("p", &g, &req(None, None)),
            Ok(("mock".into(), 100))
        );
        assert_eq!(
            authorize("p", &g, &req(Some("gpt-4o"), Some(10))),
            Ok(("gpt-4o".into(), 10))
        );
    }

    #[test]
    fn ungranted_model_and_excess_tokens_are_denied() {
        let g = grant(&["mock"], 100);
        let e = authorize("p", &g, &req(Some("gpt-4o"), None)).unwrap_err();
        assert!(
            e.contains("model `gpt-4o` is not granted to plugin `p`"),
            "{e}"
        );
        let e = authorize("p", &g, &req(None, Some(101))).unwrap_err();
        assert!(e.contains("exceeds"), "{e}");
        let only_patterns = grant(&["gpt-*"], 100);
        assert!(authorize("p", &only_patterns, &req(None, None)).is_err());
    }
}
