//! Forecasts the next three months of net cash flow (`analysis.result` → `forecast.result`).
//!
//! Genie multiplied the statement's net by 1, 3 and 6 and called it a forecast.
//! Here the method depends on how much history there is, and the payload states
//! the method, its assumptions and a 95% interval, so a reader can judge it:
//! - ≥ 3 months: ordinary least squares trend `net = a + b·t`, with the OLS
//!   prediction interval `ŷ ± t(0.975, n−2) · s · √(1 + 1/n + (t₀ − t̄)² / Sₜₜ)`;
//! - 2 months: the mean, with the observed range as an empirical interval;
//! - 1 month: that month repeated, with no interval (none can be estimated).
//!
//! Forecasts are estimates, so the arithmetic is in f64 and rounded to whole
//! minor units at the end; no money is summed in floating point.

use djinn_sdk::json::{Object, Skip};
use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

mod tail;

/// Two-sided 95% Student t quantiles for 1..=30 degrees of freedom.
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// The t quantile for `df` degrees of freedom (1.96 beyond the table).
pub fn t975(df: usize) -> f64 {
    if df == 0 {
        f64::NAN
    } else {
        T975.get(df - 1).copied().unwrap_or(1.96)
    }
}

/// The month after `YYYY-MM`.
pub fn next_month(month: &str) -> Result<String, String> {
    let bad = || format!("month `{month}` is not YYYY-MM");
    let (y, m) = month.split_once('-').ok_or_else(bad)?;
    let (y, m): (i32, u32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if !(1..=12).contains(&m) {
        return Err(bad());
    }
    Ok(if m == 12 {
        format!("{:04}-01", y + 1)
    } else {
        format!("{y:04}-{:02}", m + 1)
    })
}

/// One forecast month.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub month: String,
    pub net_cents: i64,
    pub lower_cents: Option<i64>,
    pub upper_cents: Option<i64>,
}

/// The fitted model and its forecasts.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    pub method: &'static str,
    pub trend_cents_per_month: Option<f64>,
    pub residual_sd_cents: Option<f64>,
    pub points: Vec<Point>,
}

/// Forecasts `horizon` months after the last of `history` (month, net cents), oldest first.
pub fn forecast(history: &[(String, i64)], horizon: usize) -> Result<Forecast, String> {
    let n = history.len();
    let last = history
        .last()
        .ok_or("no monthly history to forecast from")?;
    let mut months = Vec::with_capacity(horizon);
    let mut m = last.0.clone();
    for _ in 0..horizon {
        m = next_month(&m)?;
        months.push(m.clone());
    }
    let y: Vec<f64> = history.iter().map(|(_, v)| *v as f64).collect();
    let round = |v: f64| v.round() as i64;
    if n == 1 {
        return Ok(Forecast {
            method: "naive: the single observed month repeated",
            trend_cents_per_month: None,
            residual_sd_cents: None,
            points: months
                .into_iter()
                .map(|month| Point {
                    month,
                    net_cents: last.1,
                    lower_cents: None,
                    upper_cents: None,
                })
                .collect(),
        });
    }
    if n == 2 {
        let mean = (y[0] + y[1]) / 2.0;
        let (lo, hi) = (y[0].min(y[1]), y[0].max(y[1]));
        return Ok(Forecast {
            method: "mean of the 2 monthly nets; interval is the observed range",
            trend_cents_per_month: None,
            residual_sd_cents: None,
            points: months
                .into_iter()
                .map(|month| Point {
                    month,
                    net_cents: round(mean),
                    lower_cents: Some(round(lo)),
                    upper_cents: Some(round(hi)),
                })
                .collect(),
        });
    }
    let nf = n as f64;
    let t_mean = (nf - 1.0) / 2.0;
    let y_mean = y.iter().sum::<f64>() / nf;
    let stt: f64 = (0..n).map(|i| (i as f64 - t_mean).powi(2)).sum();
    let sty: f64 = (0..n).map(|i| (i as f64 - t_mean) * (y[i] - y_mean)).sum();
    let b = sty / stt;
    let a = y_mean - b * t_mean;
    let sse: f64 = (0..n).map(|i| (y[i] - (a + b * i as f64)).powi(2)).sum();
    let s = (sse / (nf - 2.0)).sqrt();
    let tq = t975(n - 2);
    let points = months
        .into_iter()
        .enumerate()
        .map(|(k, month)| {
            let t0 = (n + k) as f64;
            let yhat = a + b * t0;
            let half = tq * s * (1.0 + 1.0 / nf + (t0 - t_mean).powi(2) / stt).sqrt();
            Point {
                month,
                net_cents: round(yhat),
                lower_cents: Some(round(yhat - half)),
                upper_cents: Some(round(yhat + half)),
            }
        })
        .collect();
    Ok(Forecast {
        method: "ordinary least squares linear trend on monthly net cash flow, 95% prediction interval (Student t)",
        trend_cents_per_month: Some((b * 100.0).round() / 100.0),
        residual_sd_cents: Some((s * 100.0).round() / 100.0),
        points,
    })
}

