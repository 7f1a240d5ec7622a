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

use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError};
use serde::Serialize;
use serde_json::Value;

mod print;
mod scan;

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

#[derive(Clone, Copy, Default)]
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

/// What the analysis found, before printing: [`render`] prints it with serde for
/// the `Value` path, [`print::analysis`] by hand for the fast path.
struct Summary<'a> {
    currency: &'a str,
    total: Sums,
    /// Largest expense first, then by name.
    categories: Vec<(&'a str, Sums)>,
    /// By month (`YYYY-MM`), earliest first.
    monthly: Vec<(&'a str, Sums)>,
    from: &'a str,
    to: &'a str,
    transaction_count: usize,
}

impl<'a> Summary<'a> {
    /// The (up to) three categories with the largest expense, with their share of
    /// all expense in percent.
    fn top(&self) -> impl Iterator<Item = (&'a str, i64, f64)> + '_ {
        self.categories
            .iter()
            .filter(|(_, s)| s.expense > 0)
            .take(3)
            .map(|(c, s)| (*c, s.expense, share_pct(s.expense, self.total.expense)))
    }
}

/// Sums `txs` (at least one, dates checked) by category and month; refuses mixed
/// currencies.
fn summarise<'a>(txs: &[Tx<'a>]) -> Result<Summary<'a>, String> {
    let currency = txs[0].currency;
    if let Some(other) = txs.iter().find(|t| t.currency != currency) {
        return Err(format!(
            "mixed currencies ({currency} and {} on line {}); convert before analysing",
            other.currency, other.line
        ));
    }
    // fuel: a statement has a dozen categories and a few months. A linear search
    // on `&str` equality and integer date keys cost a fraction of a `BTreeMap`'s
    // `memcmp` calls; the sort below gives the same order as before, since
    // category names are unique.
    let mut total = Sums::default();
    let mut categories: Vec<(&str, Sums)> = Vec::new();
    // By month key (`date_key >> 72`: the `YYYY-MM` bytes).
    let mut monthly: Vec<(u128, &str, Sums)> = Vec::new();
    let first = (date_key(txs[0].date), txs[0].date);
    let (mut from, mut to) = (first, first);
    for t in txs {
        total.add(t.amount_cents)?;
        let c = match categories.iter().position(|(c, _)| *c == t.category) {
            Some(c) => c,
            None => {
                categories.push((t.category, Sums::default()));
                categories.len() - 1
            }
        };
        categories[c].1.add(t.amount_cents)?;
        let day = (date_key(t.date), t.date);
        let m = match monthly.binary_search_by_key(&(day.0 >> 72), |m| m.0) {
            Ok(m) => m,
            Err(m) => {
                monthly.insert(m, (day.0 >> 72, &t.date[..7], Sums::default()));
                m
            }
        };
        monthly[m].2.add(t.amount_cents)?;
        // By key alone: equal keys are equal dates, so no string compare on ties.
        if day.0 < from.0 {
            from = day;
        }
        if day.0 > to.0 {
            to = day;
        }
    }
    categories.sort_by(|a, b| b.1.expense.cmp(&a.1.expense).then(a.0.cmp(b.0)));
    Ok(Summary {
        currency,
        total,
        categories,
        monthly: monthly.into_iter().map(|(_, m, s)| (m, s)).collect(),
        from: from.1,
        to: to.1,
        transaction_count: txs.len(),
    })
}

/// A checked (ten-byte) date as a number that orders as the text does.
fn date_key(date: &str) -> u128 {
    let mut key = [0u8; 16];
    for (k, b) in key.iter_mut().zip(date.as_bytes()) {
        *k = *b;
    }
    u128::from_be_bytes(key)
}

