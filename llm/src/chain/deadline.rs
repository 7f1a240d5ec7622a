//! Cuts a call at `min(call_timeout, the caller's remaining deadline)`.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::{CallContext, CompletionRequest, CompletionResponse, LlmError, Provider};

/// Bounds each call in time and passes the tightened deadline down in the
/// [`CallContext`], so inner wrappers (retry backoff, the breaker) plan with it.
pub struct Deadline {
    inner: Arc<dyn Provider>,
    call_timeout: Option<Duration>,
}

impl Deadline {
    /// `call_timeout: None` leaves only the caller's deadline.
    pub fn new(inner: Arc<dyn Provider>, call_timeout: Option<Duration>) -> Self {
        Self {
            inner,
            call_timeout,
        }
    }
}

#[async_trait]
impl Provider for Deadline {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn complete(
        &self,
        ctx: &CallContext,
        req: &CompletionRequest,
    ) -> Result<CompletionResponse, LlmError> {
        let now = Instant::now();
        // Use the caller's deadline instant itself when it is the tighter bound, so
        // this timer never fires after a caller's own timer set for the same instant.
        let by_timeout = self.call_timeout.map(|t| now + t);
        let deadline = match (by_timeout, ctx.deadline) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(d) => d,
                None => return self.inner.complete(ctx, req).await,
            },
        };
        let limit = deadline.saturating_duration_since(now);
        if limit.is_zero() {
            return Err(LlmError::Timeout(limit));
        }
        let ctx: Cow<'_, CallContext> = match ctx.deadline {
            Some(d) if d <= deadline => Cow::Borrowed(ctx),
            _ => Cow::Owned(ctx.clone().with_deadline(Some(deadline))),
        };
        match tokio::time::timeout_at(deadline, self.inner.complete(&ctx, req)).await {
            // An inner layer (the breaker) may hit the same deadline first; report
            // the whole call's limit either way.
            Ok(Err(LlmError::Timeout(_))) if Instant::now() >= deadline => {
                Err(LlmError::Timeout(limit))
            }
            Ok(r) => r,
            Err(_) => Err(LlmError::Timeout(limit)),
        }
    }
}