/// The `forecast.result` payload for an `analysis.result` payload.
pub fn forecast_payload(analysis: &Value) -> Result<Value, String> {
    let monthly = analysis
        .get("monthly")
        .and_then(Value::as_array)
        .ok_or("analysis.result needs an array `monthly`")?;
    let history: Vec<(String, i64)> = monthly
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let month = m.get("month").and_then(Value::as_str);
            let net = m.get("net_cents").and_then(Value::as_i64);
            match (month, net) {
                (Some(month), Some(net)) => Ok((month.to_owned(), net)),
                _ => Err(format!(
                    "monthly[{i}] needs a string `month` and an integer `net_cents`"
                )),
            }
        })
        .collect::<Result<_, _>>()?;
    payload_for(
        &history,
        analysis.get("currency").cloned().unwrap_or(Value::Null),
    )
}

/// The assumptions the forecast from `months` of history rests on.
fn assumptions(months: usize) -> Vec<&'static str> {
    let mut assumptions = vec![
        "future months behave like the observed ones: same income sources, recurring bills and habits",
        "each calendar month in the statement is complete; a partial first or last month biases the fit",
        "one-off items (large purchases, bonuses) are not removed and widen the interval",
    ];
    if months >= 3 {
        assumptions.push("residuals are independent and roughly normal with constant variance");
    }
    if months < 6 {
        assumptions.push("fewer than 6 months of history: treat the forecast as indicative only");
    }
    assumptions
}

/// The `forecast.result` payload for a monthly history and the analysis currency.
fn payload_for(history: &[(String, i64)], currency: Value) -> Result<Value, String> {
    let f = forecast(history, 3)?;
    let assumptions = assumptions(history.len());
    Ok(json!({
        "method": f.method,
        "confidence": if history.len() >= 2 { json!(0.95) } else { Value::Null },
        "assumptions": assumptions,
        "history_months": history.len(),
        "history": history.iter().map(|(m, v)| json!({"month": m, "net_cents": v})).collect::<Vec<_>>(),
        "trend_cents_per_month": f.trend_cents_per_month,
        "residual_sd_cents": f.residual_sd_cents,
        "forecast": f.points.iter().map(|p| json!({"month": p.month, "net_cents": p.net_cents, "lower_cents": p.lower_cents, "upper_cents": p.upper_cents})).collect::<Vec<_>>(),
        "currency": currency,
    }))
}

/// The text of [`payload_for`], printed straight from borrowed structs: the
/// same bytes as `payload_for(history, currency)?.to_string()` (serde_json's own
/// number printing, keys in the sorted order a `Value` object prints them in).
/// Why: building the `Value` tree and printing it again cost more than the
/// forecast itself.
fn payload_text_for(history: &[(String, i64)], currency: &Value) -> Result<String, String> {
    let f = forecast(history, 3)?;
    let out = PayloadOut {
        assumptions: assumptions(history.len()),
        confidence: (history.len() >= 2).then_some(0.95),
        currency,
        forecast: f
            .points
            .iter()
            .map(|p| PointOut {
                lower_cents: p.lower_cents,
                month: &p.month,
                net_cents: p.net_cents,
                upper_cents: p.upper_cents,
            })
            .collect(),
        history: history
            .iter()
            .map(|(month, net_cents)| MonthOut {
                month,
                net_cents: *net_cents,
            })
            .collect(),
        history_months: history.len(),
        method: f.method,
        residual_sd_cents: f.residual_sd_cents,
        trend_cents_per_month: f.trend_cents_per_month,
    };
    serde_json::to_string(&out).map_err(|e| e.to_string())
}