/// The analysis of `txs` (at least one), printed with `question`, the ingest
/// errors and each transaction's branch fields (JSON objects of them).
fn render(
    txs: &[Tx],
    question: &Value,
    ingest_errors: &Value,
    transactions: Vec<Value>,
) -> Result<String, String> {
    let s = summarise(txs)?;
    let out = Analysis {
        category_totals: s
            .categories
            .iter()
            .map(|(c, s)| CategoryTotal {
                category: c,
                count: s.count,
                expense_cents: s.expense,
                income_cents: s.income,
            })
            .collect(),
        currency: s.currency,
        expense_cents: s.total.expense,
        income_cents: s.total.income,
        ingest_errors,
        monthly: s
            .monthly
            .iter()
            .map(|(m, s)| MonthTotal {
                count: s.count,
                expense_cents: s.expense,
                income_cents: s.income,
                month: m,
                net_cents: s.income - s.expense,
            })
            .collect(),
        net_cents: s.total.income - s.total.expense,
        period: Period {
            from: s.from,
            months: s.monthly.len(),
            to: s.to,
        },
        question,
        top_categories: s
            .top()
            .map(|(category, expense_cents, share_pct)| TopCategory {
                category,
                expense_cents,
                share_pct,
            })
            .collect(),
        transaction_count: s.transaction_count,
        transactions,
    };
    serde_json::to_string(&out).map_err(|e| format!("printing analysis.result: {e}"))
}

// The payload's parts. Fields are in sorted key order, as a `serde_json::Value`
// map prints them (the payload was first built as one), so the bytes are the same.

#[derive(Serialize)]
struct Analysis<'a> {
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
    transactions: Vec<Value>,
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

