//! Summarises enriched transactions (`transactions.enriched` → one `analysis.result`).
//!
//! Genie's analyzer sent four addressed copies of its result and the supervisor
//! kept a session map (never evicted) to collect the three specialists' answers.
//! Here the analyzer sends ONE message marked `djinn-gather = analysis.gathered`;
//! the bus fans it out to every `analysis.result` subscriber and delivers one
//! gathered message, with failures named, when all have answered or the deadline
//! passes. No agent keeps state between calls.
//!
//! All sums are integer minor units; amounts in different currencies are refused
//! rather than added.

use std::collections::BTreeMap;

use djinn_sdk::json::{Object, Skip};
use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The fields of one transaction the analysis needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Tx<'a> {
    pub line: i64,
    pub date: &'a str,
    pub amount_cents: i64,
    pub category: &'a str,
    pub currency: &'a str,
}

fn check_date(i: usize, date: &str) -> Result<(), String> {
    if date.len() != 10 || date.as_bytes()[4] != b'-' || date.as_bytes()[7] != b'-' {
        return Err(format!("transactions[{i}].date `{date}` is not YYYY-MM-DD"));
    }
    Ok(())
}

/// Reads the analysis fields from a transaction object, naming what is missing.
pub fn read_tx(i: usize, v: &Value) -> Result<Tx<'_>, String> {
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("transactions[{i}] has no string `{k}`"))
    };
    let date = s("date")?;
    check_date(i, date)?;
    Ok(Tx {
        line: v.get("line").and_then(Value::as_i64).unwrap_or(0),
        date,
        amount_cents: v
            .get("amount_cents")
            .and_then(Value::as_i64)
            .ok_or_else(|| format!("transactions[{i}] has no integer `amount_cents`"))?,
        category: s("category")?,
        currency: s("currency")?,
    })
}

#[derive(Default)]
struct Sums {
    income: i64,
    expense: i64,
    count: u64,
}

impl Sums {
    fn add(&mut self, amount: i64) -> Result<(), String> {
        let overflow = || "amounts overflow a 64-bit sum".to_owned();
        if amount >= 0 {
            self.income = self.income.checked_add(amount).ok_or_else(overflow)?;
        } else {
            self.expense = self.expense.checked_sub(amount).ok_or_else(overflow)?;
        }
        self.count += 1;
        Ok(())
    }
}

/// Share of `part` in `whole` as a percentage with one decimal (for display only).
fn share_pct(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        ((part as f64 / whole as f64) * 1000.0).round() / 10.0
    }
}

/// The `analysis.result` payload (JSON text) for a `transactions.enriched` payload.
pub fn analyze(payload: &Value) -> Result<String, String> {
    let raw = payload
        .get("transactions")
        .and_then(Value::as_array)
        .ok_or("transactions.enriched needs an array `transactions`")?;
    if raw.is_empty() {
        return Err("transactions.enriched has no transactions to analyse".into());
    }
    let txs: Vec<Tx> = raw
        .iter()
        .enumerate()
        .map(|(i, v)| read_tx(i, v))
        .collect::<Result<_, _>>()?;
    let no_errors = Value::Array(Vec::new());
    render(
        &txs,
        payload.get("question").unwrap_or(&Value::Null),
        payload.get("errors").unwrap_or(&no_errors),
        raw.iter().map(branch_fields).collect(),
    )
}

