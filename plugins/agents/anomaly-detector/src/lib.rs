//! Finds suspicious debits (`analysis.result` → `anomalies.result`).
//!
//! Genie flagged z-scores ≥ 2 with as few as two transactions per category, where
//! the outlier itself inflates the mean and the standard deviation it is judged
//! by. Here outliers use the median and the median absolute deviation (modified
//! z-score of Iglewicz and Hoaglin, flag above 3.5, at least 3 debits in the
//! category), which one extreme value cannot mask. Two further checks: duplicate
//! charges and first-seen payees with unusually large amounts. Every anomaly
//! names its statement line and the numbers it was judged on.

mod print;

use std::collections::BTreeMap;

use djinn_sdk::json::{Object, Skip};
use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError};
use serde::Deserialize;
use serde_json::{Value, json};

/// Modified z-score above which a debit is an outlier (Iglewicz & Hoaglin, 1993).
pub const Z_THRESHOLD: f64 = 3.5;
/// Fewest debits in a category for the outlier test.
pub const MIN_IN_CATEGORY: usize = 3;
/// Same merchant and amount at most this many days apart is a duplicate charge.
pub const DUPLICATE_DAYS: i64 = 3;
/// Payees first seen within this many days of the statement's start are "known".
pub const BASELINE_DAYS: i64 = 30;
/// Fewest debits for a meaningful 90th percentile.
pub const MIN_FOR_PERCENTILE: usize = 5;

/// A debit, with its magnitude in minor units. Its text borrows from the payload
/// (fuel: three `String`s a debit cost ~600 wasm instructions in dlmalloc).
#[derive(Debug, Clone, PartialEq)]
pub struct Debit<'a> {
    pub line: i64,
    pub day: i64,
    pub date: &'a str,
    pub merchant: &'a str,
    pub category: &'a str,
    pub cents: i64,
}

/// One finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    pub kind: &'static str,
    pub line: i64,
    pub reason: String,
    pub evidence: Value,
}

