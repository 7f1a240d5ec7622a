//! Gives each transaction a category (`transactions.normalized` → `transactions.enriched`).
//!
//! The merchant → category table lives in the manifest (`config.merchant_categories`,
//! a JSON object), so operators extend it without rebuilding the component. A
//! category already present in the CSV always wins: the account holder knows better
//! than a lookup table. Every transaction says where its category came from.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use djinn_sdk::json::Object;
use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError, config};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Upper-cased merchant (or merchant prefix) → lower-case category.
pub type Table = BTreeMap<String, String>;

/// Parses the config value: a JSON object of merchant → category strings.
pub fn parse_table(json: &str) -> Result<Table, String> {
    let raw: BTreeMap<String, String> = serde_json::from_str(json).map_err(|e| {
        format!("config `merchant_categories` must be a JSON object of strings: {e}")
    })?;
    Ok(raw
        .into_iter()
        .map(|(k, v)| (k.trim().to_uppercase(), v.trim().to_lowercase()))
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .collect())
}

/// The category for a merchant: an exact entry, else the entry for its first token.
pub fn lookup<'a>(table: &'a Table, merchant: &str) -> Option<&'a str> {
    let m = merchant.trim().to_uppercase();
    table
        .get(&m)
        .or_else(|| {
            m.split_whitespace()
                .next()
                .and_then(|first| table.get(first))
        })
        .map(String::as_str)
}

/// The `transactions.enriched` payload: each transaction gets `category` and
/// `category_source` (`statement`, `merchant_table` or `default`).
pub fn enrich(mut payload: Value, table: &Table) -> Result<Value, String> {
    let txs = payload
        .get_mut("transactions")
        .and_then(Value::as_array_mut)
        .ok_or("transactions.normalized needs an array `transactions`")?;
    for (i, t) in txs.iter_mut().enumerate() {
        let obj = t
            .as_object_mut()
            .ok_or_else(|| format!("transactions[{i}] is not an object"))?;
        let existing = obj
            .get("category")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_lowercase);
        let merchant = obj
            .get("merchant")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("transactions[{i}] has no string `merchant`"))?;
        let (category, source) = match existing {
            Some(c) => (c, "statement"),
            None => match lookup(table, merchant) {
                Some(c) => (c.to_owned(), "merchant_table"),
                None => ("uncategorized".to_owned(), "default"),
            },
        };
        obj.insert("category".into(), Value::String(category));
        obj.insert("category_source".into(), Value::String(source.into()));
    }
    Ok(payload)
}

/// The fast path: the pipeline's own `transactions.normalized` shape (the
/// normalizer's fields, strings without escapes, integer `line` and
/// `amount_cents`) read into borrowed structs and printed without a JSON tree. Any
/// other payload, including one with extra fields or `null`s, gives `None` and
/// goes to [`enrich`], which defines the behaviour; for this shape both print the
/// same bytes (tests below).
pub fn enrich_text(payload: &str, table: &Table) -> Option<String> {
    let Object(normalized) = serde_json::from_str::<Object<NormalizedIn>>(payload).ok()?;
    let out = EnrichedOut {
        errors: normalized.errors,
        question: normalized.question,
        transactions: normalized
            .transactions
            .into_iter()
            .map(|Object(t)| {
                let existing = t
                    .category
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_lowercase);
                let (category, category_source) = match existing {
                    Some(c) => (Cow::Owned(c), "statement"),
                    None => match lookup(table, t.merchant) {
                        Some(c) => (Cow::Borrowed(c), "merchant_table"),
                        None => (Cow::Borrowed("uncategorized"), "default"),
                    },
                };
                EnrichedTx {
                    account: t.account,
                    amount_cents: t.amount_cents,
                    category,
                    category_source,
                    currency: t.currency,
                    date: t.date,
                    description: t.description,
                    line: t.line,
                    merchant: t.merchant,
                    kind: t.kind,
                }
            })
            .collect(),
    };
    serde_json::to_string(&out).ok()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NormalizedIn<'a> {
    #[serde(default, deserialize_with = "present")]
    errors: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    question: Option<Value>,
    #[serde(borrow)]
    transactions: Vec<Object<NormalizedTx<'a>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NormalizedTx<'a> {
    account: &'a str,
    amount_cents: i64,
    #[serde(default, borrow, deserialize_with = "present")]
    category: Option<&'a str>,
    currency: &'a str,
    date: &'a str,
    description: &'a str,
    line: i64,
    merchant: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
}