/// The analysis of `txs` (at least one), printed with `question`, the ingest
/// errors and each transaction's branch fields (`T`: a JSON object of them, or
/// [`BranchTx`]).
fn render<T: Serialize>(
    txs: &[Tx],
    question: &Value,
    ingest_errors: &Value,
    transactions: Vec<T>,
) -> Result<String, String> {
    let currency = txs[0].currency;
    if let Some(other) = txs.iter().find(|t| t.currency != currency) {
        return Err(format!(
            "mixed currencies ({currency} and {} on line {}); convert before analysing",
            other.currency, other.line
        ));
    }
    let mut total = Sums::default();
    let mut by_category: BTreeMap<&str, Sums> = BTreeMap::new();
    let mut by_month: BTreeMap<&str, Sums> = BTreeMap::new();
    for t in txs {
        total.add(t.amount_cents)?;
        by_category
            .entry(t.category)
            .or_default()
            .add(t.amount_cents)?;
        by_month
            .entry(&t.date[..7])
            .or_default()
            .add(t.amount_cents)?;
    }
    let mut categories: Vec<(&str, &Sums)> = by_category.iter().map(|(k, v)| (*k, v)).collect();
    categories.sort_by(|a, b| b.1.expense.cmp(&a.1.expense).then(a.0.cmp(b.0)));
    let monthly: Vec<MonthTotal> = by_month
        .iter()
        .map(|(m, s)| MonthTotal {
            count: s.count,
            expense_cents: s.expense,
            income_cents: s.income,
            month: m,
            net_cents: s.income - s.expense,
        })
        .collect();
    let out = Analysis {
        category_totals: categories
            .iter()
            .map(|(c, s)| CategoryTotal {
                category: c,
                count: s.count,
                expense_cents: s.expense,
                income_cents: s.income,
            })
            .collect(),
        currency,
        expense_cents: total.expense,
        income_cents: total.income,
        ingest_errors,
        period: Period {
            from: txs.iter().map(|t| t.date).min().unwrap_or_default(),
            months: monthly.len(),
            to: txs.iter().map(|t| t.date).max().unwrap_or_default(),
        },
        monthly,
        net_cents: total.income - total.expense,
        question,
        top_categories: categories
            .iter()
            .filter(|(_, s)| s.expense > 0)
            .take(3)
            .map(|(c, s)| TopCategory {
                category: c,
                expense_cents: s.expense,
                share_pct: share_pct(s.expense, total.expense),
            })
            .collect(),
        transaction_count: txs.len(),
        transactions,
    };
    serde_json::to_string(&out).map_err(|e| format!("printing analysis.result: {e}"))
}

// The payload's parts. Fields are in sorted key order, as a `serde_json::Value`
// map prints them (the payload was first built as one), so the bytes are the same.

#[derive(Serialize)]
struct Analysis<'a, T> {
    category_totals: Vec<CategoryTotal<'a>>,
    currency: &'a str,
    expense_cents: i64,
    income_cents: i64,
    ingest_errors: &'a Value,
    monthly: Vec<MonthTotal<'a>>,
    net_cents: i64,
    period: Period<'a>,
    question: &'a Value,
    top_categories: Vec<TopCategory<'a>>,
    transaction_count: usize,
    transactions: Vec<T>,
}

#[derive(Serialize)]
struct CategoryTotal<'a> {
    category: &'a str,
    count: u64,
    expense_cents: i64,
    income_cents: i64,
}

#[derive(Serialize)]
struct MonthTotal<'a> {
    count: u64,
    expense_cents: i64,
    income_cents: i64,
    month: &'a str,
    net_cents: i64,
}

#[derive(Serialize)]
struct Period<'a> {
    from: &'a str,
    months: usize,
    to: &'a str,
}

#[derive(Serialize)]
struct TopCategory<'a> {
    category: &'a str,
    expense_cents: i64,
    share_pct: f64,
}

/// The transaction fields the analysis branches read (`anomaly-detector`,
/// `recommender`). Only these travel on: `analysis.result` goes to every branch and
/// on into `analysis.gathered`, and every policy reads every byte at every hop, so
/// the statement's descriptions, accounts and types stop here.
pub const BRANCH_FIELDS: [&str; 5] = ["line", "date", "merchant", "category", "amount_cents"];

fn branch_fields(t: &Value) -> Value {
    Value::Object(
        BRANCH_FIELDS
            .iter()
            .filter_map(|k| Some((k.to_string(), t.get(*k)?.clone())))
            .collect(),
    )
}

/// [`BRANCH_FIELDS`] of one transaction, in sorted key order.
#[derive(Serialize)]
struct BranchTx<'a> {
    amount_cents: i64,
    category: &'a str,
    date: &'a str,
    line: i64,
    merchant: &'a str,
}

/// The fast path: the pipeline's own `transactions.enriched` shape (the enricher's
/// fields only, strings without escapes, integer `line` and `amount_cents`) read
/// into borrowed structs, fields the analysis does not read checked and skipped. Any
/// other payload gives `None` and goes to [`analyze`], which defines the
/// behaviour (and its errors); for this shape both print the same bytes.
pub fn analyze_text(payload: &str) -> Option<String> {
    let Object(enriched) = serde_json::from_str::<Object<EnrichedIn>>(payload).ok()?;
    if enriched.transactions.is_empty() {
        return None;
    }
    let mut txs = Vec::with_capacity(enriched.transactions.len());
    for (i, Object(t)) in enriched.transactions.iter().enumerate() {
        check_date(i, t.date).ok()?;
        txs.push(Tx {
            line: t.line,
            date: t.date,
            amount_cents: t.amount_cents,
            category: t.category,
            currency: t.currency,
        });
    }
    let no_errors = Value::Array(Vec::new());
    render(
        &txs,
        enriched.question.as_ref().unwrap_or(&Value::Null),
        enriched.errors.as_ref().unwrap_or(&no_errors),
        enriched
            .transactions
            .iter()
            .map(|Object(t)| BranchTx {
                amount_cents: t.amount_cents,
                category: t.category,
                date: t.date,
                line: t.line,
                merchant: t.merchant,
            })
            .collect(),
    )
    .ok()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrichedIn<'a> {
    #[serde(default, deserialize_with = "present")]
    errors: Option<Value>,
    #[serde(default)]
    question: Option<Value>,
    #[serde(borrow)]
    transactions: Vec<Object<EnrichedTx<'a>>>,
}

