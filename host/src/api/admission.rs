//! Who may start a question now: a bound on questions running at once (503
//! `overloaded` beyond it) and an optional per-caller rate (429 `rate_limited`).
//!
//! Why refuse rather than queue: a question holds plugin instances and LLM
//! calls for up to its deadline; queueing more than the host can run only turns
//! a fast "try again" into a slow timeout. Both errors carry `Retry-After`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::http::StatusCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;

/// A token bucket: `capacity` questions, refilled at `capacity` per minute.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug)]
pub struct Admission {
    running: Arc<Semaphore>,
    max_running: usize,
    per_minute: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Held while a question runs; dropping it lets the next one in.
#[derive(Debug)]
pub struct Admitted {
    _permit: OwnedSemaphorePermit,
}

impl Admission {
    /// `max_running` questions at once; `per_minute` per caller (0: no rate limit).
    pub fn new(max_running: usize, per_minute: u32) -> Self {
        let max_running = max_running.max(1);
        Self {
            running: Arc::new(Semaphore::new(max_running)),
            max_running,
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Admits a question from `caller`, or says why not.
    pub fn admit(&self, caller: &str) -> Result<Admitted, ApiError> {
        self.take_token(caller)?;
        let permit = self.running.clone().try_acquire_owned().map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                format!(
                    "{} questions are already running (the host's limit); try again shortly",
                    self.max_running
                ),
            )
            .retry_after(1)
        })?;
        Ok(Admitted { _permit: permit })
    }

    fn take_token(&self, caller: &str) -> Result<(), ApiError> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let rate = capacity / 60.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        // Full buckets carry no information; dropping them bounds the map by the
        // callers active in the last minute.
        if buckets.len() > 10_000 {
            buckets
                .retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < capacity);
        }
        let b = buckets.entry(caller.to_owned()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(capacity);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - b.tokens) / rate).ceil() as u64;
        Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "`{caller}` may ask {} questions a minute; try again in {wait} s",
                self.per_minute
            ),
        )
        .retry_after(wait.max(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_questions_are_bounded_and_released() {
        let a = Admission::new(2, 0);
        let one = a.admit("x").unwrap();
        let _two = a.admit("y").unwrap();
        let err = a.admit("z").unwrap_err();
        assert_eq!(err.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(err.code, "overloaded");
        assert_eq!(err.retry_after, Some(1));
        drop(one);
        assert!(a.admit("z").is_ok());
    }

    #[test]
    fn each_caller_has_its_own_rate() {
        let a = Admission::new(100, 3);
        for _ in 0..3 {
            drop(a.admit("alice").unwrap());
        }
        let err = a.admit("alice").unwrap_err();
        assert_eq!(err.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(err.code, "rate_limited");
        // 3 a minute refills one every 20 s.
        assert!((1..=20).contains(&err.retry_after.unwrap()), "{err:?}");
        assert!(a.admit("bob").is_ok(), "another caller is not limited");
    }
}