/// Fields in sorted key order, as a `serde_json::Value` map prints them.
#[derive(Serialize)]
struct EnrichedOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    question: Option<Value>,
    transactions: Vec<EnrichedTx<'a>>,
}

/// Fields in sorted key order, as a `serde_json::Value` map prints them.
#[derive(Serialize)]
struct EnrichedTx<'a> {
    account: &'a str,
    amount_cents: i64,
    category: Cow<'a, str>,
    category_source: &'static str,
    currency: &'a str,
    date: &'a str,
    description: &'a str,
    line: i64,
    merchant: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
}

/// The merchant table from the `[config]`, parsed on this instance's first call
/// and kept for its life: config is fixed for a loaded plugin and the same for
/// every caller (a reload makes new instances). This is the plugin's only module
/// state; nothing from a message is kept.
fn cached_table() -> &'static Result<Table, String> {
    static TABLE: OnceLock<Result<Table, String>> = OnceLock::new();
    TABLE.get_or_init(|| match config::get("merchant_categories") {
        Some(json) => parse_table(&json),
        None => Ok(Table::new()),
    })
}

/// For an optional field that, when given, must be a `T`: `null` is an error here
/// (so the `Value` path decides), where `Option`'s own impl reads it as absent.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

struct Enricher;

impl Agent for Enricher {
    fn info() -> AgentInfo {
        AgentInfo::new("enricher", "Transaction enricher")
            .subscribes(["transactions.normalized"])
            .capabilities(["categorize"])
    }

    fn handle(msg: Message) -> Result<Vec<Message>, PluginError> {
        let table = cached_table()
            .as_ref()
            .map_err(|e| PluginError::Failed(e.clone()))?;
        let out = match enrich_text(&msg.payload, table) {
            Some(text) => text,
            None => enrich(msg.json()?, table)
                .map_err(PluginError::InvalidInput)?
                .to_string(),
        };
        let mut reply = msg.reply("transactions.enriched", out);
        reply.metadata.retain(|(k, _)| k != "djinn-gather");
        Ok(vec![reply])
    }
}