/// Days since 1970-01-01 for `YYYY-MM-DD` (Howard Hinnant's days_from_civil).
pub fn day_number(date: &str) -> Result<i64, String> {
    let (y, m, d) = match plain_ymd(date.as_bytes()) {
        Some(ymd) => ymd,
        None => split_ymd(date)?,
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(format!("date `{date}` is not YYYY-MM-DD"));
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Ok(era * 146_097 + doe - 719_468)
}

/// Year, month and day of exactly `DDDD-DD-DD` (ASCII digits), which [`split_ymd`]
/// reads the same way (fuel: `splitn` and three `parse` calls cost ~500 wasm
/// instructions a date; this ~40). Anything else is `None`.
fn plain_ymd(date: &[u8]) -> Option<(i64, i64, i64)> {
    let &[y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = date else {
        return None;
    };
    let mut n = [0i64; 8];
    for (slot, b) in n.iter_mut().zip([y0, y1, y2, y3, m0, m1, d0, d1]) {
        if !b.is_ascii_digit() {
            return None;
        }
        *slot = i64::from(b - b'0');
    }
    Some((
        n[0] * 1000 + n[1] * 100 + n[2] * 10 + n[3],
        n[4] * 10 + n[5],
        n[6] * 10 + n[7],
    ))
}

/// Year, month and day of `Y-M-D`, each part as `i64::from_str` reads it: the
/// general reading, which defines what [`day_number`] accepts.
fn split_ymd(date: &str) -> Result<(i64, i64, i64), String> {
    let bad = || format!("date `{date}` is not YYYY-MM-DD");
    let mut it = date.splitn(3, '-');
    let mut next = || {
        it.next()
            .and_then(|p| p.parse::<i64>().ok())
            .ok_or_else(bad)
    };
    Ok((next()?, next()?, next()?))
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// Nearest-rank percentile (`p` in (0, 1]) of a non-empty slice.
pub fn percentile_nearest_rank(values: &[i64], p: f64) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = (p * v.len() as f64).ceil().max(1.0) as usize;
    v.get(rank - 1).copied()
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Per-category robust outliers.
pub fn category_outliers(debits: &[Debit]) -> Vec<Anomaly> {
    let mut by_cat: BTreeMap<&str, Vec<&Debit>> = BTreeMap::new();
    for d in debits {
        by_cat.entry(d.category).or_default().push(d);
    }
    let mut out = Vec::new();
    for (cat, ds) in by_cat {
        if ds.len() < MIN_IN_CATEGORY {
            continue;
        }
        let xs = sorted(ds.iter().map(|d| d.cents as f64).collect());
        let med = median(&xs);
        let mad = median(&sorted(xs.iter().map(|x| (x - med).abs()).collect()));
        // MAD = 0 when over half the values are equal; fall back to the mean
        // absolute deviation, scaled to match (Iglewicz & Hoaglin).
        let (scale, basis) = if mad > 0.0 {
            (mad / 0.6745, "mad")
        } else {
            let mean_ad = xs.iter().map(|x| (x - med).abs()).sum::<f64>() / xs.len() as f64;
            (1.253_314 * mean_ad, "mean_absolute_deviation")
        };
        if scale <= 0.0 {
            continue;
        }
        for d in ds {
            let z = (d.cents as f64 - med) / scale;
            if z.abs() > Z_THRESHOLD {
                out.push(Anomaly {
                    kind: "category_outlier",
                    line: d.line,
                    reason: format!(
                        "{} debit of {} minor units on {} is far from the category median of {} (modified z = {:.1})",
                        cat,
                        d.cents,
                        d.date,
                        med.round() as i64,
                        z
                    ),
                    evidence: json!({
                        "category": cat, "merchant": d.merchant, "date": d.date,
                        "amount_cents": d.cents, "median_cents": med.round() as i64,
                        "mad_cents": round2(mad), "modified_z": round2(z),
                        "scale_basis": basis, "threshold": Z_THRESHOLD, "n_in_category": xs.len(),
                    }),
                });
            }
        }
    }
    out
}

/// Same merchant and amount within [`DUPLICATE_DAYS`]; the later charge is reported.
pub fn duplicate_charges(debits: &[Debit]) -> Vec<Anomaly> {
    let mut order: Vec<&Debit> = debits.iter().collect();
    order.sort_by_key(|d| (d.day, d.line));
    let mut out = Vec::new();
    for (j, later) in order.iter().enumerate() {
        // `order` is sorted by day, so going back the gap only grows: stop at the
        // first charge out of the window instead of scanning the whole statement
        // (fuel: quadratic in the debits otherwise).
        let first = order[..j]
            .iter()
            .rev()
            .take_while(|e| later.day - e.day <= DUPLICATE_DAYS)
            .find(|e| e.merchant == later.merchant && e.cents == later.cents);
        if let Some(first) = first {
            out.push(Anomaly {
                kind: "duplicate_charge",
                line: later.line,
                reason: format!(
                    "{} charged {} minor units again {} day(s) after line {}",
                    later.merchant,
                    later.cents,
                    later.day - first.day,
                    first.line
                ),
                evidence: json!({
                    "merchant": later.merchant, "amount_cents": later.cents,
                    "first_line": first.line, "first_date": first.date,
                    "date": later.date, "days_apart": later.day - first.day,
                    "window_days": DUPLICATE_DAYS,
                }),
            });
        }
    }
    out
}

/// First-seen payees (after the baseline window) whose first debit exceeds the
/// 90th percentile of all debits. `first_seen` maps merchant → (day, line) of its
/// first transaction of any kind.
pub fn new_large_payees(
    debits: &[Debit],
    first_seen: &BTreeMap<&str, (i64, i64)>,
    start_day: i64,
) -> Vec<Anomaly> {
    if debits.len() < MIN_FOR_PERCENTILE {
        return Vec::new();
    }
    let amounts: Vec<i64> = debits.iter().map(|d| d.cents).collect();
    let Some(p90) = percentile_nearest_rank(&amounts, 0.9) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // The amount is tested before the payee is looked up: most debits are at or
    // below the 90th percentile (fuel: a map lookup compares strings).
    for d in debits.iter().filter(|d| d.cents > p90) {
        let Some(&(day, line)) = first_seen.get(d.merchant) else {
            continue;
        };
        if line != d.line || day - start_day < BASELINE_DAYS {
            continue;
        }
        out.push(Anomaly {
            kind: "new_large_payee",
            line: d.line,
            reason: format!(
                "first payment to {} ({} minor units on {}) is above the 90th percentile of debits ({})",
                d.merchant, d.cents, d.date, p90
            ),
            evidence: json!({
                "merchant": d.merchant, "amount_cents": d.cents, "date": d.date,
                "p90_debit_cents": p90, "debits_considered": amounts.len(),
                "baseline_days": BASELINE_DAYS,
            }),
        });
    }
    out
}

/// What the checks need from the transaction list, gathered in statement order.
struct Collected<'a> {
    debits: Vec<Debit<'a>>,
    first_seen: BTreeMap<&'a str, (i64, i64)>,
    start_day: i64,
}

impl<'a> Collected<'a> {
    /// Room for `capacity` debits (fuel: grown once instead of doubling).
    fn with_capacity(capacity: usize) -> Collected<'a> {
        Collected {
            debits: Vec::with_capacity(capacity),
            first_seen: BTreeMap::new(),
            start_day: i64::MAX,
        }
    }

    fn push(
        &mut self,
        line: i64,
        day: i64,
        date: &'a str,
        merchant: &'a str,
        category: &'a str,
        cents: i64,
    ) -> Result<(), String> {
        self.start_day = self.start_day.min(day);
        let seen = self.first_seen.entry(merchant).or_insert((day, line));
        if (day, line) < *seen {
            *seen = (day, line);
        }
        if cents < 0 {
            self.debits.push(Debit {
                line,
                day,
                date,
                merchant,
                category,
                cents: cents.checked_neg().ok_or("amount out of range")?,
            });
        }
        Ok(())
    }
}

/// The `anomalies.result` payload for an `analysis.result` payload.
pub fn detect(analysis: &Value) -> Result<Value, String> {
    let txs = analysis
        .get("transactions")
        .and_then(Value::as_array)
        .ok_or("analysis.result needs an array `transactions`")?;
    let mut collected = Collected::with_capacity(txs.len());
    for (i, t) in txs.iter().enumerate() {
        let field = |k: &str| {
            t.get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("transactions[{i}] has no string `{k}`"))
        };
        let date = field("date")?;
        let day = day_number(date).map_err(|e| format!("transactions[{i}]: {e}"))?;
        let merchant = field("merchant")?;
        let cents = t
            .get("amount_cents")
            .and_then(Value::as_i64)
            .ok_or_else(|| format!("transactions[{i}] has no integer `amount_cents`"))?;
        let line = t
            .get("line")
            .and_then(Value::as_i64)
            .unwrap_or(i as i64 + 1);
        let category = field("category").unwrap_or("uncategorized");
        collected.push(line, day, date, merchant, category, cents)?;
    }
    Ok(report(
        collected,
        analysis.get("currency").cloned().unwrap_or(Value::Null),
    ))
}

