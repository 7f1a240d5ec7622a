//! Counters for every LLM call, cheap enough to bump on the hot path.
//!
//! Per-provider counters sit behind a read-mostly lock that is taken for
//! writing only the first time a provider name is seen; every bump after that
//! is a read lock plus relaxed atomic adds. [`Metrics::snapshot`] copies them
//! out and [`MetricsSnapshot::to_prometheus`] renders the text format.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde::Serialize;

use crate::LlmError;

/// How one call ended, as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Denied,
    BudgetExceeded,
    Timeout,
    ProviderError,
    RateLimited,
    Unauthorized,
    Rejected,
    Malformed,
    CircuitOpen,
    NotConfigured,
    LedgerError,
}

impl Outcome {
    pub const ALL: [Outcome; 12] = [
        Outcome::Ok,
        Outcome::Denied,
        Outcome::BudgetExceeded,
        Outcome::Timeout,
        Outcome::ProviderError,
        Outcome::RateLimited,
        Outcome::Unauthorized,
        Outcome::Rejected,
        Outcome::Malformed,
        Outcome::CircuitOpen,
        Outcome::NotConfigured,
        Outcome::LedgerError,
    ];

    /// The label value (`ok`, `timeout`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::BudgetExceeded => "budget_exceeded",
            Outcome::Timeout => "timeout",
            Outcome::ProviderError => "provider_error",
            Outcome::RateLimited => "rate_limited",
            Outcome::Unauthorized => "unauthorized",
            Outcome::Rejected => "rejected",
            Outcome::Malformed => "malformed",
            Outcome::CircuitOpen => "circuit_open",
            Outcome::NotConfigured => "not_configured",
            Outcome::LedgerError => "ledger_error",
        }
    }

    /// The outcome of a result.
    pub fn of<T>(r: &Result<T, LlmError>) -> Outcome {
        match r {
            Ok(_) => Outcome::Ok,
            Err(e) => match e {
                LlmError::Denied(_) => Outcome::Denied,
                LlmError::BudgetExceeded(_) => Outcome::BudgetExceeded,
                LlmError::Timeout(_) => Outcome::Timeout,
                LlmError::Provider { .. } => Outcome::ProviderError,
                LlmError::RateLimited { .. } => Outcome::RateLimited,
                LlmError::Unauthorized { .. } => Outcome::Unauthorized,
                LlmError::Rejected { .. } => Outcome::Rejected,
                LlmError::Malformed { .. } => Outcome::Malformed,
                LlmError::CircuitOpen { .. } => Outcome::CircuitOpen,
                LlmError::NotConfigured { .. } => Outcome::NotConfigured,
                LlmError::Ledger(_) => Outcome::LedgerError,
            },
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Default)]
struct ProviderCounters {
    calls: [AtomicU64; Outcome::ALL.len()],
    input_tokens: AtomicU64,
    output_tokens: AtomicU64,
    cost_micros: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    retries: AtomicU64,
    breaker_opens: AtomicU64,
}

/// Counters shared by every wrapper in every chain built from one config.
#[derive(Default)]
pub struct Metrics {
    providers: RwLock<HashMap<String, Arc<ProviderCounters>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    fn provider(&self, name: &str) -> Arc<ProviderCounters> {
        if let Some(c) = self
            .providers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return c.clone();
        }
        self.providers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    fn with(&self, name: &str, f: impl FnOnce(&ProviderCounters)) {
        if let Some(c) = self
            .providers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            f(c);
            return;
        }
        f(&self.provider(name));
    }

    /// Records one finished call.
    pub fn record_call(&self, call: &CallRecordView<'_>) {
        self.with(call.provider, |c| {
            c.calls[call.outcome.index()].fetch_add(1, Ordering::Relaxed);
            c.input_tokens
                .fetch_add(call.input_tokens, Ordering::Relaxed);
            c.output_tokens
                .fetch_add(call.output_tokens, Ordering::Relaxed);
            c.cost_micros.fetch_add(call.cost_micros, Ordering::Relaxed);
            c.retries.fetch_add(call.retries, Ordering::Relaxed);
            match call.cache_hit {
                Some(true) => c.cache_hits.fetch_add(1, Ordering::Relaxed),
                Some(false) => c.cache_misses.fetch_add(1, Ordering::Relaxed),
                None => 0,
            };
        });
    }

    /// Records that a provider's circuit breaker opened.
    pub fn record_breaker_open(&self, provider: &str) {
        self.with(provider, |c| {
            c.breaker_opens.fetch_add(1, Ordering::Relaxed);
        });
    }

    /// A consistent-enough copy of every counter (each counter is read atomically;
    /// the set is not one transaction).
    pub fn snapshot(&self) -> MetricsSnapshot {
        let map = self.providers.read().unwrap_or_else(|e| e.into_inner());
        let mut snap = MetricsSnapshot::default();
        for (name, c) in map.iter() {
            let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
            let p = ProviderSnapshot {
                calls: Outcome::ALL
                    .iter()
                    .map(|o| (*o, ld(&c.calls[o.index()])))
                    .filter(|(_, n)| *n > 0)
                    .collect(),
                input_tokens: ld(&c.input_tokens),
                output_tokens: ld(&c.output_tokens),
                cost_micros: ld(&c.cost_micros),
                cache_hits: ld(&c.cache_hits),
                cache_misses: ld(&c.cache_misses),
                retries: ld(&c.retries),
                breaker_opens: ld(&c.breaker_opens),
            };
            snap.input_tokens += p.input_tokens;
            snap.output_tokens += p.output_tokens;
            snap.cost_micros += p.cost_micros;
            snap.cache_hits += p.cache_hits;
            snap.cache_misses += p.cache_misses;
            snap.breaker_opens += p.breaker_opens;
            snap.denials += p.calls.get(&Outcome::Denied).copied().unwrap_or(0)
                + p.calls.get(&Outcome::BudgetExceeded).copied().unwrap_or(0);
            snap.providers.insert(name.clone(), p);
        }
        snap
    }
}