/// The enricher's fields; those the analysis does not read are checked and skipped.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrichedTx<'a> {
    #[serde(default)]
    #[allow(dead_code)]
    account: Skip,
    amount_cents: i64,
    category: &'a str,
    #[serde(default)]
    #[allow(dead_code)]
    category_source: Skip,
    currency: &'a str,
    date: &'a str,
    #[serde(default)]
    #[allow(dead_code)]
    description: Skip,
    line: i64,
    merchant: &'a str,
    #[serde(default, rename = "type")]
    #[allow(dead_code)]
    kind: Skip,
}

/// For an optional field that, when given, must be a `T`: `null` is an error here
/// (so the `Value` path decides), where `Option`'s own impl reads it as absent.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

struct Analyzer;

impl Agent for Analyzer {
    fn info() -> AgentInfo {
        AgentInfo::new("analyzer", "Statement analyzer")
            .subscribes(["transactions.enriched"])
            .capabilities(["analyze"])
    }

    fn handle(msg: Message) -> Result<Vec<Message>, PluginError> {
        let out = match analyze_text(&msg.payload) {
            Some(text) => text,
            None => analyze(&msg.json()?).map_err(PluginError::InvalidInput)?,
        };
        Ok(vec![
            msg.reply("analysis.result", out)
                .with_meta("djinn-gather", "analysis.gathered"),
        ])
    }
}

