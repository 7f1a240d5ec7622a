//! One tracing span and one metrics record per call; token and cost accounting.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use tracing::field::Empty;

use super::{CALL, CallRecord};
use crate::metrics::{CallRecordView, Outcome};
use crate::router::glob_match;
use crate::{CallContext, CompletionRequest, CompletionResponse, LlmError, Metrics, Provider};

/// USD per million tokens, input and output priced separately.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenPrice {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

impl TokenPrice {
    /// Cost in micro-USD. USD per million tokens is exactly micro-USD per token.
    pub fn cost_micros(&self, input_tokens: u64, output_tokens: u64) -> u64 {
        let c =
            input_tokens as f64 * self.input_per_mtok + output_tokens as f64 * self.output_per_mtok;
        if c.is_finite() && c > 0.0 {
            c.round() as u64
        } else {
            0
        }
    }
}

/// Prices by model-name glob; the first matching pattern wins. Models with no
/// price cost 0 (and so never hit a cost budget).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PriceTable {
    pub entries: Vec<(String, TokenPrice)>,
}

impl PriceTable {
    pub fn new(entries: Vec<(String, TokenPrice)>) -> Self {
        Self { entries }
    }

    pub fn price(&self, model: &str) -> Option<TokenPrice> {
        self.entries
            .iter()
            .find(|(pattern, _)| glob_match(pattern, model))
            .map(|(_, p)| *p)
    }

    pub fn cost_micros(&self, model: &str, input_tokens: u64, output_tokens: u64) -> u64 {
        self.price(model)
            .map_or(0, |p| p.cost_micros(input_tokens, output_tokens))
    }
}

/// The outermost wrapper: a `llm.call` span with provider, model, plugin,
/// tokens, cost, cache hit, retries and outcome, and a [`Metrics`] record.
/// Cache hits are recorded with zero billed tokens and zero cost.
pub struct Metered {
    inner: Arc<dyn Provider>,
    metrics: Arc<Metrics>,
    prices: Arc<PriceTable>,
}

impl Metered {
    pub fn new(inner: Arc<dyn Provider>, metrics: Arc<Metrics>, prices: Arc<PriceTable>) -> Self {
        Self {
            inner,
            metrics,
            prices,
        }
    }
}

#[async_trait]
impl Provider for Metered {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn complete(
        &self,
        ctx: &CallContext,
        req: &CompletionRequest,
    ) -> Result<CompletionResponse, LlmError> {
        let provider = self.inner.name();
        let span = tracing::info_span!(
            target: "djinn::llm",
            "llm.call",
            provider,
            model = %req.model,
            plugin = %ctx.plugin_id,
            input_tokens = Empty,
            output_tokens = Empty,
            cost_micros = Empty,
            cache_hit = Empty,
            retries = Empty,
            outcome = Empty,
            elapsed_us = Empty,
        );
        let start = std::time::Instant::now();
        let (result, cache_hit, retries) = CALL
            .scope(CallRecord::default(), async {
                let r = self.inner.complete(ctx, req).instrument(span.clone()).await;
                let (hit, retries) = CALL.with(|c| (c.cache_hit.get(), c.retries.get()));
                (r, hit, retries)
            })
            .await;
        let outcome = Outcome::of(&result);
        let (input, output, cost) = match &result {
            Ok(r) if cache_hit != Some(true) => {
                let (i, o) = (u64::from(r.input_tokens), u64::from(r.output_tokens));
                (i, o, self.prices.cost_micros(&req.model, i, o))
            }
            _ => (0, 0, 0),
        };
        self.metrics.record_call(&CallRecordView {
            provider,
            outcome,
            input_tokens: input,
            output_tokens: output,
            cost_micros: cost,
            retries: u64::from(retries),
            cache_hit,
        });
        if !span.is_disabled() {
            span.record("outcome", outcome.as_str());
            span.record("retries", retries);
            span.record("cost_micros", cost);
            span.record("elapsed_us", start.elapsed().as_micros() as u64);
            if let Some(hit) = cache_hit {
                span.record("cache_hit", hit);
            }
            if let Ok(r) = &result {
                span.record("input_tokens", r.input_tokens);
                span.record("output_tokens", r.output_tokens);
            }
            let _enter = span.enter();
            match &result {
                Ok(_) => tracing::debug!(target: "djinn::llm", "llm call finished"),
                Err(e) => tracing::warn!(target: "djinn::llm", error = %e, "llm call failed"),
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_is_micro_usd_per_token_and_first_glob_wins() {
        let t = PriceTable::new(vec![
            (
                "gpt-4o-mini*".into(),
                TokenPrice {
                    input_per_mtok: 0.15,
                    output_per_mtok: 0.6,
                },
            ),
            (
                "gpt-4o*".into(),
                TokenPrice {
                    input_per_mtok: 2.5,
                    output_per_mtok: 10.0,
                },
            ),
        ]);
        assert_eq!(t.cost_micros("gpt-4o-mini", 1_000_000, 0), 150_000);
        assert_eq!(t.cost_micros("gpt-4o-2024-08-06", 100, 10), 350);
        assert_eq!(t.cost_micros("claude-x", 100, 10), 0);
    }
}
