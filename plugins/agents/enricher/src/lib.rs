//! Gives each transaction a category (`transactions.normalized` → `transactions.enriched`).
//!
//! The merchant → category table lives in the manifest (`config.merchant_categories`,
//! a JSON object), so operators extend it without rebuilding the component. A
//! category already present in the CSV always wins: the account holder knows better
//! than a lookup table. Every transaction says where its category came from.

use std::collections::BTreeMap;

use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError, config};
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

struct Enricher;

impl Agent for Enricher {
    fn info() -> AgentInfo {
        AgentInfo::new("enricher", "Transaction enricher")
            .subscribes(["transactions.normalized"])
            .capabilities(["categorize"])
    }

    fn handle(msg: Message) -> Result<Vec<Message>, PluginError> {
        let table = match config::get("merchant_categories") {
            Some(json) => parse_table(&json).map_err(PluginError::Failed)?,
            None => Table::new(),
        };
        let out = enrich(msg.json()?, &table).map_err(PluginError::InvalidInput)?;
        let mut reply = msg.reply("transactions.enriched", out.to_string());
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
}
