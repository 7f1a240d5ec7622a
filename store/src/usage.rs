//! LLM usage per plugin per UTC day, so daily budgets survive restarts.
//!
//! Additions are a single `INSERT … ON CONFLICT DO UPDATE SET x = x + excluded.x`, atomic
//! on both backends without an explicit lock, and return the new totals so a budget
//! check needs no second read.

use chrono::{NaiveDate, Utc};
use serde::Serialize;
use sqlx::Row;

use crate::store::{Db, StoreError, on_pool, to_i64, to_u64};

/// Tokens and cost (millionths of a US dollar).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_micros: u64,
}

/// Today in UTC: the day budgets are counted in.
pub fn utc_today() -> NaiveDate {
    Utc::now().date_naive()
}

/// The usage ledger; obtain one with [`crate::Store::usage`].
#[derive(Debug, Clone)]
pub struct UsageLedger {
    db: Db,
}

impl UsageLedger {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }

    /// Adds `delta` to `plugin`'s totals for `day` and returns the new totals.
    pub async fn add_usage(
        &self,
        plugin: &str,
        day: NaiveDate,
        delta: Usage,
    ) -> Result<Usage, StoreError> {
        let day = day.format("%Y-%m-%d").to_string();
        let (tin, tout, cost) = (
            to_i64("tokens_in", delta.tokens_in)?,
            to_i64("tokens_out", delta.tokens_out)?,
            to_i64("cost_micros", delta.cost_micros)?,
        );
        let row = on_pool!(&self.db, pool => {
            let row = sqlx::query(
                "INSERT INTO usage (plugin, day, tokens_in, tokens_out, cost_micros) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (plugin, day) DO UPDATE SET \
                   tokens_in = usage.tokens_in + excluded.tokens_in, \
                   tokens_out = usage.tokens_out + excluded.tokens_out, \
                   cost_micros = usage.cost_micros + excluded.cost_micros \
                 RETURNING tokens_in, tokens_out, cost_micros",
            )
            .bind(plugin)
            .bind(&day)
            .bind(tin)
            .bind(tout)
            .bind(cost)
            .fetch_one(pool)
            .await?;
            (row.try_get::<i64, _>(0)?, row.try_get::<i64, _>(1)?, row.try_get::<i64, _>(2)?)
        });
        to_usage(row)
    }

    /// `plugin`'s totals for `day` (zeros if nothing was recorded).
    pub async fn usage(&self, plugin: &str, day: NaiveDate) -> Result<Usage, StoreError> {
        let day = day.format("%Y-%m-%d").to_string();
        let row = on_pool!(&self.db, pool => {
            match sqlx::query(
                "SELECT tokens_in, tokens_out, cost_micros FROM usage WHERE plugin = $1 AND day = $2",
            )
            .bind(plugin)
            .bind(&day)
            .fetch_optional(pool)
            .await?
            {
                Some(row) => (row.try_get::<i64, _>(0)?, row.try_get::<i64, _>(1)?, row.try_get::<i64, _>(2)?),
                None => (0, 0, 0),
            }
        });
        to_usage(row)
    }
}

fn to_usage((tin, tout, cost): (i64, i64, i64)) -> Result<Usage, StoreError> {
    Ok(Usage {
        tokens_in: to_u64("tokens_in", tin)?,
        tokens_out: to_u64("tokens_out", tout)?,
        cost_micros: to_u64("cost_micros", cost)?,
    })
}
