//! A circuit breaker per provider.
//!
//! Closed: calls pass; `failure_threshold` consecutive upstream failures (5xx,
//! transport errors, the provider's HTTP request timeout, malformed bodies)
//! open it. A call cut short by the caller's deadline is not counted. Open: calls fail at
//! once with [`LlmError::CircuitOpen`] until `cooldown_ms` has passed. Then one
//! call is let through as a probe (half-open): success closes the breaker,
//! failure opens it for another cooldown. Errors that are the caller's fault
//! (400s, 401/403) or throttling (429) are not failures of the upstream and
//! reset the count, since the provider evidently answered.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::is_upstream_failure;
use crate::{CallContext, CompletionRequest, CompletionResponse, LlmError, Metrics, Provider};

/// Breaker settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long it stays open before a probe, in milliseconds.
    pub cooldown_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cooldown_ms: 30_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Closed,
    Open { until: Instant },
    HalfOpen { probing: bool },
}

#[derive(Debug)]
struct State {
    mode: Mode,
    failures: u32,
}

/// Fails fast while the wrapped provider is down.
pub struct Breaker {
    inner: Arc<dyn Provider>,
    config: BreakerConfig,
    state: Mutex<State>,
    metrics: Option<Arc<Metrics>>,
}

/// Puts a half-open breaker back to "no probe in flight" if the probe is
/// cancelled before it finishes, so the next call can probe.
struct ProbeGuard<'a> {
    breaker: &'a Breaker,
    armed: bool,
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut s = self.breaker.lock();
            if s.mode == (Mode::HalfOpen { probing: true }) {
                s.mode = Mode::HalfOpen { probing: false };
            }
        }
    }
}

