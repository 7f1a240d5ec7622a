//! The deterministic offline provider: the default, so djinn runs with no keys and no network.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::{CallContext, CompletionRequest, CompletionResponse, LlmError, Provider};

/// How the mock behaves.
#[derive(Debug, Clone, Default)]
pub struct MockConfig {
    /// Added to every call (to model a real provider in benchmarks and fan-out tests).
    pub latency: Duration,
    /// Fraction of calls that fail, in `[0, 1]`. Failures are spread evenly and
    /// deterministically: with 0.25 exactly every fourth call fails.
    pub failure_rate: f64,
}

/// Answers every request with text derived only from the request, so the same
/// request always gets the same answer.
#[derive(Debug, Default)]
pub struct MockProvider {
    config: MockConfig,
    calls: AtomicU64,
}

impl MockProvider {
    pub fn new(config: MockConfig) -> Self {
        Self {
            config,
            calls: AtomicU64::new(0),
        }
    }

    fn should_fail(&self) -> bool {
        let rate = self.config.failure_rate.clamp(0.0, 1.0);
        if rate == 0.0 {
            return false;
        }
        let n = self.calls.fetch_add(1, Ordering::Relaxed) as f64;
        ((n + 1.0) * rate).floor() > (n * rate).floor()
    }
}

/// Rough token count: whitespace-separated words. Deterministic, which is what matters here.
pub(crate) fn count_tokens(text: &str) -> u32 {
    u32::try_from(text.split_whitespace().count()).unwrap_or(u32::MAX)
}

#[async_trait]
impl Provider for MockProvider {
    fn name(&self) -> &str {
        "mock"
    }

    async fn complete(
        &self,
        _ctx: &CallContext,
        req: &CompletionRequest,
    ) -> Result<CompletionResponse, LlmError> {
        if !self.config.latency.is_zero() {
            tokio::time::sleep(self.config.latency).await;
        }
        if self.should_fail() {
            return Err(LlmError::Provider {
                provider: "mock".into(),
                message: "injected failure (mock failure_rate)".into(),
            });
        }
        let prompt = req
            .messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .or(req.messages.last())
            .map(|m| m.content.as_str())
            .unwrap_or("");
        let digest = Sha256::digest(prompt.as_bytes());
        let mut summary: String = prompt
            .split_whitespace()
            .take(24)
            .collect::<Vec<_>>()
            .join(" ");
        if summary.len() < prompt.trim().len() {
            summary.push_str(" …");
        }
        let mut text = format!("[mock {}] {summary}", hex::encode(&digest[..4]));
        if let Some(max) = req.max_tokens {
            let words: Vec<&str> = text.split_whitespace().take(max as usize).collect();
            text = words.join(" ");
        }
        let input_tokens = req.messages.iter().map(|m| count_tokens(&m.content)).sum();
        Ok(CompletionResponse {
            output_tokens: count_tokens(&text),
            text,
            model: req.model.clone(),
            input_tokens,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ChatMessage;

    fn req(prompt: &str) -> CompletionRequest {
        CompletionRequest {
            model: "mock".into(),
            messages: vec![ChatMessage {
                role: "user".into(),
                content: prompt.into(),
            }],
            temperature: None,
            max_tokens: None,
        }
    }

    #[tokio::test]
    async fn same_request_same_answer() {
        let p = MockProvider::default();
        let ctx = CallContext::new("t");
        let a = p
            .complete(&ctx, &req("how much did I spend"))
            .await
            .unwrap();
        let b = p
            .complete(&ctx, &req("how much did I spend"))
            .await
            .unwrap();
        let c = p.complete(&ctx, &req("something else")).await.unwrap();
        assert_eq!(a, b);
        assert_ne!(a.text, c.text);
        assert_eq!(a.input_tokens, 5); // five words: the old assertion said 4
        assert!(a.text.contains("how much did I spend"));
    }

    #[tokio::test]
    async fn failure_rate_is_exact_and_even() {
        let p = MockProvider::new(MockConfig {
            failure_rate: 0.25,
            ..Default::default()
        });
        let ctx = CallContext::new("t");
        let mut fails = vec![];
        for i in 0..8 {
            if p.complete(&ctx, &req("x")).await.is_err() {
                fails.push(i);
            }
        }
        assert_eq!(fails, vec![3, 7]);
    }

    #[tokio::test]
    async fn max_tokens_caps_output() {
        let p = MockProvider::default();
        let mut r = req("one two three four five six seven eight nine ten");
        r.max_tokens = Some(3);
        let out = p.complete(&CallContext::new("t"), &r).await.unwrap();
        assert_eq!(out.output_tokens, 3);
    }
}