/// The fast path: reads only the transaction fields the checks use (and the
/// currency) from the pipeline's `analysis.result`, checking and skipping the rest
/// without building values for it. Any payload it cannot read that way, or that fails a
/// check, gives `None` and goes to [`detect`], which defines the behaviour and the
/// errors; for payloads both read, the result is the same (tests below).
pub fn detect_text(payload: &str) -> Option<Value> {
    let Object(analysis) = serde_json::from_str::<Object<AnalysisIn>>(payload).ok()?;
    let mut collected = Collected::with_capacity(analysis.transactions.len());
    for Object(t) in &analysis.transactions {
        let day = day_number(t.date).ok()?;
        collected
            .push(t.line, day, t.date, t.merchant, t.category, t.amount_cents)
            .ok()?;
    }
    Some(report(collected, analysis.currency.unwrap_or(Value::Null)))
}

/// The analyzer's fields; those the checks do not read are checked and skipped.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnalysisIn<'a> {
    #[serde(default)]
    #[allow(dead_code)]
    category_totals: Skip,
    #[serde(default)]
    currency: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    expense_cents: Skip,
    #[serde(default)]
    #[allow(dead_code)]
    income_cents: Skip,
    #[serde(default)]
    #[allow(dead_code)]
    ingest_errors: Skip,
    #[serde(default)]
    #[allow(dead_code)]
    monthly: Skip,
    #[serde(default)]
    #[allow(dead_code)]
    net_cents: Skip,
    #[serde(default)]
    #[allow(dead_code)]
    period: Skip,
    #[serde(default)]
    #[allow(dead_code)]
    question: Skip,
    #[serde(default)]
    #[allow(dead_code)]
    top_categories: Skip,
    #[serde(default)]
    #[allow(dead_code)]
    transaction_count: Skip,
    #[serde(borrow)]
    transactions: Vec<Object<TxIn<'a>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TxIn<'a> {
    amount_cents: i64,
    category: &'a str,
    date: &'a str,
    line: i64,
    merchant: &'a str,
}