/// The fast path: the pipeline's own `transactions.enriched` text (see
/// [`scan::enriched`] for exactly which) read without serde and the result printed
/// by hand. Any other payload, or one the analysis refuses, gives `None` and goes
/// to [`analyze`], which defines the behaviour (and its errors); for the payloads
/// read here both print the same bytes.
pub fn analyze_text(payload: &str) -> Option<String> {
    let enriched = scan::enriched(payload)?;
    for (i, t) in enriched.txs.iter().enumerate() {
        check_date(i, t.date).ok()?;
    }
    let summary = summarise(&enriched.txs).ok()?;
    print::analysis(&summary, &enriched)
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

    /// The fast path on `text`: when it answers, the text is JSON and the `Value`
    /// path prints the same bytes for it.
    fn agrees(text: &str) -> Option<String> {
        let fast = analyze_text(text)?;
        let v: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("fast path read a text that is not JSON ({e}): {text}"));
        let slow = analyze(&v).unwrap_or_else(|e| panic!("fast path read what {e}: {text}"));
        assert_eq!(fast, slow, "{text}");
        Some(fast)
    }

    const ONE_TX: &str = r#"{"account":"a","amount_cents":-1500,"category":"food","category_source":"s","currency":"INR","date":"2024-01-02","description":"d","line":3,"merchant":"M","type":"debit"}"#;

    fn payload_with(tx: &str) -> String {
        format!(r#"{{"question":"q","transactions":[{ONE_TX},{tx}]}}"#)
    }

    #[test]
    fn fast_path_reads_keys_in_any_order_and_optional_fields() {
        let text = r#"{"transactions":[{"merchant":"Zoë 東京","line":7,"date":"2024-03-09","currency":"EUR","category":"Café 🚀","amount_cents":0},{"type":"credit","amount_cents":120000,"line":8,"date":"2024-02-01","merchant":"ACME","category":"salary","currency":"EUR"}],"errors":null,"question":{"text":"How?","n":[1,2.5,-0]}}"#;
        let out = agrees(text).expect("the enricher's fields in another order");
        assert!(out.contains(r#""merchant":"Zoë 東京""#), "{out}");
        assert!(out.contains(r#""ingest_errors":null,"#), "{out}");
        let minimal = r#"{"amount_cents":5,"category":"food","currency":"INR","date":"2024-01-03","line":4,"merchant":"M"}"#;
        assert!(agrees(&payload_with(minimal)).is_some());
    }

    #[test]
    fn short_escapes_in_skipped_fields_are_read() {
        for description in [r#"a\"b"#, r#"c:\\d"#, r#"e\/f"#, r#"\b\f\n\r\t"#, r#"\\"#] {
            let tx = ONE_TX.replace(
                r#""description":"d""#,
                &format!(r#""description":"{description}""#),
            );
            assert!(agrees(&payload_with(&tx)).is_some(), "{description}");
        }
        let text = r#"{"errors":[{"line":2,"message":"a \"b\" \u00e9"}],"question":"Wie geht\u0027s?","transactions":[TX]}"#;
        let out = agrees(&text.replace("TX", ONE_TX)).expect("errors and question are any JSON");
        assert!(out.contains(r#""message":"a \"b\" é""#), "{out}");
    }

    #[test]
    fn text_the_fast_path_is_unsure_of_takes_the_value_path() {
        let tx = |from: &str, to: &str| {
            let t = ONE_TX.replacen(from, to, 1);
            assert_ne!(t, ONE_TX, "{from}");
            payload_with(&t)
        };
        let whole = payload_with(ONE_TX);
        let cases = [
            // numbers serde_json reads otherwise, or that are not JSON
            tx(r#""line":3"#, r#""line":-0"#),
            tx(r#""line":3"#, r#""line":03"#),
            tx(r#""line":3"#, r#""line":3.0"#),
            tx(r#""line":3"#, r#""line":3e0"#),
            tx(r#""line":3"#, r#""line":-"#),
            tx(r#""amount_cents":-1500"#, r#""amount_cents":-0"#),
            tx(
                r#""amount_cents":-1500"#,
                r#""amount_cents":1234567890123456789"#,
            ),
            tx(
                r#""amount_cents":-1500"#,
                r#""amount_cents":99999999999999999999"#,
            ),
            // strings printed from the input must need no escaping
            tx(r#""merchant":"M""#, r#""merchant":"M\"""#),
            tx(r#""merchant":"M""#, r#""merchant":"\u004d""#),
            tx(r#""merchant":"M""#, "\"merchant\":\"M\t\""),
            tx(r#""category":"food""#, r#""category":"fo\/od""#),
            // skipped strings: `\u` escapes, bad escapes, raw control characters, non-strings
            tx(r#""description":"d""#, r#""description":"\u00e9""#),
            tx(r#""description":"d""#, r#""description":"\ud800""#),
            tx(r#""description":"d""#, r#""description":"\x""#),
            tx(r#""description":"d""#, "\"description\":\"\n\""),
            tx(r#""account":"a""#, r#""account":1"#),
            tx(r#""account":"a""#, r#""account":null"#),
            // duplicate, unknown and missing keys
            tx(r#""line":3"#, r#""line":3,"line":4"#),
            tx(r#""line":3"#, r#""line":3,"note":"x""#),
            tx(r#""line":3,"#, ""),
            tx(r#""merchant":"M","#, ""),
            tx(r#""li"#, r#""l\u0069"#),
            // whitespace anywhere
            tx(r#""line":3"#, r#""line": 3"#),
            tx(r#""line":3"#, r#""line" :3"#),
            format!(" {whole}"),
            format!("{whole}\n"),
            whole.replace(r#""question":"q""#, r#""question":"q","question":"r""#),
            whole.replace(r#""question":"q""#, r#""questions":"q""#),
            r#"{"question":"q"}"#.to_owned(),
            r#"{"transactions":{}}"#.to_owned(),
            r#"{"transactions":[]}"#.to_owned(),
            "{}".to_owned(),
            String::new(),
        ];
        for text in cases {
            assert_eq!(analyze_text(&text), None, "{text}");
        }
    }

    #[test]
    fn deep_errors_take_the_value_path() {
        let nested = |depth: usize| {
            let text = format!(
                r#"{{"errors":{}{},"transactions":[{ONE_TX}]}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            );
            agrees(&text)
        };
        assert!(nested(10).is_some());
        // 126 is the deepest the Value path reads inside the payload, 127 it refuses
        for depth in [126, 127, 200] {
            assert_eq!(nested(depth), None, "{depth}");
        }
    }

    /// Every one-byte change, deletion and truncation of a small payload: the fast
    /// path may decline, but never disagrees with the `Value` path.
    #[test]
    fn no_small_edit_makes_the_paths_disagree() {
        let second = ONE_TX
            .replace("-1500", "20000")
            .replace(r#""d""#, r#""x\"y""#);
        let text = format!(
            r#"{{"errors":[{{"line":9,"message":"m"}}],"question":"q","transactions":[{ONE_TX},{second}]}}"#
        );
        assert!(agrees(&text).is_some());
        let bytes = text.as_bytes();
        let mut read = 0;
        for i in 0..bytes.len() {
            for b in *b"\"\\,:{}[]0-9a .eEu\t/" {
                let mut edited = bytes.to_vec();
                edited[i] = b;
                read += usize::from(agrees(std::str::from_utf8(&edited).unwrap()).is_some());
            }
            let mut deleted = bytes.to_vec();
            deleted.remove(i);
            agrees(std::str::from_utf8(&deleted).unwrap());
            agrees(&text[..i]);
        }
        // plenty of edits stay in the shape the fast path reads
        assert!(read > 100, "{read}");
    }
}