/// What [`Metrics::record_call`] needs to know about a call.
#[derive(Debug, Clone, Copy)]
pub struct CallRecordView<'a> {
    pub provider: &'a str,
    pub outcome: Outcome,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_micros: u64,
    pub retries: u64,
    /// `None` when no cache was in the chain.
    pub cache_hit: Option<bool>,
}

/// Counters of one provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProviderSnapshot {
    /// Calls by outcome (outcomes never seen are absent).
    pub calls: BTreeMap<Outcome, u64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_micros: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub retries: u64,
    pub breaker_opens: u64,
}

impl ProviderSnapshot {
    /// Calls with this outcome.
    pub fn calls(&self, o: Outcome) -> u64 {
        self.calls.get(&o).copied().unwrap_or(0)
    }
}

/// A copy of all counters, per provider and in total.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MetricsSnapshot {
    pub providers: BTreeMap<String, ProviderSnapshot>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_micros: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub breaker_opens: u64,
    /// Grant denials plus budget denials.
    pub denials: u64,
}

impl MetricsSnapshot {
    /// Prometheus text exposition format, metric names prefixed `djinn_llm_`.
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let mut family = |name: &str, help: &str, kind: &str, rows: Vec<(String, u64)>| {
            let _ = writeln!(out, "# HELP djinn_llm_{name} {help}");
            let _ = writeln!(out, "# TYPE djinn_llm_{name} {kind}");
            for (labels, v) in rows {
                let _ = writeln!(out, "djinn_llm_{name}{{{labels}}} {v}");
            }
        };
        let esc = |s: &str| {
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        };
        let per = |f: &dyn Fn(&ProviderSnapshot) -> u64| -> Vec<(String, u64)> {
            self.providers
                .iter()
                .map(|(n, p)| (format!("provider=\"{}\"", esc(n)), f(p)))
                .collect()
        };
        let calls = self
            .providers
            .iter()
            .flat_map(|(n, p)| {
                p.calls.iter().map(move |(o, v)| {
                    (
                        format!("provider=\"{}\",outcome=\"{}\"", esc(n), o.as_str()),
                        *v,
                    )
                })
            })
            .collect();
        family(
            "calls_total",
            "LLM calls by provider and outcome.",
            "counter",
            calls,
        );
        family(
            "input_tokens_total",
            "Input tokens billed.",
            "counter",
            per(&|p| p.input_tokens),
        );
        family(
            "output_tokens_total",
            "Output tokens billed.",
            "counter",
            per(&|p| p.output_tokens),
        );
        family(
            "cost_micros_total",
            "Cost in micro-USD.",
            "counter",
            per(&|p| p.cost_micros),
        );
        family(
            "cache_hits_total",
            "Responses served from the cache.",
            "counter",
            per(&|p| p.cache_hits),
        );
        family(
            "cache_misses_total",
            "Cache lookups that missed.",
            "counter",
            per(&|p| p.cache_misses),
        );
        family(
            "retries_total",
            "Retried attempts.",
            "counter",
            per(&|p| p.retries),
        );
        family(
            "breaker_opens_total",
            "Circuit breaker openings.",
            "counter",
            per(&|p| p.breaker_opens),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_renders() {
        let m = Metrics::new();
        let mut call = CallRecordView {
            provider: "mock",
            outcome: Outcome::Ok,
            input_tokens: 3,
            output_tokens: 5,
            cost_micros: 7,
            retries: 1,
            cache_hit: Some(false),
        };
        m.record_call(&call);
        call.outcome = Outcome::BudgetExceeded;
        call.cache_hit = Some(true);
        m.record_call(&call);
        m.record_breaker_open("openai");
        let s = m.snapshot();
        assert_eq!(s.input_tokens, 6);
        assert_eq!(s.denials, 1);
        assert_eq!(s.cache_hits, 1);
        assert_eq!(s.breaker_opens, 1);
        assert_eq!(s.providers["mock"].calls(Outcome::Ok), 1);
        let text = s.to_prometheus();
        assert!(
            text.contains("djinn_llm_calls_total{provider=\"mock\",outcome=\"budget_exceeded\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("djinn_llm_breaker_opens_total{provider=\"openai\"} 1"),
            "{text}"
        );
    }
}
