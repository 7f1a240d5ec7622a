//! Per-plugin daily budgets in tokens (and optionally micro-USD), per UTC day.
//!
//! The check is "has this plugin already spent its day": a call is refused
//! once recorded usage reaches the budget, and a call that starts under the
//! budget runs to completion and is charged its real tokens. So a plugin can
//! overshoot by at most the calls it has in flight when it crosses the line
//! (each bounded by the host's `max_tokens_per_call`). Reserving the worst case
//! up front would be exact but needs a token estimate of the prompt that the
//! providers do not give us before the call.
//!
//! If the ledger cannot be read the call is refused ([`LlmError::Ledger`]):
//! failing open would make budgets optional whenever the database is slow. If
//! recording fails after a successful call, the answer is still returned (the
//! tokens are spent either way) and the failure is logged.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::PriceTable;
use crate::{CallContext, CompletionRequest, CompletionResponse, LlmError, Provider};

/// A UTC calendar day, as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UtcDay(pub i64);

impl UtcDay {
    /// Today in UTC by the system clock.
    pub fn today() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    pub fn from_system_time(t: SystemTime) -> Self {
        let secs = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64) - 1,
        };
        Self(secs.div_euclid(86_400))
    }

    /// `(year, month, day)` in the proleptic Gregorian calendar.
    pub fn ymd(self) -> (i64, u32, u32) {
        // Howard Hinnant's civil_from_days.
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
        let y = yoe + era * 400 + i64::from(m <= 2);
        (y, m, d)
    }
}

/// `YYYY-MM-DD`, the form a database column would use.
impl fmt::Display for UtcDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// Usage of one plugin on one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_micros: u64,
}

impl Usage {
    /// Input plus output tokens: what a token budget counts.
    pub fn tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    fn add(&mut self, other: &Usage) {
        self.calls = self.calls.saturating_add(other.calls);
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cost_micros = self.cost_micros.saturating_add(other.cost_micros);
    }
}

/// Where per-plugin daily usage lives. The host implements this over its
/// `usage` table; [`MemoryLedger`] is the in-process default.
///
/// Errors are plain strings that end up in [`LlmError::Ledger`].
#[async_trait]
pub trait UsageLedger: Send + Sync {
    /// Usage recorded so far for `plugin_id` on `day` (zero if none).
    async fn usage(&self, plugin_id: &str, day: UtcDay) -> Result<Usage, String>;
    /// Adds `usage` to `plugin_id`'s total for `day`.
    async fn record(&self, plugin_id: &str, day: UtcDay, usage: Usage) -> Result<(), String>;
}

/// An in-memory [`UsageLedger`]; usage is lost on restart.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    usage: Mutex<HashMap<(String, UtcDay), Usage>>,
}

impl MemoryLedger {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl UsageLedger for MemoryLedger {
    async fn usage(&self, plugin_id: &str, day: UtcDay) -> Result<Usage, String> {
        let map = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        Ok(map
            .get(&(plugin_id.to_owned(), day))
            .copied()
            .unwrap_or_default())
    }

    async fn record(&self, plugin_id: &str, day: UtcDay, usage: Usage) -> Result<(), String> {
        let mut map = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        map.entry((plugin_id.to_owned(), day))
            .or_default()
            .add(&usage);
        Ok(())
    }
}

/// Refuses calls from plugins that have spent their daily budget and charges
/// every completed call to the ledger.
pub struct Budgeted {
    inner: Arc<dyn Provider>,
    ledger: Arc<dyn UsageLedger>,
    prices: Arc<PriceTable>,
    clock: fn() -> UtcDay,
}

impl Budgeted {
    pub fn new(
        inner: Arc<dyn Provider>,
        ledger: Arc<dyn UsageLedger>,
        prices: Arc<PriceTable>,
    ) -> Self {
        Self {
            inner,
            ledger,
            prices,
            clock: UtcDay::today,
        }
    }

    /// Replaces the clock (tests of the day boundary).
    pub fn with_clock(mut self, clock: fn() -> UtcDay) -> Self {
        self.clock = clock;
        self
    }
}

#[async_trait]
impl Provider for Budgeted {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn complete(
        &self,
        ctx: &CallContext,
        req: &CompletionRequest,
    ) -> Result<CompletionResponse, LlmError> {
        let day = (self.clock)();
        let plugin = ctx.plugin_id.as_str();
        if ctx.daily_token_budget.is_some() || ctx.daily_cost_budget_micros.is_some() {
            let used = self.ledger.usage(plugin, day).await.map_err(|e| {
                LlmError::Ledger(format!("reading usage of plugin `{plugin}`: {e}"))
            })?;
            if let Some(budget) = ctx.daily_token_budget
                && used.tokens() >= budget
            {
                return Err(LlmError::BudgetExceeded(format!(
                    "plugin `{plugin}` has used {} of its {budget} daily tokens on {day} (UTC); \
                         the budget resets at 00:00 UTC",
                    used.tokens()
                )));
            }
            if let Some(budget) = ctx.daily_cost_budget_micros
                && used.cost_micros >= budget
            {
                return Err(LlmError::BudgetExceeded(format!(
                    "plugin `{plugin}` has spent {} of its {budget} daily micro-USD on {day} (UTC); \
                         the budget resets at 00:00 UTC",
                    used.cost_micros
                )));
            }
        }
        let resp = self.inner.complete(ctx, req).await?;
        let (i, o) = (u64::from(resp.input_tokens), u64::from(resp.output_tokens));
        let usage = Usage {
            calls: 1,
            input_tokens: i,
            output_tokens: o,
            cost_micros: self.prices.cost_micros(&req.model, i, o),
        };
        if let Err(e) = self.ledger.record(plugin, day, usage).await {
            tracing::error!(target: "djinn::llm", plugin, error = %e, "could not record llm usage");
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_day_formats_as_calendar_date() {
        assert_eq!(UtcDay(0).to_string(), "1970-01-01");
        assert_eq!(UtcDay(19_782).to_string(), "2024-02-29");
        assert_eq!(UtcDay(-1).to_string(), "1969-12-31");
        let t = UNIX_EPOCH + std::time::Duration::from_secs(86_400 * 3 - 1);
        assert_eq!(UtcDay::from_system_time(t), UtcDay(2));
    }
}

#[cfg(test)]
mod day_tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;
    use crate::{ChatMessage, MockProvider};

    static DAY: AtomicI64 = AtomicI64::new(20_000);

    fn test_clock() -> UtcDay {
        UtcDay(DAY.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn budget_resets_on_the_next_utc_day() {
        let ledger = Arc::new(MemoryLedger::new());
        let b = Budgeted::new(
            Arc::new(MockProvider::default()),
            ledger.clone(),
            Arc::new(PriceTable::default()),
        )
        .with_clock(test_clock);
        let req = CompletionRequest {
            model: "mock".into(),
            messages: vec![ChatMessage {
                role: "user".into(),
                content: "one two three".into(),
            }],
            temperature: None,
            max_tokens: None,
        };
        let ctx = CallContext::new("p").with_daily_token_budget(Some(5));
        b.complete(&ctx, &req).await.unwrap();
        assert!(matches!(
            b.complete(&ctx, &req).await,
            Err(LlmError::BudgetExceeded(_))
        ));
        DAY.fetch_add(1, Ordering::SeqCst);
        b.complete(&ctx, &req).await.unwrap();
        assert_eq!(ledger.usage("p", UtcDay(20_000)).await.unwrap().calls, 1);
        assert_eq!(ledger.usage("p", UtcDay(20_001)).await.unwrap().calls, 1);
    }
}
