//! Gives each transaction a category (`transactions.normalized` → `transactions.enriched`).
//!
//! The merchant → category table lives in the manifest (`config.merchant_categories`,
//! a JSON object), so operators extend it without rebuilding the component. A
//! category already present in the CSV always wins: the account holder knows better
//! than a lookup table. Every transaction says where its category came from.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError, config};
use serde_json::Value;

mod merchant_index;
mod scan;

pub use merchant_index::MerchantIndex;
use scan::Scanner;

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

/// A merchant → category table that [`enrich_text`] can read.
pub trait Categories {
    /// The category for a merchant, by the rules of [`lookup`].
    fn category(&self, merchant: &str) -> Option<&str>;
}

impl Categories for Table {
    fn category(&self, merchant: &str) -> Option<&str> {
        lookup(self, merchant)
    }
}

impl Categories for MerchantIndex {
    fn category(&self, merchant: &str) -> Option<&str> {
        self.lookup(merchant)
    }
}

/// The fast path: the pipeline's own `transactions.normalized` text, as the
/// normalizer prints it (compact, keys in order, the normalizer's fields only,
/// strings without escapes, integer `line` and `amount_cents`), checked byte by
/// byte and copied through with `category` and `category_source` spliced in.
/// Any other payload, including one with extra fields, whitespace or `null`s,
/// gives `None` and goes to [`enrich`], which defines the behaviour; for this
/// text both print the same bytes (tests below).
///
/// Copying is sound because the `Value` path prints this text back unchanged:
/// its keys are already in `Value`'s sorted order, its strings need no escapes
/// and its integers are in the one form serde_json prints ([`scan`]).
pub fn enrich_text<C: Categories + ?Sized>(payload: &str, categories: &C) -> Option<String> {
    let mut s = Scanner::new(payload);
    // fuel: one allocation for the whole reply; each transaction grows by its
    // `category` and `category_source` (~50 bytes on ~170).
    let mut out = String::with_capacity(payload.len() + payload.len() / 2);
    s.expect("{")?;
    out.push('{');
    for key in [r#""errors":"#, r#""question":"#] {
        if s.eat(key) {
            let value = s.value()?;
            // The `Value` path parses this one level deeper, inside the payload,
            // so a value near serde_json's nesting limit of 128 fails there only.
            if depth(&value) > 100 {
                return None;
            }
            s.expect(",")?;
            out.push_str(key);
            out.push_str(&serde_json::to_string(&value).ok()?);
            out.push(',');
        }
    }
    s.expect(r#""transactions":["#)?;
    out.push_str(r#""transactions":["#);
    if !s.eat("]") {
        loop {
            enrich_tx(&mut s, payload, &mut out, categories)?;
            if s.eat("]") {
                break;
            }
            s.expect(",")?;
            out.push(',');
        }
    }
    s.expect("}")?;
    out.push_str("]}");
    s.at_end().then_some(out)
}

/// One transaction of [`enrich_text`]: read from `s`, written to `out`.
fn enrich_tx<C: Categories + ?Sized>(
    s: &mut Scanner,
    payload: &str,
    out: &mut String,
    categories: &C,
) -> Option<()> {
    let start = s.pos();
    s.expect(r#"{"account":"#)?;
    s.string()?;
    s.expect(r#","amount_cents":"#)?;
    s.integer()?;
    let head_end = s.pos();
    let existing = if s.eat(r#","category":"#) {
        Some(s.string()?.trim()).filter(|c| !c.is_empty())
    } else {
        None
    };
    let tail_start = s.pos();
    s.expect(r#","currency":"#)?;
    s.string()?;
    s.expect(r#","date":"#)?;
    s.string()?;
    s.expect(r#","description":"#)?;
    s.string()?;
    s.expect(r#","line":"#)?;
    s.integer()?;
    s.expect(r#","merchant":"#)?;
    let merchant = s.string()?;
    s.expect(r#","type":"#)?;
    s.string()?;
    s.expect("}")?;

    out.push_str(payload.get(start..head_end)?);
    out.push_str(r#","category":"#);
    let source = match existing {
        Some(c) => {
            push_json_str(out, &c.to_lowercase());
            "statement"
        }
        None => match categories.category(merchant) {
            Some(c) => {
                push_json_str(out, c);
                "merchant_table"
            }
            None => {
                out.push_str(r#""uncategorized""#);
                "default"
            }
        },
    };
    out.push_str(r#","category_source":""#);
    out.push_str(source);
    out.push('"');
    out.push_str(payload.get(tail_start..s.pos())?);
    Some(())
}

/// Appends `text` as serde_json prints a string.
fn push_json_str(out: &mut String, text: &str) {
    if djinn_sdk::json::text::plain_len(text.as_bytes()) == text.len() {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        // Rare (a category from config with a quote or control character):
        // serde_json's own escaping keeps the bytes the `Value` path's.
        out.push_str(&Value::from(text).to_string());
    }
}

/// How deeply arrays and objects nest in `value` (0 for a scalar).
fn depth(value: &Value) -> usize {
    let inner = match value {
        Value::Array(items) => items.iter().map(depth).max(),
        Value::Object(fields) => fields.values().map(depth).max(),
        _ => return 0,
    };
    1 + inner.unwrap_or(0)
}

/// The config key of the merchant table.
const TABLE_KEY: &str = "merchant_categories";

/// The merchant table from the `[config]`, parsed on the first call that needs
/// it (only the `Value` path does) and kept for this instance's life: config is
/// fixed for a loaded plugin and the same for every caller (a reload makes new
/// instances). This and [`cached_index`] are the plugin's only module state;
/// nothing from a message is kept.
fn cached_table() -> &'static Result<Table, String> {
    static TABLE: OnceLock<Result<Table, String>> = OnceLock::new();
    TABLE.get_or_init(|| match config::get(TABLE_KEY) {
        Some(json) => parse_table(&json),
        None => Ok(Table::new()),
    })
}

/// The same table as [`cached_table`] as an index for the fast path, built on an
/// instance's first call (one `config::get`, then never again), and failing
/// with the same error when the config is not a valid table.
fn cached_index() -> &'static Result<MerchantIndex, String> {
    static INDEX: OnceLock<Result<MerchantIndex, String>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let config = config::get(TABLE_KEY);
        match config.as_deref().map(MerchantIndex::parse) {
            None => Ok(MerchantIndex::default()),
            Some(Some(index)) => Ok(index),
            Some(None) => match cached_table() {
                Ok(table) => Ok(MerchantIndex::from_table(table)),
                Err(e) => Err(e.clone()),
            },
        }
    })
}

struct Enricher;

impl Agent for Enricher {
    fn info() -> AgentInfo {
        AgentInfo::new("enricher", "Transaction enricher")
            .subscribes(["transactions.normalized"])
            .capabilities(["categorize"])
    }

    fn handle(msg: Message) -> Result<Vec<Message>, PluginError> {
        let failed = |e: &String| PluginError::Failed(e.clone());
        let index = cached_index().as_ref().map_err(failed)?;
        let out = match enrich_text(&msg.payload, index) {
            Some(text) => text,
            None => {
                let table = cached_table().as_ref().map_err(failed)?;
                enrich(msg.json()?, table)
                    .map_err(PluginError::InvalidInput)?
                    .to_string()
            }
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

    /// Tables whose keys and categories exercise the index: the manifest's, and
    /// one with non-ASCII, multi-word and padded entries.
    fn test_configs() -> Vec<String> {
        let manifest = include_str!("../djinn.toml");
        let start = manifest.find("merchant_categories = '").unwrap() + 23;
        let end = start + manifest[start..].find('\'').unwrap();
        vec![
            manifest[start..end].to_owned(),
            r#"{"café": "Food", "STRASSE": "Street", "ß": "Eszett", "İstanbul": "City",
               " big bazaar ": " GROCERIES ", "a b": "c", "ÉCOLE": "ÉDUCATION", "x": "\"q\""}"#
                .to_owned(),
        ]
    }

    fn test_merchants() -> Vec<String> {
        let mut merchants: Vec<String> = [
            "SALARY ACME",
            "RENT MR",
            "BIGBASKET",
            "SWIGGY",
            "NETFLIX",
            "HPCL PETROL",
            "BESCOM ELECTRICITY",
            "INTEREST CREDIT",
            "AMAZON",
            "AMAZON PRIME",
            "amazon prime",
            "Amazon  Prime",
            "AMAZON PRIME VIDEO",
            "amazon\u{a0}prime",
            "AMAZON\u{3000}PRIME",
            "AMAZON\u{b}PRIME",
            "AMAZON\u{1c}PRIME",
            "AMAZON\tPRIME",
            "\u{b}AMAZON\u{c}",
            " \t\r\nswiggy\n",
            "\u{a0}SWIGGY",
            "SWIGGY\u{a0}",
            "BIG BAZAAR",
            "big  bazaar",
            "BIG BAZAAR X",
            "BIG",
            "big shop",
            "",
            " ",
            "\u{3000}",
            "café",
            "CAFÉ",
            "Café 🚀",
            "cafe",
            "straße",
            "STRASSE",
            "ß",
            "ẞ",
            "istanbul",
            "İstanbul",
            "ı",
            "ﬀ",
            "a b",
            "A\u{b}B",
            "x",
            "X Y",
            "é",
            "ÉCOLE NORMALE",
            "école",
            "NOBODY",
            "rent",
            "Rent Mr",
        ]
        .iter()
        .map(|m| m.to_string())
        .collect();
        // Around the stack buffer's length, with and without a known first word.
        for n in [62, 63, 64, 65, 66, 100] {
            merchants.push(format!("AMAZON {}", "X".repeat(n - 7)));
            merchants.push(format!("amazon{}", "x".repeat(n - 6)));
            merchants.push(format!("{}  ", "A".repeat(n)));
        }
        merchants
    }

    #[test]
    fn index_lookup_agrees_with_table_lookup() {
        for config in test_configs() {
            let table = parse_table(&config).unwrap();
            let parsed = MerchantIndex::parse(&config);
            let indexes = [Some(MerchantIndex::from_table(&table)), parsed];
            for index in indexes.iter().flatten() {
                for m in test_merchants() {
                    assert_eq!(index.lookup(&m), lookup(&table, &m), "{m:?} in {config}");
                    assert_eq!(index.category(&m), table.category(&m), "{m:?}");
                }
                for key in table.keys() {
                    assert_eq!(index.lookup(key), lookup(&table, key), "{key:?}");
                    let lower = key.to_lowercase();
                    assert_eq!(index.lookup(&lower), lookup(&table, &lower), "{lower:?}");
                }
            }
        }
    }

    #[test]
    fn index_parse_agrees_with_parse_table() {
        let mut configs = test_configs();
        configs.extend(
            [
                "{}",
                " { } ",
                "\n{\"A\":\"b\",\t\"C\" : \"d\"\r\n}\n",
                r#"{"A": "b"}"#,
                // parse_table keeps one of these by key order: left to it.
                r#"{"A": "b", "A": "c"}"#,
                r#"{"amazon": "x", "AMAZON": "y"}"#,
                r#"{" A": "x", "A ": "y"}"#,
                r#"{"A": "", "B": "c"}"#,
                r#"{" ": "c"}"#,
                r#"{"A": "b", "A": " "}"#,
                // Escapes, other types and malformed text: left to parse_table.
                r#"{"A\u0042": "c"}"#,
                r#"{"A": "b\nc"}"#,
                r#"{"A": 1}"#,
                r#"{"A": null}"#,
                r#"["A", "b"]"#,
                r#"{"A": "b",}"#,
                r#"{"A": "b"} x"#,
                r#"{"A": "b""#,
                r#"{"A" "b"}"#,
                "",
                "\u{b}{}",
            ]
            .map(str::to_owned),
        );
        for config in configs {
            let reference = parse_table(&config);
            match MerchantIndex::parse(&config) {
                Some(index) => {
                    let entries: Table = index
                        .entries()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect();
                    assert_eq!(entries.len(), index.entries().count(), "{config}");
                    assert_eq!(Ok(entries), reference, "{config}");
                }
                None => {
                    if let Ok(table) = reference {
                        let from_table = MerchantIndex::from_table(&table);
                        assert_eq!(from_table.entries().count(), table.len(), "{config}");
                    }
                }
            }
        }
        assert!(MerchantIndex::parse(&test_configs()[0]).is_some());
        assert!(MerchantIndex::parse(r#"{"a": "b", "A": "c"}"#).is_none());
        assert!(MerchantIndex::parse(r#"{"A\u0042": "c"}"#).is_none());
    }

    /// The fast path on `payload`, with both table forms, is `None` or the
    /// `Value` path's bytes; returns whether it took the payload.
    fn fast_agrees(payload: &str, table: &Table) -> bool {
        let index = MerchantIndex::from_table(table);
        let fast = enrich_text(payload, &index);
        assert_eq!(fast, enrich_text(payload, table), "{payload}");
        let Some(fast) = fast else {
            return false;
        };
        let value = serde_json::from_str(payload).expect("the fast path took invalid JSON");
        let slow = enrich(value, table).expect("the fast path took what the Value path rejects");
        assert_eq!(fast, slow.to_string(), "{payload}");
        true
    }

    #[test]
    fn fast_path_agrees_with_the_value_path_on_edge_cases() {
        let tx = |fields: &str| {
            format!(
                r#"{{"account":"a","amount_cents":-1,{fields}"currency":"INR","date":"d","description":"X","line":2,"merchant":"SWIGGY","type":"debit"}}"#
            )
        };
        let plain = tx("");
        let one = |t: String| format!(r#"{{"transactions":[{t}]}}"#);
        let taken = [
            r#"{"transactions":[]}"#.to_owned(),
            format!(r#"{{"transactions":[{plain},{plain}]}}"#),
            format!(r#"{{"errors":[],"transactions":[{plain}]}}"#),
            format!(r#"{{"question":7,"transactions":[{plain}]}}"#),
            format!(r#"{{"question":"Caf\u00e9 \"q\"","transactions":[{plain}]}}"#),
            format!(
                r#"{{"errors":[{{"message":"m","line":1.50}}],"question":null,"transactions":[{plain}]}}"#
            ),
            format!(r#"{{"errors":{{"b":1,"a":[1e2,-0,true]}},"transactions":[{plain}]}}"#),
            one(tx(r#""category":" Treats ","#)),
            one(tx(r#""category":"ÉCOLE Ünï 🚀","#)),
            one(tx(r#""category":"","#)),
            one(tx(r#""category":"  ","#)),
            one(tx("\"category\":\"\u{a0}\",")),
            one(plain.replace("SWIGGY", "café")),
            one(plain.replace("SWIGGY", "Big Bazaar")),
            one(plain.replace("SWIGGY", "")),
            one(plain.replace("SWIGGY", "\u{7f}\u{2028}")),
            one(plain.replace("\"X\"", "\"Café 🚀 ü\"")),
            one(plain.replace("-1", "0")),
            one(plain.replace("-1", "999999999999999999")),
            one(plain.replace("-1", "-999999999999999999")),
            one(plain.replace(":2,", ":0,")),
        ];
        let left = [
            String::new(),
            "{}".to_owned(),
            "null".to_owned(),
            r#"{"transactions":{}}"#.to_owned(),
            r#"{"transactions":[1]}"#.to_owned(),
            r#" {"transactions":[]}"#.to_owned(),
            r#"{"transactions":[]} "#.to_owned(),
            r#"{"transactions": []}"#.to_owned(),
            r#"{"transactions":[]}x"#.to_owned(),
            r#"{"transactions":[],"x":1}"#.to_owned(),
            r#"{"question":"q","errors":[],"transactions":[]}"#.to_owned(),
            r#"{"errors":[],"errors":[],"transactions":[]}"#.to_owned(),
            format!(r#"{{"transactions":[{plain}],"transactions":[]}}"#),
            format!(r#"{{"transactions":[{plain},]}}"#),
            format!(r#"{{"transactions":[{plain}]"#),
            format!(r#"{{"errors":[1,"transactions":[{plain}]}}"#),
            one(tx(r#""category":null,"#)),
            one(tx(r#""category":7,"#)),
            one(tx(r#""category":"a\nb","#)),
            one(tx(r#""category_source":"x","#)),
            one(tx(r#""category":"x","category":"y","#)),
            one(plain.replace("SWIGGY", "SWI\\\"GGY")),
            one(plain.replace("SWIGGY", "\\u0053WIGGY")),
            one(plain.replace("\"X\"", "\"a\\/b\"")),
            one(plain.replace("\"X\"", "\"\t\"")),
            one(plain.replace("\"X\"", "null")),
            one(plain.replace("\"X\"", "7")),
            one(plain.replace("-1", "-0")),
            one(plain.replace("-1", "01")),
            one(plain.replace("-1", "1.0")),
            one(plain.replace("-1", "1e3")),
            one(plain.replace("-1", "-1234567890123456789")),
            one(plain.replace("-1", "\"-1\"")),
            one(plain.replace(",\"line\":2", "")),
            one(plain.replace("\"type\"", "\"kind\"")),
            one(plain.replace(",\"currency", ", \"currency")),
            one(plain
                .replace(",\"line\":2", "")
                .replace("}", ",\"line\":2}")),
        ];
        let table = full_table();
        for payload in &taken {
            assert!(fast_agrees(payload, &table), "not taken: {payload}");
        }
        for payload in &left {
            assert!(!fast_agrees(payload, &table), "taken: {payload}");
        }
        // A category from config that needs escaping is printed as serde_json does.
        let quoting = parse_table(r#"{"SWIGGY": "a\"b\u0001\\"}"#).unwrap();
        assert!(fast_agrees(&taken[1], &quoting));
        assert!(fast_agrees(&normalized_payload(), &table));
    }

    #[test]
    fn deep_errors_near_the_nesting_limit_agree() {
        let plain = r#"{"account":"a","amount_cents":-1,"currency":"INR","date":"d","description":"X","line":2,"merchant":"SWIGGY","type":"debit"}"#;
        for depth in [1, 50, 99, 100, 101, 120, 126, 127, 128, 129, 200] {
            let errors = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let payload = format!(r#"{{"errors":{errors},"transactions":[{plain}]}}"#);
            assert_eq!(
                fast_agrees(&payload, &full_table()),
                depth <= 100,
                "{depth}"
            );
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