djinn_sdk::export_agent!(Enricher);

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        parse_table(r#"{"swiggy": "Food_Delivery", "AMAZON": "shopping", "RENT": "rent", "BIG BAZAAR": "groceries"}"#).unwrap()
    }

    #[test]
    fn table_is_case_normalised_and_validated() {
        let t = table();
        assert_eq!(t.get("SWIGGY").map(String::as_str), Some("food_delivery"));
        assert!(parse_table("[1,2]").is_err());
        assert!(parse_table(r#"{"A": 1}"#).is_err());
    }

    #[test]
    fn lookup_exact_then_first_token() {
        let t = table();
        assert_eq!(lookup(&t, "BIG BAZAAR"), Some("groceries"));
        assert_eq!(lookup(&t, "RENT MR"), Some("rent"));
        assert_eq!(lookup(&t, "amazon"), Some("shopping"));
        assert_eq!(lookup(&t, "BIG SHOP"), None);
    }

    #[test]
    fn statement_category_wins_then_table_then_uncategorized() {
        let p = serde_json::json!({"transactions": [
            {"merchant": "SWIGGY", "category": "Treats"},
            {"merchant": "SWIGGY"},
            {"merchant": "NOBODY", "category": ""},
        ], "question": "q"});
        let v = enrich(p, &table()).unwrap();
        let cats: Vec<&str> = v["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["category"].as_str().unwrap())
            .collect();
        assert_eq!(cats, vec!["treats", "food_delivery", "uncategorized"]);
        assert_eq!(v["transactions"][0]["category_source"], "statement");
        assert_eq!(v["transactions"][1]["category_source"], "merchant_table");
        assert_eq!(v["transactions"][2]["category_source"], "default");
        assert_eq!(v["question"], "q");
        assert!(enrich(serde_json::json!({"transactions": [{}]}), &table()).is_err());
    }

    /// `transactions.normalized` as the normalizer prints it: the example statement's
    /// rows with account, currency and merchant, some with a statement category.
    fn normalized_payload() -> String {
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
            let merchant = f[1]
                .trim_start_matches("UPI/")
                .split(['/', ' ', '.'])
                .next()
                .unwrap_or("");
            let mut t = serde_json::json!({"account": "default", "currency": "INR", "merchant": merchant,
                "line": i + 2, "date": f[0], "description": f[1],
                "amount_cents": if f[3] == "debit" { -amount } else { amount }, "type": f[3]});
            if !f[4].is_empty() {
                t["category"] = serde_json::json!(f[4]);
            }
            txs.push(t);
        }
        assert!(txs.len() > 40);
        txs.push(serde_json::json!({"account": "a", "currency": "INR", "merchant": "CAFÉ", "line": 99, "date": "2024-11-01", "description": "Café 🚀", "amount_cents": -1, "type": "debit", "category": " Treats "}));
        txs.push(serde_json::json!({"account": "a", "currency": "INR", "merchant": "X", "line": 100, "date": "2024-11-01", "description": "X", "amount_cents": -1, "type": "debit", "category": "  "}));
        serde_json::json!({"transactions": txs, "errors": [{"line": 28, "message": "bad"}], "question": "How am I doing?"}).to_string()
    }

    fn full_table() -> Table {
        let manifest = include_str!("../djinn.toml");
        let start = manifest.find("merchant_categories = '").unwrap() + 23;
        let end = start + manifest[start..].find('\'').unwrap();
        parse_table(&manifest[start..end]).unwrap()
    }

    #[test]
    fn fast_path_prints_the_value_paths_bytes() {
        let table = full_table();
        let payload = normalized_payload();
        let fast = enrich_text(&payload, &table).expect("the pipeline's shape");
        let value = serde_json::from_str(&payload).unwrap();
        assert_eq!(fast, enrich(value, &table).unwrap().to_string());
        for source in ["statement", "merchant_table", "default"] {
            assert!(fast.contains(&format!(r#""category_source":"{source}""#)));
        }
    }

    #[test]
    fn other_shapes_take_the_value_path() {
        let t = table();
        let tx = r#""account":"a","amount_cents":-1,"currency":"INR","date":"d","description":"X","line":2,"merchant":"SWIGGY","type":"debit""#;
        assert!(enrich_text(&format!(r#"{{"transactions":[{{{tx}}}]}}"#), &t).is_some());
        for payload in [
            format!(r#"{{"transactions":[{{{tx}}}],"extra":1}}"#),
            format!(r#"{{"transactions":[{{{tx},"category_source":"x"}}]}}"#),
            format!(r#"{{"transactions":[{{{tx},"category":null}}]}}"#),
            format!(r#"{{"transactions":[{{{tx},"category":7}}]}}"#),
            r#"{"transactions":[["a",-1,"c","INR","d","X",2,"SWIGGY","debit"]]}"#.to_owned(),
            r#"{"transactions":[{"merchant":"SWIGGY"}]}"#.to_owned(),
            "[]".to_owned(),
        ] {
            assert_eq!(enrich_text(&payload, &t), None, "{payload}");
        }
    }
}