/// [`payload_for`]'s object. The fields are declared in sorted order because a
/// `Value` object (a `BTreeMap`) prints its keys sorted and a derived
/// `Serialize` prints them in declaration order.
#[derive(Serialize)]
struct PayloadOut<'a> {
    assumptions: Vec<&'static str>,
    confidence: Option<f64>,
    currency: &'a Value,
    forecast: Vec<PointOut<'a>>,
    history: Vec<MonthOut<'a>>,
    history_months: usize,
    method: &'static str,
    residual_sd_cents: Option<f64>,
    trend_cents_per_month: Option<f64>,
}

#[derive(Serialize)]
struct PointOut<'a> {
    lower_cents: Option<i64>,
    month: &'a str,
    net_cents: i64,
    upper_cents: Option<i64>,
}

#[derive(Serialize)]
struct MonthOut<'a> {
    month: &'a str,
    net_cents: i64,
}

/// The fast path: reads only `monthly` (month and net) and `currency` from the
/// pipeline's `analysis.result`, checking and skipping the rest (the transaction
/// list) without building values for it, and prints the payload. Any payload it
/// cannot read that way gives `None` and goes to [`forecast_payload`], which
/// defines the behaviour and the errors; for payloads both read, the text is the
/// same (tests below).
pub fn forecast_text(payload: &str) -> Option<String> {
    // The transaction list is checked by bytes and cut off (see `tail`); a text
    // it cannot be cut from is read whole, as before.
    let head = tail::split(payload).map(|(head, _)| {
        let mut object = String::with_capacity(head.len() + 1);
        object.push_str(head);
        object.push('}');
        object
    });
    let text = head.as_deref().unwrap_or(payload);
    let Object(analysis) = serde_json::from_str::<Object<AnalysisIn>>(text).ok()?;
    let history: Vec<(String, i64)> = analysis
        .monthly
        .into_iter()
        .map(|Object(m)| (m.month.to_owned(), m.net_cents))
        .collect();
    payload_text_for(&history, &analysis.currency.unwrap_or(Value::Null)).ok()
}

/// The analyzer's fields; those the forecast does not read are checked and skipped.
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
    #[serde(borrow)]
    monthly: Vec<Object<MonthIn<'a>>>,
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
    #[serde(default)]
    #[allow(dead_code)]
    transactions: Skip,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MonthIn<'a> {
    #[serde(default)]
    #[allow(dead_code)]
    count: Skip,
    #[serde(default)]
    #[allow(dead_code)]
    expense_cents: Skip,
    #[serde(default)]
    #[allow(dead_code)]
    income_cents: Skip,
    month: &'a str,
    net_cents: i64,
}

struct Forecaster;

impl Agent for Forecaster {
    fn info() -> AgentInfo {
        AgentInfo::new("forecaster", "Cash-flow forecaster")
            .subscribes(["analysis.result"])
            .capabilities(["forecast"])
    }

    fn handle(msg: Message) -> Result<Vec<Message>, PluginError> {
        let out = match forecast_text(&msg.payload) {
            Some(out) => out,
            None => forecast_payload(&msg.json()?)
                .map_err(PluginError::InvalidInput)?
                .to_string(),
        };
        let mut reply = msg.reply("forecast.result", out);
        reply.metadata.retain(|(k, _)| k != "djinn-gather");
        Ok(vec![reply])
    }
}