/// The payload for the gathered transactions.
fn report(collected: Collected, currency: Value) -> Value {
    let Collected {
        debits,
        first_seen,
        start_day,
    } = collected;
    let mut all = category_outliers(&debits);
    all.extend(duplicate_charges(&debits));
    all.extend(new_large_payees(&debits, &first_seen, start_day));
    all.sort_by_key(|a| (a.line, a.kind));
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &all {
        *counts.entry(a.kind).or_default() += 1;
    }
    // Built by hand, not with `json!`, which serializes each value from a
    // reference: that would deep-copy every reason and evidence tree (fuel).
    let anomalies = all
        .into_iter()
        .map(|a| {
            let mut o = serde_json::Map::new();
            o.insert("kind".into(), a.kind.into());
            o.insert("line".into(), a.line.into());
            o.insert("reason".into(), a.reason.into());
            o.insert("evidence".into(), a.evidence);
            Value::Object(o)
        })
        .collect::<Vec<_>>();
    json!({
        "anomalies": anomalies,
        "counts": counts,
        "debits_checked": debits.len(),
        "currency": currency,
        "method": {
            "category_outlier": METHOD_CATEGORY_OUTLIER,
            "duplicate_charge": METHOD_DUPLICATE_CHARGE,
            "new_large_payee": METHOD_NEW_LARGE_PAYEE,
        },
    })
}

// How each check works, as the reply states it. Literals rather than `format!`
// of the constants above (fuel: ~3k instructions a call, more for the float);
// `method_texts_state_the_constants` keeps them in step.
const METHOD_CATEGORY_OUTLIER: &str = "modified z = 0.6745·(x − median)/MAD per category of debits, |z| > 3.5, at least 3 debits; MAD = 0 falls back to 1.2533·mean absolute deviation";
const METHOD_DUPLICATE_CHARGE: &str =
    "same merchant and amount within 3 days; the later charge is reported";
const METHOD_NEW_LARGE_PAYEE: &str = "a merchant first seen more than 30 days after the statement starts whose first debit is above the nearest-rank 90th percentile of all debits (needs 5 debits)";

struct AnomalyDetector;

impl Agent for AnomalyDetector {
    fn info() -> AgentInfo {
        AgentInfo::new("anomaly-detector", "Anomaly detector")
            .subscribes(["analysis.result"])
            .capabilities(["anomalies"])
    }

    fn handle(msg: Message) -> Result<Vec<Message>, PluginError> {
        let out = match detect_text(&msg.payload) {
            Some(out) => out,
            None => detect(&msg.json()?).map_err(PluginError::InvalidInput)?,
        };
        let mut reply = msg.reply("anomalies.result", print::to_json(&out));
        reply.metadata.retain(|(k, _)| k != "djinn-gather");
        Ok(vec![reply])
    }
}