impl Breaker {
    pub fn new(
        inner: Arc<dyn Provider>,
        config: BreakerConfig,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        Self {
            inner,
            config,
            state: Mutex::new(State {
                mode: Mode::Closed,
                failures: 0,
            }),
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cooldown(&self) -> Duration {
        Duration::from_millis(self.config.cooldown_ms)
    }

    /// Decides whether a call may go ahead; `Ok(true)` means it is the probe.
    fn admit(&self) -> Result<bool, LlmError> {
        let now = Instant::now();
        let mut s = self.lock();
        match s.mode {
            Mode::Closed => Ok(false),
            Mode::Open { until } if now < until => Err(self.open_error(until - now)),
            Mode::Open { .. } | Mode::HalfOpen { probing: false } => {
                s.mode = Mode::HalfOpen { probing: true };
                Ok(true)
            }
            Mode::HalfOpen { probing: true } => Err(self.open_error(Duration::ZERO)),
        }
    }

    fn open_error(&self, retry_in: Duration) -> LlmError {
        LlmError::CircuitOpen {
            provider: self.inner.name().to_owned(),
            retry_in,
        }
    }

    fn settle(&self, probe: bool, result: &Result<CompletionResponse, LlmError>) {
        let failed = matches!(result, Err(e) if is_upstream_failure(e));
        let mut s = self.lock();
        if !failed {
            if probe || s.mode == Mode::Closed {
                s.mode = Mode::Closed;
                s.failures = 0;
            }
            return;
        }
        s.failures = s.failures.saturating_add(1);
        let trip = probe || (s.mode == Mode::Closed && s.failures >= self.config.failure_threshold);
        if trip {
            s.mode = Mode::Open {
                until: Instant::now() + self.cooldown(),
            };
            drop(s);
            tracing::warn!(
                target: "djinn::llm",
                provider = self.inner.name(),
                cooldown_ms = self.config.cooldown_ms,
                "circuit breaker opened"
            );
            if let Some(m) = &self.metrics {
                m.record_breaker_open(self.inner.name());
            }
        }
    }
}

#[async_trait]
impl Provider for Breaker {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn complete(
        &self,
        ctx: &CallContext,
        req: &CompletionRequest,
    ) -> Result<CompletionResponse, LlmError> {
        let probe = self.admit()?;
        let mut guard = ProbeGuard {
            breaker: self,
            armed: probe,
        };
        // No deadline here: a call cut by the caller's deadline is dropped, not
        // counted. A short plugin deadline says nothing about the upstream's health,
        // and counting it would let impatient plugins open the circuit for everyone.
        // The provider's own request timeout is the "upstream too slow" signal.
        let result = self.inner.complete(ctx, req).await;
        guard.armed = false;
        self.settle(probe, &result);
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;
    use crate::ChatMessage;

    /// An upstream fixture whose health the test flips; answers after `latency`.
    struct Upstream {
        healthy: AtomicBool,
        calls: AtomicUsize,
        latency: Duration,
    }

    #[async_trait]
    impl Provider for Upstream {
        fn name(&self) -> &str {
            "upstream"
        }
        async fn complete(
            &self,
            _ctx: &CallContext,
            req: &CompletionRequest,
        ) -> Result<CompletionResponse, LlmError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.latency).await;
            if self.healthy.load(Ordering::SeqCst) {
                Ok(CompletionResponse {
                    text: "ok".into(),
                    model: req.model.clone(),
                    input_tokens: 1,
                    output_tokens: 1,
                })
            } else {
                Err(LlmError::Provider {
                    provider: "upstream".into(),
                    message: "HTTP 500".into(),
                })
            }
        }
    }

    fn req() -> CompletionRequest {
        CompletionRequest {
            model: "m".into(),
            messages: vec![ChatMessage {
                role: "user".into(),
                content: "x".into(),
            }],
            temperature: None,
            max_tokens: None,
        }
    }

    #[tokio::test]
    async fn half_open_lets_exactly_one_probe_through() {
        let up = Arc::new(Upstream {
            healthy: AtomicBool::new(false),
            calls: AtomicUsize::new(0),
            latency: Duration::from_millis(50),
        });
        let metrics = Arc::new(Metrics::new());
        let b = Arc::new(Breaker::new(
            up.clone(),
            BreakerConfig {
                failure_threshold: 1,
                cooldown_ms: 30,
            },
            Some(metrics.clone()),
        ));
        let ctx = CallContext::new("p");
        assert!(b.complete(&ctx, &req()).await.is_err());
        tokio::time::sleep(Duration::from_millis(40)).await;
        up.healthy.store(true, Ordering::SeqCst);
        // Three concurrent callers after the cooldown: one probes, two fail fast.
        let r = req();
        let (r1, r2, r3) = tokio::join!(
            b.complete(&ctx, &r),
            b.complete(&ctx, &r),
            b.complete(&ctx, &r)
        );
        let oks = [&r1, &r2, &r3].iter().filter(|r| r.is_ok()).count();
        let open = [&r1, &r2, &r3]
            .iter()
            .filter(|r| matches!(r, Err(LlmError::CircuitOpen { .. })))
            .count();
        assert_eq!((oks, open), (1, 2));
        assert_eq!(up.calls.load(Ordering::SeqCst), 2);
        // Closed again: everything passes.
        assert!(b.complete(&ctx, &req()).await.is_ok());
        assert_eq!(metrics.snapshot().breaker_opens, 1);
    }

    #[tokio::test]
    async fn a_cancelled_probe_does_not_wedge_the_breaker() {
        let up = Arc::new(Upstream {
            healthy: AtomicBool::new(false),
            calls: AtomicUsize::new(0),
            latency: Duration::from_millis(5),
        });
        let b = Breaker::new(
            up.clone(),
            BreakerConfig {
                failure_threshold: 1,
                cooldown_ms: 10,
            },
            None,
        );
        let ctx = CallContext::new("p");
        assert!(b.complete(&ctx, &req()).await.is_err());
        tokio::time::sleep(Duration::from_millis(20)).await;
        // The probe is dropped mid-flight (the caller gave up).
        let _ = tokio::time::timeout(Duration::from_millis(1), b.complete(&ctx, &req())).await;
        up.healthy.store(true, Ordering::SeqCst);
        assert!(
            b.complete(&ctx, &req()).await.is_ok(),
            "the next call may probe"
        );
    }
}
