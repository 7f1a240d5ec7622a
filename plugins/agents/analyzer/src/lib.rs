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

use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError};
use serde_json::{Value, json};

/// The fields of one transaction the analysis needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Tx {
    pub line: i64,
    pub date: String,
    pub amount_cents: i64,
    pub category: String,
    pub currency: String,
}

/// Reads the analysis fields from a transaction object, naming what is missing.
pub fn read_tx(i: usize, v: &Value) -> Result<Tx, String> {
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("transactions[{i}] has no string `{k}`"))
    };
    let date = s("date")?;
    if date.len() != 10 || date.as_bytes()[4] != b'-' || date.as_bytes()[7] != b'-' {
        return Err(format!("transactions[{i}].date `{date}` is not YYYY-MM-DD"));
    }
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

/// The `analysis.result` payload for a `transactions.enriched` payload.
pub fn analyze(payload: &Value) -> Result<Value, String> {
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
    let currency = txs[0].currency.clone();
    if let Some(other) = txs.iter().find(|t| t.currency != currency) {
        return Err(format!(
            "mixed currencies ({currency} and {} on line {}); convert before analysing",
            other.currency, other.line
        ));
    }
    let mut total = Sums::default();
    let mut by_category: BTreeMap<&str, Sums> = BTreeMap::new();
    let mut by_month: BTreeMap<&str, Sums> = BTreeMap::new();
    for t in &txs {
        total.add(t.amount_cents)?;
        by_category
            .entry(&t.category)
            .or_default()
            .add(t.amount_cents)?;
        by_month
            .entry(&t.date[..7])
            .or_default()
            .add(t.amount_cents)?;
    }
    let mut categories: Vec<(&str, &Sums)> = by_category.iter().map(|(k, v)| (*k, v)).collect();
    categories.sort_by(|a, b| b.1.expense.cmp(&a.1.expense).then(a.0.cmp(b.0)));
    let category_totals: Vec<Value> = categories
        .iter()
        .map(|(c, s)| {
            json!({"category": c, "expense_cents": s.expense, "income_cents": s.income, "count": s.count})
        })
        .collect();
    let top_categories: Vec<Value> = categories
        .iter()
        .filter(|(_, s)| s.expense > 0)
        .take(3)
        .map(|(c, s)| {
            json!({"category": c, "expense_cents": s.expense, "share_pct": share_pct(s.expense, total.expense)})
        })
        .collect();
    let monthly: Vec<Value> = by_month
        .iter()
        .map(|(m, s)| {
            json!({"month": m, "income_cents": s.income, "expense_cents": s.expense, "net_cents": s.income - s.expense, "count": s.count})
        })
        .collect();
    let from = txs
        .iter()
        .map(|t| t.date.as_str())
        .min()
        .unwrap_or_default();
    let to = txs
        .iter()
        .map(|t| t.date.as_str())
        .max()
        .unwrap_or_default();
    Ok(json!({
        "question": payload.get("question").cloned().unwrap_or(Value::Null),
        "currency": currency,
        "transaction_count": txs.len(),
        "period": {"from": from, "to": to, "months": monthly.len()},
        "income_cents": total.income,
        "expense_cents": total.expense,
        "net_cents": total.income - total.expense,
        "category_totals": category_totals,
        "top_categories": top_categories,
        "monthly": monthly,
        "ingest_errors": payload.get("errors").cloned().unwrap_or_else(|| json!([])),
        "transactions": raw.iter().map(branch_fields).collect::<Vec<_>>(),
    }))
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

struct Analyzer;

impl Agent for Analyzer {
    fn info() -> AgentInfo {
        AgentInfo::new("analyzer", "Statement analyzer")
            .subscribes(["transactions.enriched"])
            .capabilities(["analyze"])
    }

    fn handle(msg: Message) -> Result<Vec<Message>, PluginError> {
        let out = analyze(&msg.json()?).map_err(PluginError::InvalidInput)?;
        Ok(vec![
            msg.reply("analysis.result", out.to_string())
                .with_meta("djinn-gather", "analysis.gathered"),
        ])
    }
}

djinn_sdk::export_agent!(Analyzer);

#[cfg(test)]
mod tests {
    use super::*;

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
        let a = analyze(&p).unwrap();
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
}