djinn_sdk::export_agent!(AnomalyDetector);

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(line: i64, date: &str, merchant: &str, cat: &str, cents: i64) -> Value {
        json!({"line": line, "date": date, "merchant": merchant, "category": cat, "amount_cents": cents})
    }

    #[test]
    fn plain_dates_read_as_the_general_reading() {
        for date in [
            "2024-01-05",
            "0000-01-01",
            "9999-12-31",
            "2024-1-05",
            "+024-01-01",
            "-024-01-01",
            "2024-01-0x",
            "2024/01/01",
            " 2024-01-01",
            "2024-01-01 ",
            "2024-00-10",
            "2024-01-32",
            "20240-01-01",
            "2024-01-011",
            "",
            "٢٠٢٤-01-01",
        ] {
            if let Some(ymd) = plain_ymd(date.as_bytes()) {
                assert_eq!(Ok(ymd), split_ymd(date), "{date}");
            }
        }
        assert_eq!(plain_ymd(b"2024-07-31"), Some((2024, 7, 31)));
        assert_eq!(day_number("2024-1-5"), day_number("2024-01-05"));
        assert_eq!(
            day_number("2024-00-10"),
            Err("date `2024-00-10` is not YYYY-MM-DD".to_owned())
        );
    }

    /// The windowed scan finds what a scan of every earlier charge finds.
    #[test]
    fn duplicate_scan_matches_the_full_scan() {
        let debit = |line, day, merchant, cents| Debit {
            line,
            day,
            date: "d",
            merchant,
            category: "c",
            cents,
        };
        let debits = [
            debit(9, 10, "A", 5),
            debit(2, 10, "A", 5),
            debit(3, 13, "A", 5),
            debit(4, 14, "A", 5),
            debit(5, 14, "B", 5),
            debit(6, 18, "A", 5),
            debit(7, 21, "A", 6),
            debit(8, 21, "A", 5),
            debit(1, 30, "B", 5),
            debit(10, 30, "B", 5),
        ];
        let mut order: Vec<&Debit> = debits.iter().collect();
        order.sort_by_key(|d| (d.day, d.line));
        let full: Vec<(i64, i64)> = order
            .iter()
            .enumerate()
            .filter_map(|(j, later)| {
                let first = order[..j].iter().rev().find(|e| {
                    e.merchant == later.merchant
                        && e.cents == later.cents
                        && later.day - e.day <= DUPLICATE_DAYS
                })?;
                Some((later.line, first.line))
            })
            .collect();
        let windowed: Vec<(i64, i64)> = duplicate_charges(&debits)
            .iter()
            .map(|a| (a.line, a.evidence["first_line"].as_i64().unwrap()))
            .collect();
        assert_eq!(windowed, full);
        assert_eq!(full, [(9, 2), (3, 9), (4, 3), (8, 6), (10, 1)]);
    }

    /// Debits on which every check fires once: nine steady buys from `grocer`
    /// in `groceries` and then one far larger (an outlier), the same `subs`
    /// charge from `subscription` two days running (a duplicate), and a large
    /// first payment to a new payee.
    fn every_check_fires(
        grocer: &str,
        groceries: &str,
        subscription: &str,
        subs: &str,
    ) -> Vec<Value> {
        let mut txs = vec![tx(2, "2024-01-01", "RENT", "rent", -2_500_000)];
        for i in 0..9 {
            txs.push(tx(
                3 + i,
                &format!("2024-01-{:02}", 10 + i),
                grocer,
                groceries,
                -(200_000 + i * 1_000),
            ));
        }
        txs.push(tx(12, "2024-01-20", subscription, subs, -64_900));
        txs.push(tx(13, "2024-01-21", subscription, subs, -64_900));
        txs.push(tx(14, "2024-02-20", grocer, groceries, -2_000_000));
        txs.push(tx(15, "2024-02-21", "CROMA", "electronics", -5_000_000));
        txs
    }

    /// What the agent sends: the hand printer's text is `Value::to_string`'s,
    /// on both paths, escapes and unicode included.
    #[test]
    fn reply_text_is_the_value_text() {
        let txs = every_check_fires("B\"B \\ \n", "groc\u{1}eries", "NET🚀", "subs");
        let a = json!({"currency": {"code": "I\"NR", "n": [1.5, null]}, "transactions": txs});
        let r = detect(&a).unwrap();
        for kind in ["category_outlier", "duplicate_charge", "new_large_payee"] {
            assert_eq!(r["counts"][kind], 1, "{r}");
        }
        assert_eq!(print::to_json(&r), r.to_string());
        assert_eq!(
            detect_text(&a.to_string()),
            None,
            "escapes take the Value path"
        );
        let plain = json!({"currency": "INR", "transactions": [tx(2, "2024-01-01", "X", "c", -1)]});
        let fast = detect_text(&plain.to_string()).expect("the pipeline's shape");
        assert_eq!(print::to_json(&fast), detect(&plain).unwrap().to_string());
    }

    #[test]
    fn method_texts_state_the_constants() {
        assert_eq!(
            METHOD_CATEGORY_OUTLIER,
            format!(
                "modified z = 0.6745·(x − median)/MAD per category of debits, |z| > {Z_THRESHOLD}, at least {MIN_IN_CATEGORY} debits; MAD = 0 falls back to 1.2533·mean absolute deviation"
            )
        );
        assert_eq!(
            METHOD_DUPLICATE_CHARGE,
            format!(
                "same merchant and amount within {DUPLICATE_DAYS} days; the later charge is reported"
            )
        );
        assert_eq!(
            METHOD_NEW_LARGE_PAYEE,
            format!(
                "a merchant first seen more than {BASELINE_DAYS} days after the statement starts whose first debit is above the nearest-rank 90th percentile of all debits (needs {MIN_FOR_PERCENTILE} debits)"
            )
        );
    }

    #[test]
    fn day_numbers_match_known_dates() {
        assert_eq!(day_number("1970-01-01"), Ok(0));
        assert_eq!(day_number("2000-03-01"), Ok(11_017));
        assert_eq!(
            day_number("2024-03-01").unwrap() - day_number("2024-02-28").unwrap(),
            2
        );
        assert!(day_number("2024-13-01").is_err());
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile_nearest_rank(&v, 0.9), Some(9));
        assert_eq!(percentile_nearest_rank(&[5], 0.9), Some(5));
        assert_eq!(percentile_nearest_rank(&[], 0.9), None);
    }

    #[test]
    fn gross_grocery_outlier_is_flagged_with_its_z() {
        // 2000, 2100, 2200, 2300, 20000: median 2200, MAD 100, z(20000) = 0.6745·17800/100 = 120.06
        let a = json!({"transactions": [
            tx(2, "2024-01-01", "BB", "groceries", -200_000),
            tx(3, "2024-01-08", "BB", "groceries", -210_000),
            tx(4, "2024-01-15", "BB", "groceries", -220_000),
            tx(5, "2024-01-22", "BB", "groceries", -230_000),
            tx(6, "2024-01-29", "BB", "groceries", -2_000_000),
        ]});
        let r = detect(&a).unwrap();
        let outliers: Vec<&Value> = r["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["kind"] == "category_outlier")
            .collect();
        assert_eq!(outliers.len(), 1);
        assert_eq!(outliers[0]["line"], 6);
        assert_eq!(outliers[0]["evidence"]["modified_z"], 120.06);
        assert_eq!(outliers[0]["evidence"]["median_cents"], 220_000);
    }

    #[test]
    fn two_in_a_category_are_not_judged() {
        let a = json!({"transactions": [
            tx(2, "2024-01-01", "A", "fuel", -1_000),
            tx(3, "2024-01-20", "B", "fuel", -900_000),
        ]});
        assert_eq!(detect(&a).unwrap()["anomalies"], json!([]));
    }

    #[test]
    fn duplicate_within_three_days_but_not_monthly_repeats() {
        let a = json!({"transactions": [
            tx(2, "2024-01-05", "NETFLIX", "subscriptions", -64_900),
            tx(3, "2024-01-07", "NETFLIX", "subscriptions", -64_900),
            tx(4, "2024-02-05", "NETFLIX", "subscriptions", -64_900),
            tx(5, "2024-02-06", "NETFLIX", "subscriptions", -65_000),
        ]});
        let r = detect(&a).unwrap();
        let d: Vec<&Value> = r["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["kind"] == "duplicate_charge")
            .collect();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0]["line"], 3);
        assert_eq!(d[0]["evidence"]["first_line"], 2);
        assert_eq!(d[0]["evidence"]["days_apart"], 2);
    }

    #[test]
    fn new_large_payee_after_the_baseline_only() {
        let mut txs = vec![tx(2, "2024-01-01", "RENT", "rent", -2_500_000)];
        for i in 0..9 {
            txs.push(tx(
                3 + i,
                &format!("2024-01-{:02}", 10 + i),
                "SHOP",
                &format!("c{i}"),
                -(10_000 + i * 1_000),
            ));
        }
        txs.push(tx(20, "2024-02-20", "CROMA", "electronics", -5_000_000));
        txs.push(tx(21, "2024-02-21", "TINY", "misc", -100));
        let r = detect(&json!({"transactions": txs})).unwrap();
        let n: Vec<&Value> = r["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["kind"] == "new_large_payee")
            .collect();
        assert_eq!(n.len(), 1, "{r}");
        assert_eq!(n[0]["line"], 20);
        assert_eq!(n[0]["evidence"]["merchant"], "CROMA");
        assert_eq!(r["counts"]["new_large_payee"], 1);
    }

    #[test]
    fn malformed_transactions_are_named() {
        let e = detect(&json!({"transactions": [{"date": "2024-01-01", "merchant": "X"}]}))
            .unwrap_err();
        assert!(e.contains("amount_cents"), "{e}");
        assert!(detect(&json!({})).is_err());
    }

    /// The fast path gives what the `Value` path gives, or declines.
    fn same_as_value_path(a: &Value) -> Option<Value> {
        let fast = detect_text(&a.to_string());
        if let Some(fast) = &fast {
            assert_eq!(fast.to_string(), detect(a).unwrap().to_string());
        }
        fast
    }

    #[test]
    fn fast_path_gives_the_value_paths_payload() {
        // every check fires: an outlier, a duplicate and a new large payee
        let mut txs = every_check_fires("BB", "groceries", "NETFLIX", "subscriptions");
        txs.push(tx(16, "2024-02-22", "SALARY", "income", 8_500_000));
        txs.push(tx(17, "2024-02-23", "Café 🚀", "misc", -1));
        let mut a = json!({"currency": "INR", "transactions": txs, "monthly": [{"month": "2024-01"}], "question": "q"});
        let r = same_as_value_path(&a).expect("the pipeline's shape");
        for kind in ["category_outlier", "duplicate_charge", "new_large_payee"] {
            assert_eq!(r["counts"][kind], 1, "{r}");
        }
        a.as_object_mut().unwrap().remove("currency");
        assert!(same_as_value_path(&a).is_some());
    }

    /// A skipped field is still read as strictly as the `Value` path reads it, so
    /// what that path rejects as not JSON never passes the fast path.
    #[test]
    fn skipped_fields_are_still_checked() {
        let p = json!({"currency": "INR", "question": "q", "transactions": [tx(2, "2024-01-01", "X", "c", -1)]}).to_string();
        assert!(detect_text(&p).is_some());
        for bad in [r#""question":1e400"#, r#""question":"\ud800""#] {
            let text = p.replacen(r#""question":"q""#, bad, 1);
            assert_ne!(text, p);
            assert!(serde_json::from_str::<Value>(&text).is_err(), "{bad}");
            assert_eq!(detect_text(&text), None, "{bad}");
        }
        let extra = p.replacen(r#""question":"q""#, r#""note":1"#, 1);
        assert_eq!(
            detect_text(&extra),
            None,
            "an unknown field takes the Value path"
        );
    }

    #[test]
    fn other_shapes_take_the_value_path() {
        let good = tx(2, "2024-01-01", "X", "c", -1);
        for a in [
            json!({"transactions": [{"date": "2024-01-01", "merchant": "X", "amount_cents": -1}]}),
            json!({"transactions": [good, {"date": "2024-01-01", "merchant": "X", "category": "c", "amount_cents": -1}]}),
            json!({"transactions": [tx(2, "2024-13-01", "X", "c", -1)]}),
            json!({"transactions": [tx(2, "2024-01-01", "X", "c", i64::MIN)]}),
            json!({"transactions": [["2024-01-01", "X", "c", -1, 2]]}),
            json!({"currency": "INR"}),
        ] {
            assert_eq!(detect_text(&a.to_string()), None, "{a}");
        }
    }
}