djinn_sdk::export_agent!(Analyzer);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tx(line: i64, date: &str, cents: i64, cat: &str) -> Value {
        json!({"line": line, "date": date, "amount_cents": cents, "category": cat, "currency": "INR", "merchant": "M", "description": "d", "type": if cents < 0 {"debit"} else {"credit"}})
    }

    #[test]
    fn totals_categories_and_months_are_exact() {
        let p = json!({"transactions": [
            tx(2, "2024-01-01", 5_000_000, "salary"),
            tx(3, "2024-01-02", -2_000_000, "rent"),
            tx(4, "2024-01-05", -30_010, "food_delivery"),
            tx(5, "2024-02-01", 5_000_000, "salary"),
            tx(6, "2024-02-02", -2_000_000, "rent"),
            tx(7, "2024-02-09", -150_000, "groceries"),
            tx(8, "2024-02-10", -10_000, "fuel"),
        ], "errors": [{"line": 9, "message": "bad"}], "question": "q"});
        let a: Value = serde_json::from_str(&analyze(&p).unwrap()).unwrap();
        assert_eq!(a["income_cents"], 10_000_000);
        assert_eq!(a["expense_cents"], 4_190_010);
        assert_eq!(a["net_cents"], 5_809_990);
        assert_eq!(a["transaction_count"], 7);
        assert_eq!(a["currency"], "INR");
        assert_eq!(a["period"]["from"], "2024-01-01");
        assert_eq!(a["period"]["to"], "2024-02-10");
        let top: Vec<&str> = a["top_categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["category"].as_str().unwrap())
            .collect();
        assert_eq!(top, vec!["rent", "groceries", "food_delivery"]);
        assert_eq!(a["top_categories"][0]["share_pct"], 95.5);
        assert_eq!(a["monthly"][0]["month"], "2024-01");
        assert_eq!(a["monthly"][0]["net_cents"], 2_969_990);
        assert_eq!(a["monthly"][1]["expense_cents"], 2_160_000);
        assert_eq!(a["ingest_errors"][0]["line"], 9);
        assert_eq!(a["transactions"].as_array().unwrap().len(), 7);
        assert_eq!(
            a["transactions"][1],
            json!({"line": 3, "date": "2024-01-02", "merchant": "M", "category": "rent", "amount_cents": -2_000_000})
        );
        // salary is income only and sorts after the expense categories
        let salary = a["category_totals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["category"] == "salary")
            .unwrap();
        assert_eq!(salary["income_cents"], 10_000_000);
        assert_eq!(salary["expense_cents"], 0);
    }

    #[test]
    fn refuses_mixed_currencies_and_bad_rows() {
        let mut usd = tx(3, "2024-01-02", -1, "x");
        usd["currency"] = json!("USD");
        let e = analyze(&json!({"transactions": [tx(2, "2024-01-01", 1, "x"), usd]})).unwrap_err();
        assert!(e.contains("line 3"), "{e}");
        assert!(analyze(&json!({"transactions": []})).is_err());
        assert!(analyze(&json!({"transactions": [{"date": "2024-01-01"}]})).is_err());
        let mut bad_date = tx(2, "01/02/2024", 1, "x");
        bad_date["date"] = json!("01/02/2024");
        assert!(analyze(&json!({"transactions": [bad_date]})).is_err());
    }

    /// The fast path prints exactly what the `Value` path prints, or declines.
    fn same_as_value_path(payload: &Value) -> Option<String> {
        let text = payload.to_string();
        let fast = analyze_text(&text);
        if let Some(fast) = &fast {
            assert_eq!(fast, &analyze(payload).unwrap());
        }
        fast
    }

    fn statement() -> Value {
        let mut txs = Vec::new();
        for (i, row) in include_str!("../../../../examples/statement.csv")
            .lines()
            .skip(1)
            .enumerate()
        {
            let f: Vec<&str> = row.split(',').collect();
            let Ok(amount) = f[2].replace('.', "").parse::<i64>() else {
                continue;
            };
            let cents = if f[3] == "debit" { -amount } else { amount };
            let cat = if f[4].is_empty() {
                "uncategorized"
            } else {
                f[4]
            };
            let mut t = tx(i as i64 + 2, f[0], cents, cat);
            t["merchant"] = json!(f[1].split(['/', ' ']).next().unwrap());
            t["category_source"] = json!("default");
            t["account"] = json!("default");
            txs.push(t);
        }
        assert!(txs.len() > 40);
        txs.push(tx(99, "2024-11-01", -1, "Café 🚀"));
        json!({"transactions": txs, "errors": [{"line": 28, "message": "bad"}], "question": "How am I doing?"})
    }

    #[test]
    fn fast_path_prints_the_value_paths_bytes() {
        let mut p = statement();
        let text = same_as_value_path(&p).expect("the pipeline's shape");
        // printed as a `serde_json::Value` prints it: keys sorted, no spaces
        assert_eq!(
            text,
            serde_json::from_str::<Value>(&text).unwrap().to_string()
        );
        p["question"] = Value::Null;
        assert!(same_as_value_path(&p).is_some());
        p.as_object_mut().unwrap().remove("question");
        p.as_object_mut().unwrap().remove("errors");
        assert!(
            same_as_value_path(&p)
                .unwrap()
                .contains(r#""ingest_errors":[],"#)
        );
        p["errors"] = Value::Null;
        assert!(
            same_as_value_path(&p)
                .unwrap()
                .contains(r#""ingest_errors":null,"#)
        );
    }

    /// A skipped field is still read as strictly as the `Value` path reads it, so
    /// what that path rejects as not JSON never passes the fast path.
    #[test]
    fn skipped_fields_are_still_checked() {
        let p = statement().to_string();
        assert!(analyze_text(&p).is_some());
        let first = r#""account":"default""#;
        for bad in [r#""account":1e400"#, r#""account":"\ud800""#] {
            let text = p.replacen(first, bad, 1);
            assert_ne!(text, p);
            assert!(serde_json::from_str::<Value>(&text).is_err(), "{bad}");
            assert_eq!(analyze_text(&text), None, "{bad}");
        }
        let extra = p.replacen(first, r#""account":"default","note":1"#, 1);
        assert_eq!(
            analyze_text(&extra),
            None,
            "an unknown field takes the Value path"
        );
    }

    #[test]
    fn other_shapes_and_errors_take_the_value_path() {
        let good = tx(2, "2024-01-01", 1, "x");
        let with = |k: &str, v: Value| {
            let mut t = good.clone();
            match v {
                Value::Null => drop(t.as_object_mut().unwrap().remove(k)),
                v => t[k] = v,
            }
            t
        };
        let cases = [
            json!({"transactions": []}),
            json!({"transactions": [{"date": "2024-01-01"}]}),
            json!({"transactions": [with("date", json!("01/02/2024"))]}),
            json!({"transactions": [good, with("currency", json!("USD"))]}),
            json!({"transactions": [with("line", json!("2"))]}),
            json!({"transactions": [with("merchant", Value::Null)]}),
            json!({"transactions": [with("merchant", json!("A\"B"))]}),
            json!({"transactions": [[1, "x", "INR", "2024-01-01", 2, "M"]]}),
            json!([good]),
        ];
        for p in cases {
            assert_eq!(analyze_text(&p.to_string()), None, "{p}");
        }
    }
}