djinn_sdk::export_agent!(Forecaster);

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &[i64]) -> Vec<(String, i64)> {
        v.iter()
            .enumerate()
            .map(|(i, x)| (format!("2024-{:02}", i + 7), *x))
            .collect()
    }

    #[test]
    fn months_roll_over_the_year() {
        assert_eq!(next_month("2024-11").unwrap(), "2024-12");
        assert_eq!(next_month("2024-12").unwrap(), "2025-01");
        assert!(next_month("2024-13").is_err());
    }

    #[test]
    fn a_perfect_line_is_extrapolated_with_a_zero_width_interval() {
        // 100, 200, 300 → 400, 500, 600 with zero residuals.
        let f = forecast(&h(&[100, 200, 300]), 3).unwrap();
        let nets: Vec<i64> = f.points.iter().map(|p| p.net_cents).collect();
        assert_eq!(nets, vec![400, 500, 600]);
        assert_eq!(f.points[0].lower_cents, Some(400));
        assert_eq!(f.points[0].month, "2024-10");
        assert_eq!(f.trend_cents_per_month, Some(100.0));
    }

    #[test]
    fn ols_interval_matches_a_hand_computation() {
        // y = 10, 14, 12, 18: t̄ = 1.5, Stt = 5, b = 2.2, a = 10.2, SSE = 10.8, s = √5.4,
        // t(0.975, 2) = 4.303. At t0 = 4: ŷ = 19.0, half = 4.303·√5.4·√(1 + 0.25 + 6.25/5) = 15.81.
        let f = forecast(&h(&[1000, 1400, 1200, 1800]), 1).unwrap();
        let p = &f.points[0];
        assert_eq!(p.net_cents, 1900);
        assert_eq!(p.lower_cents, Some(319));
        assert_eq!(p.upper_cents, Some(3481));
        assert_eq!(f.trend_cents_per_month, Some(220.0));
    }

    #[test]
    fn short_histories_use_simpler_methods() {
        let f = forecast(&h(&[500]), 3).unwrap();
        assert!(
            f.points
                .iter()
                .all(|p| p.net_cents == 500 && p.lower_cents.is_none())
        );
        let f = forecast(&h(&[100, 300]), 2).unwrap();
        assert_eq!(f.points[1].net_cents, 200);
        assert_eq!(
            (f.points[1].lower_cents, f.points[1].upper_cents),
            (Some(100), Some(300))
        );
        assert!(forecast(&[], 3).is_err());
    }

    #[test]
    fn payload_states_method_and_assumptions() {
        let a = json!({"currency": "INR", "monthly": [
            {"month": "2024-07", "net_cents": 100}, {"month": "2024-08", "net_cents": 200}, {"month": "2024-09", "net_cents": 300}]});
        let p = forecast_payload(&a).unwrap();
        assert!(p["method"].as_str().unwrap().contains("least squares"));
        assert!(p["assumptions"].as_array().unwrap().len() >= 3);
        assert_eq!(p["forecast"].as_array().unwrap().len(), 3);
        assert_eq!(p["forecast"][0]["month"], "2024-10");
        assert_eq!(p["confidence"], 0.95);
        assert!(forecast_payload(&json!({"monthly": [{"month": "x"}]})).is_err());
    }

    /// An `analysis.result` as the analyzer prints it, transaction list included.
    fn analysis(months: &[(&str, i64)]) -> Value {
        let monthly: Vec<Value> = months
            .iter()
            .map(|(m, n)| json!({"count": 3, "expense_cents": 10, "income_cents": n + 10, "month": m, "net_cents": n}))
            .collect();
        let transactions: Vec<Value> = (2..60)
            .map(|l| json!({"amount_cents": -l * 100, "category": "food_delivery", "date": "2024-07-01", "line": l, "merchant": "SWIGGY"}))
            .collect();
        json!({"category_totals": [], "currency": "INR", "expense_cents": 1, "income_cents": 2,
            "ingest_errors": [], "monthly": monthly, "net_cents": 1, "period": {"from": "2024-07-01", "months": months.len(), "to": "2024-10-30"},
            "question": "How am I doing?", "top_categories": [], "transaction_count": 58, "transactions": transactions})
    }

    #[test]
    fn fast_path_gives_the_value_paths_payload() {
        let months = [
            ("2024-07", 3_803_360),
            ("2024-08", 3_891_375),
            ("2024-09", -182_100),
            ("2024-10", -1_343_900),
        ];
        for n in 1..=months.len() {
            let mut a = analysis(&months[..n]);
            let fast = forecast_text(&a.to_string()).expect("the pipeline's shape");
            assert_eq!(fast.to_string(), forecast_payload(&a).unwrap().to_string());
            a["currency"] = Value::Null;
            let fast = forecast_text(&a.to_string()).unwrap();
            assert_eq!(fast.to_string(), forecast_payload(&a).unwrap().to_string());
            a.as_object_mut().unwrap().remove("currency");
            let fast = forecast_text(&a.to_string()).unwrap();
            assert_eq!(fast.to_string(), forecast_payload(&a).unwrap().to_string());
        }
    }

    /// A skipped field is still read as strictly as the `Value` path reads it, so
    /// what that path rejects as not JSON never passes the fast path.
    #[test]
    fn skipped_fields_are_still_checked() {
        let p = analysis(&[("2024-07", 1), ("2024-08", 2)]).to_string();
        assert!(forecast_text(&p).is_some());
        let first = r#""merchant":"SWIGGY""#;
        for bad in [r#""merchant":1e400"#, r#""merchant":"\ud800""#] {
            let text = p.replacen(first, bad, 1);
            assert_ne!(text, p);
            assert!(serde_json::from_str::<Value>(&text).is_err(), "{bad}");
            assert_eq!(forecast_text(&text), None, "{bad}");
        }
        let extra = p.replacen(r#""currency":"INR""#, r#""currency":"INR","note":1"#, 1);
        assert_ne!(extra, p);
        assert_eq!(
            forecast_text(&extra),
            None,
            "an unknown field takes the Value path"
        );
    }

    #[test]
    fn other_shapes_take_the_value_path() {
        for p in [
            json!({"monthly": []}),
            json!({"monthly": [{"month": "2024-07"}]}),
            json!({"monthly": [{"month": "x", "net_cents": 1}]}),
            json!({"monthly": [["2024-07", 1]]}),
            json!({"monthly": [{"month": "2024-07", "net_cents": 1.5}]}),
            json!({"currency": "INR"}),
            json!([{"monthly": []}]),
        ] {
            assert_eq!(forecast_text(&p.to_string()), None, "{p}");
        }
    }

    /// Whether the transaction list is cut off by bytes or read whole by serde,
    /// the payload is the `Value` path's, and a bad list is still refused.
    #[test]
    fn transaction_list_cut_or_read_whole_gives_the_same_payload() {
        let a = analysis(&[("2024-07", 1), ("2024-08", -2), ("2024-09", 7)]);
        let p = a.to_string();
        assert!(tail::split(&p).is_some(), "the analyzer's shape is cut");
        let want = forecast_payload(&a).unwrap().to_string();
        let texts = [
            p.clone(),
            // Not cut (a float, an escape `tail` refuses, spaces): read whole.
            p.replacen(r#""line":2,"#, r#""line":2.5,"#, 1),
            p.replacen(r#""SWIGGY""#, r#""SW\u0049GGY""#, 1),
            p.replacen(r#","transactions":"#, r#", "transactions": "#, 1),
            // The list first: nothing to cut at.
            p.replacen("{", r#"{"transactions":[],"#, 1).replacen(
                r#","transactions":[{"#,
                r#","transaction_list":[{"#,
                1,
            ),
        ];
        for text in &texts {
            if text.contains("transaction_list") {
                assert_eq!(forecast_text(text), None, "an unknown field");
                continue;
            }
            assert_eq!(
                forecast_text(text).as_deref(),
                Some(want.as_str()),
                "{text}"
            );
        }
        // A list the `Value` path rejects is rejected whether cut or not.
        for bad in [
            r#""merchant":1e400"#,
            r#""merchant":"\ud800""#,
            "\"merchant\":\"\u{1}\"",
        ] {
            let text = p.replacen(r#""merchant":"SWIGGY""#, bad, 1);
            assert!(serde_json::from_str::<Value>(&text).is_err(), "{bad}");
            assert_eq!(forecast_text(&text), None, "{bad}");
        }
        // The payload's own printer matches the `Value` path for every method.
        for n in [1, 2, 3, 6] {
            let hist = h(&(0..n).map(|i| i * 37 - 50).collect::<Vec<_>>());
            for currency in [json!("₹\"\n"), Value::Null, json!({"c": [1.5]})] {
                assert_eq!(
                    payload_text_for(&hist, &currency).unwrap(),
                    payload_for(&hist, currency).unwrap().to_string()
                );
            }
        }
    }
}
