//! The wrapper chain: providers that wrap a provider.
//!
//! Each wrapper is a [`Provider`] around an `Arc<dyn Provider>`, so they compose
//! in any order and each can be tested alone. [`ChainBuilder::wrap`] stacks the
//! standard chain around one provider; the [`Router`](crate::Router) then picks
//! a chain per model. Outermost first:
//!
//! ```text
//! Metered ─► Cached ─► Budgeted ─► Deadline ─► Retry ─► Breaker ─► provider (HTTP / mock)
//! ```
//!
//! Why this order:
//! - **Metered outermost**: it must see every outcome, including cache hits and
//!   budget denials, to emit one span and one metrics record per logical call.
//! - **Cached before Budgeted**: a hit spends no tokens, so it is neither checked
//!   against nor charged to the plugin's budget; a plugin that has spent its day
//!   can still get answers that cost nothing. A hit also skips the deadline,
//!   retry and breaker machinery entirely, which keeps hits in the microseconds.
//!   The cache is shared by all plugins: its key is the request, and a plugin
//!   sending the same request would get an equivalent answer anyway. Identical
//!   requests in flight at the same time are coalesced into one provider call.
//! - **Budgeted before Deadline/Retry**: an over-budget plugin is refused before
//!   any network work, and usage is charged once per logical call with the
//!   provider's reported tokens (after retries), not per attempt.
//! - **Deadline outside Retry**: the whole call, backoff sleeps included, is
//!   bounded by `min(call_timeout, the plugin's remaining deadline)`. Deadline
//!   hands the tightened deadline down in the [`CallContext`](crate::CallContext), so Retry never
//!   sleeps past it and gives up early instead.
//! - **Retry outside Breaker**: the breaker counts every attempt that reached the
//!   provider, and once it opens, [`LlmError::CircuitOpen`] is not retryable, so
//!   a retry loop stops at once instead of hammering a failing upstream. Calls
//!   cut by the caller's deadline are not counted as failures (a plugin with a
//!   2 s deadline says nothing about the upstream's health); the provider's own
//!   HTTP `request_timeout_ms` is what marks an upstream as too slow.
//!
//! The wrappers talk to [`Metered`] through a task-local call record (was it a
//! cache hit, how many retries), so no extra fields travel through the
//! [`Provider`] contract.

mod breaker;
mod budget;
mod cache;
mod deadline;
mod metered;
mod retry;

pub use breaker::{Breaker, BreakerConfig};
pub use budget::{Budgeted, MemoryLedger, Usage, UsageLedger, UtcDay};
pub use cache::{CacheConfig, Cached, ResponseCache};
pub use deadline::Deadline;
pub use metered::{Metered, PriceTable, TokenPrice};
pub use retry::{Retry, RetryConfig};

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use crate::{LlmError, Metrics, Provider};

tokio::task_local! {
    static CALL: CallRecord;
}

/// What inner wrappers tell [`Metered`] about the call in progress.
#[derive(Debug, Default)]
pub(crate) struct CallRecord {
    cache_hit: Cell<Option<bool>>,
    retries: Cell<u32>,
}

impl CallRecord {
    fn set_cache_hit(hit: bool) {
        let _ = CALL.try_with(|c| c.cache_hit.set(Some(hit)));
    }

    fn add_retry() {
        let _ = CALL.try_with(|c| c.retries.set(c.retries.get().saturating_add(1)));
    }
}

/// Assembles the standard chain (see the module doc for the order).
///
/// One builder holds the state the chains share: [`Metrics`], the
/// [`UsageLedger`], the [`PriceTable`] and one [`ResponseCache`] (bounded in
/// total, keyed by provider). Each [`wrap`](Self::wrap) gets its own circuit
/// breaker, so breakers are per provider.
#[derive(Clone)]
pub struct ChainBuilder {
    metrics: Arc<Metrics>,
    ledger: Arc<dyn UsageLedger>,
    prices: Arc<PriceTable>,
    cache: Option<Arc<ResponseCache>>,
    retry: Option<RetryConfig>,
    breaker: Option<BreakerConfig>,
    call_timeout: Option<Duration>,
}

impl std::fmt::Debug for ChainBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainBuilder")
            .field("cache", &self.cache.is_some())
            .field("retry", &self.retry)
            .field("breaker", &self.breaker)
            .field("call_timeout", &self.call_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for ChainBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainBuilder {
    /// Every wrapper on with default settings, fresh metrics, an in-memory ledger
    /// and no prices.
    pub fn new() -> Self {
        Self {
            metrics: Arc::new(Metrics::new()),
            ledger: Arc::new(MemoryLedger::new()),
            prices: Arc::new(PriceTable::default()),
            cache: Some(Arc::new(ResponseCache::new(CacheConfig::default()))),
            retry: Some(RetryConfig::default()),
            breaker: Some(BreakerConfig::default()),
            call_timeout: Some(Duration::from_secs(60)),
        }
    }

    pub fn metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Where per-plugin daily usage is kept (the host backs this with its database).
    pub fn ledger(mut self, ledger: Arc<dyn UsageLedger>) -> Self {
        self.ledger = ledger;
        self
    }

    pub fn prices(mut self, prices: PriceTable) -> Self {
        self.prices = Arc::new(prices);
        self
    }

    /// `None` leaves the cache out of the chain.
    pub fn cache(mut self, cache: Option<CacheConfig>) -> Self {
        self.cache = cache.map(|c| Arc::new(ResponseCache::new(c)));
        self
    }

    /// `None` leaves retries out of the chain.
    pub fn retry(mut self, retry: Option<RetryConfig>) -> Self {
        self.retry = retry;
        self
    }

    /// `None` leaves the circuit breaker out of the chain.
    pub fn breaker(mut self, breaker: Option<BreakerConfig>) -> Self {
        self.breaker = breaker;
        self
    }

    /// Upper bound per call; the plugin's own deadline can only shorten it.
    pub fn call_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.call_timeout = timeout;
        self
    }

    pub fn metrics_handle(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    pub fn ledger_handle(&self) -> Arc<dyn UsageLedger> {
        self.ledger.clone()
    }

    /// The shared response cache, if the chain has one.
    pub fn cache_handle(&self) -> Option<Arc<ResponseCache>> {
        self.cache.clone()
    }

    /// Stacks the standard chain around `provider`.
    pub fn wrap(&self, provider: Arc<dyn Provider>) -> Arc<dyn Provider> {
        let mut p = provider;
        if let Some(b) = &self.breaker {
            p = Arc::new(Breaker::new(p, b.clone(), Some(self.metrics.clone())));
        }
        if let Some(r) = &self.retry {
            p = Arc::new(Retry::new(p, r.clone()));
        }
        p = Arc::new(Deadline::new(p, self.call_timeout));
        p = Arc::new(Budgeted::new(p, self.ledger.clone(), self.prices.clone()));
        if let Some(c) = &self.cache {
            p = Arc::new(Cached::new(p, c.clone()));
        }
        Arc::new(Metered::new(p, self.metrics.clone(), self.prices.clone()))
    }
}

/// Whether an error says the provider itself is unhealthy (as opposed to the
/// request, the key or the caller being at fault).
fn is_upstream_failure(e: &LlmError) -> bool {
    matches!(
        e,
        LlmError::Provider { .. } | LlmError::Timeout(_) | LlmError::Malformed { .. }
    )
}
