//! Prints `analysis.result` for the fast path without serde.
//!
//! Why: serde_json's serializer escapes every string byte by byte (keys too) and
//! writes through `io::Write` piece by piece; copying fixed pieces and strings
//! known to need no escaping is a `memory.copy` each. The bytes must be exactly
//! what [`crate::render`] prints (keys in sorted order, no spaces, serde_json's
//! numbers); the tests compare the two.

use djinn_sdk::json::text::{push_i64, push_u64};
use serde_json::Value;

use crate::Summary;
use crate::scan::Enriched;

/// The `analysis.result` payload. Every string in `s` and `e` must come from
/// [`crate::scan`]'s plain strings (no escape, no control character), which
/// serde_json would print unchanged; `None` only if serde_json fails to print a
/// `Value` or a float.
pub(crate) fn analysis(s: &Summary, e: &Enriched) -> Option<String> {
    // fuel: one allocation that does not regrow for typical transactions (~100
    // bytes each printed) and categories.
    let mut out = Out(String::with_capacity(2048 + 128 * e.txs.len()));
    out.raw(r#"{"category_totals":["#);
    for (i, (category, sums)) in s.categories.iter().enumerate() {
        out.comma(i);
        out.raw(r#"{"category":"#);
        out.str(category);
        out.raw(r#","count":"#);
        out.uint(sums.count);
        out.raw(r#","expense_cents":"#);
        out.int(sums.expense);
        out.raw(r#","income_cents":"#);
        out.int(sums.income);
        out.raw("}");
    }
    out.raw(r#"],"currency":"#);
    out.str(s.currency);
    out.raw(r#","expense_cents":"#);
    out.int(s.total.expense);
    out.raw(r#","income_cents":"#);
    out.int(s.total.income);
    out.raw(r#","ingest_errors":"#);
    match &e.errors {
        Some(errors) => out.json(errors)?,
        None => out.raw("[]"),
    }
    out.raw(r#","monthly":["#);
    for (i, (month, sums)) in s.monthly.iter().enumerate() {
        out.comma(i);
        out.raw(r#"{"count":"#);
        out.uint(sums.count);
        out.raw(r#","expense_cents":"#);
        out.int(sums.expense);
        out.raw(r#","income_cents":"#);
        out.int(sums.income);
        out.raw(r#","month":"#);
        out.str(month);
        out.raw(r#","net_cents":"#);
        out.int(sums.income - sums.expense);
        out.raw("}");
    }
    out.raw(r#"],"net_cents":"#);
    out.int(s.total.income - s.total.expense);
    out.raw(r#","period":{"from":"#);
    out.str(s.from);
    out.raw(r#","months":"#);
    out.uint(s.monthly.len() as u64);
    out.raw(r#","to":"#);
    out.str(s.to);
    out.raw(r#"},"question":"#);
    out.json(e.question.as_ref().unwrap_or(&Value::Null))?;
    out.raw(r#","top_categories":["#);
    for (i, (category, expense, share_pct)) in s.top().enumerate() {
        out.comma(i);
        out.raw(r#"{"category":"#);
        out.str(category);
        out.raw(r#","expense_cents":"#);
        out.int(expense);
        out.raw(r#","share_pct":"#);
        out.json(&share_pct)?;
        out.raw("}");
    }
    out.raw(r#"],"transaction_count":"#);
    out.uint(s.transaction_count as u64);
    out.raw(r#","transactions":["#);
    for (i, (t, merchant)) in e.txs.iter().zip(&e.merchants).enumerate() {
        out.comma(i);
        out.raw(r#"{"amount_cents":"#);
        out.int(t.amount_cents);
        out.raw(r#","category":"#);
        out.str(t.category);
        out.raw(r#","date":"#);
        out.str(t.date);
        out.raw(r#","line":"#);
        out.int(t.line);
        out.raw(r#","merchant":"#);
        out.str(merchant);
        out.raw("}");
    }
    out.raw("]}");
    Some(out.0)
}

struct Out(String);

impl Out {
    fn raw(&mut self, s: &str) {
        self.0.push_str(s);
    }

    /// A `,` before every element but the first.
    fn comma(&mut self, index: usize) {
        if index > 0 {
            self.0.push(',');
        }
    }

    /// `s` quoted, unescaped: see [`analysis`] for why that is safe.
    fn str(&mut self, s: &str) {
        self.0.push('"');
        self.0.push_str(s);
        self.0.push('"');
    }

    fn int(&mut self, n: i64) {
        push_i64(&mut self.0, n);
    }

    fn uint(&mut self, n: u64) {
        push_u64(&mut self.0, n);
    }

    /// Printed by serde_json itself: the ingest errors, the question and the
    /// shares (floats), so their bytes are serde_json's by construction.
    fn json<T: serde::Serialize + ?Sized>(&mut self, v: &T) -> Option<()> {
        self.0.push_str(&serde_json::to_string(v).ok()?);
        Some(())
    }
}
