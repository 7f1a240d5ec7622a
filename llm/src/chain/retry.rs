//! Retries retryable failures with exponential backoff and jitter.
//!
//! Retried: 5xx and transport failures, timeouts, and 429 (after the server's
//! `retry-after` when it sends one). Never retried: 400-class rejections,
//! 401/403, denials, budget refusals, an open circuit. A retry that would
//! sleep past the call's deadline is not attempted; the last error is
//! returned at once instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::CallRecord;
use crate::{CallContext, CompletionRequest, CompletionResponse, LlmError, Provider};

/// Retry settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetryConfig {
    /// Attempts after the first.
    pub max_retries: u32,
    /// Backoff before the first retry; doubles each retry.
    pub base_delay_ms: u64,
    /// Cap on one backoff.
    pub max_delay_ms: u64,
    /// A 429 asking us to wait longer than this is returned, not waited out.
    pub max_retry_after_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_retries: 2,
            base_delay_ms: 200,
            max_delay_ms: 5_000,
            max_retry_after_ms: 10_000,
        }
    }
}

impl RetryConfig {
    /// Backoff before retry number `attempt` (0-based): `base·2^attempt` capped,
    /// then "equal jitter" — half fixed, half random — so synchronized callers
    /// spread out while still backing off.
    fn backoff(&self, attempt: u32, random: u64) -> Duration {
        let exp = self
            .base_delay_ms
            .saturating_mul(1u64 << attempt.min(32))
            .min(self.max_delay_ms);
        let half = exp / 2;
        let jitter = if exp - half == 0 {
            0
        } else {
            random % (exp - half + 1)
        };
        Duration::from_millis(half + jitter)
    }
}

/// Retries the inner provider on retryable errors.
pub struct Retry {
    inner: Arc<dyn Provider>,
    config: RetryConfig,
    seed: AtomicU64,
}

impl Retry {
    pub fn new(inner: Arc<dyn Provider>, config: RetryConfig) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64);
        Self {
            inner,
            config,
            seed: AtomicU64::new(seed | 1),
        }
    }

    /// splitmix64 over a shared counter: cheap, lock-free, good enough for jitter.
    fn random(&self) -> u64 {
        let mut z = self
            .seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[async_trait]
impl Provider for Retry {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn complete(
        &self,
        ctx: &CallContext,
        req: &CompletionRequest,
    ) -> Result<CompletionResponse, LlmError> {
        let mut attempt = 0;
        loop {
            let err = match self.inner.complete(ctx, req).await {
                Ok(r) => return Ok(r),
                Err(e) => e,
            };
            if attempt >= self.config.max_retries || !err.is_retryable() {
                return Err(err);
            }
            let delay = match &err {
                LlmError::RateLimited {
                    retry_after: Some(d),
                    ..
                } => {
                    if *d > Duration::from_millis(self.config.max_retry_after_ms) {
                        return Err(err);
                    }
                    *d
                }
                _ => self.config.backoff(attempt, self.random()),
            };
            if ctx.remaining().is_some_and(|left| delay >= left) {
                return Err(err);
            }
            tracing::debug!(
                target: "djinn::llm",
                attempt = attempt + 1,
                delay_ms = delay.as_millis() as u64,
                error = %err,
                "retrying llm call"
            );
            CallRecord::add_retry();
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_bounded_jitter() {
        let c = RetryConfig {
            base_delay_ms: 100,
            max_delay_ms: 1_000,
            ..Default::default()
        };
        for r in [0, 7, u64::MAX] {
            let d0 = c.backoff(0, r).as_millis();
            let d2 = c.backoff(2, r).as_millis();
            let d9 = c.backoff(9, r).as_millis();
            assert!((50..=100).contains(&d0), "{d0}");
            assert!((200..=400).contains(&d2), "{d2}");
            assert!((500..=1000).contains(&d9), "{d9}");
        }
    }
}
