//! Adds currency, account and a normalised merchant to each transaction
//! (`transactions.raw` → `transactions.normalized`).
//!
//! Genie took the first whitespace token of the description as the merchant, so
//! `UPI/SWIGGY/4186…` and `SWIGGY ORDER` were two merchants and every UPI payment
//! was merchant `UPI/…`. Here payment-rail prefixes, reference numbers and
//! corporate noise words are removed first, so the enricher and the duplicate
//! detector see one merchant per payee.

use djinn_sdk::json::Object;
use djinn_sdk::json::text::push_i64;
use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError, config};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

mod merchant;

pub use merchant::merchant;

/// A currency code from config: three ASCII letters, upper-cased.
pub fn currency(configured: Option<String>) -> Result<String, String> {
    match configured {
        None => Ok("INR".into()),
        Some(c) if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_alphabetic()) => {
            Ok(c.to_ascii_uppercase())
        }
        Some(c) => Err(format!(
            "config `currency` = `{c}` is not a three-letter ISO 4217 code"
        )),
    }
}

/// The `transactions.normalized` payload: the raw payload with each transaction
/// given `currency`, `account` and `merchant`; every other field is kept.
pub fn normalize(mut payload: Value, currency: &str, account: &str) -> Result<Value, String> {
    let txs = payload
        .get_mut("transactions")
        .and_then(Value::as_array_mut)
        .ok_or("transactions.raw needs an array `transactions`")?;
    for (i, t) in txs.iter_mut().enumerate() {
        let obj = t
            .as_object_mut()
            .ok_or_else(|| format!("transactions[{i}] is not an object"))?;
        let desc = obj
            .get("description")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("transactions[{i}] has no string `description`"))?;
        let m = merchant(desc);
        if !obj.get("amount_cents").is_some_and(Value::is_i64) {
            return Err(format!("transactions[{i}] has no integer `amount_cents`"));
        }
        obj.insert("merchant".into(), Value::String(m));
        obj.insert("currency".into(), Value::String(currency.into()));
        obj.insert("account".into(), Value::String(account.into()));
    }
    Ok(payload)
}

/// The fast path: the pipeline's own `transactions.raw` shape (the ingestor's
/// fields, strings without escapes, integer `line` and `amount_cents`) read into
/// borrowed structs and printed without a JSON tree. Any other payload, including
/// one with extra fields or `null`s, gives `None` and goes to [`normalize`], which
/// defines the behaviour; for this shape both print the same bytes (tests below).
pub fn normalize_text(payload: &str, currency: &str, account: &str) -> Option<String> {
    let Object(raw) = serde_json::from_str::<Object<RawIn>>(payload).ok()?;
    // Printed by hand, keys in the order a `Value` map prints them (sorted).
    // fuel: serde's printer checks every byte of every string for escapes and
    // grows the output a few times; here the output is sized once and each
    // transaction is a dozen appends. The payload's strings are pasted between
    // quotes as they are: serde borrows a string only when it has no escapes, and
    // JSON text cannot hold a raw `"`, `\` or control character, so serde_json
    // would print it unchanged.
    let account_head = [r#"{"account":"#, &json_str(account)?, r#","amount_cents":"#].concat();
    let currency_to_date = [r#","currency":"#, &json_str(currency)?, r#","date":""#].concat();
    let per_tx = account_head.len() + currency_to_date.len() + r#","merchant":"""#.len();
    let mut out = String::with_capacity(payload.len() + raw.transactions.len() * per_tx);
    out.push('{');
    if let Some(errors) = &raw.errors {
        out.push_str(r#""errors":"#);
        out.push_str(&serde_json::to_string(errors).ok()?);
        out.push(',');
    }
    if let Some(question) = &raw.question {
        out.push_str(r#""question":"#);
        out.push_str(&serde_json::to_string(question).ok()?);
        out.push(',');
    }
    out.push_str(r#""transactions":["#);
    for (i, Object(t)) in raw.transactions.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&account_head);
        push_i64(&mut out, t.amount_cents);
        if let Some(category) = t.category {
            out.push_str(r#","category":""#);
            out.push_str(category);
            out.push('"');
        }
        out.push_str(&currency_to_date);
        out.push_str(t.date);
        out.push_str(r#"","description":""#);
        out.push_str(t.description);
        out.push_str(r#"","line":"#);
        push_i64(&mut out, t.line);
        // A merchant is letters, digits, `&` and spaces (or `UNKNOWN`): nothing to
        // escape.
        out.push_str(r#","merchant":""#);
        merchant::push_merchant(t.description, &mut out);
        out.push_str(r#"","type":""#);
        out.push_str(t.kind);
        out.push_str(r#""}"#);
    }
    out.push_str("]}");
    Some(out)
}

/// `s` as a JSON string, quotes included.
fn json_str(s: &str) -> Option<String> {
    serde_json::to_string(s).ok()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIn<'a> {
    #[serde(default, deserialize_with = "present")]
    errors: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    question: Option<Value>,
    #[serde(borrow)]
    transactions: Vec<Object<RawTx<'a>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTx<'a> {
    amount_cents: i64,
    #[serde(default, borrow, deserialize_with = "present")]
    category: Option<&'a str>,
    date: &'a str,
    description: &'a str,
    line: i64,
    #[serde(rename = "type")]
    kind: &'a str,
}

/// For an optional field that, when given, must be a `T`: `null` is an error here
/// (so the `Value` path decides), where `Option`'s own impl reads it as absent.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

struct Normalizer;

impl Agent for Normalizer {
    fn info() -> AgentInfo {
        AgentInfo::new("normalizer", "Transaction normalizer")
            .subscribes(["transactions.raw"])
            .capabilities(["normalize"])
    }

    fn handle(msg: Message) -> Result<Vec<Message>, PluginError> {
        let currency = currency(config::get("currency")).map_err(PluginError::Failed)?;
        let account = msg
            .meta("account_id")
            .filter(|a| !a.trim().is_empty())
            .unwrap_or("default")
            .to_owned();
        let out = match normalize_text(&msg.payload, &currency, &account) {
            Some(text) => text,
            None => normalize(msg.json()?, &currency, &account)
                .map_err(PluginError::InvalidInput)?
                .to_string(),
        };
        let mut reply = msg.reply("transactions.normalized", out);
        reply.metadata.retain(|(k, _)| k != "djinn-gather");
        Ok(vec![reply])
    }
}

djinn_sdk::export_agent!(Normalizer);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merchants_lose_rails_references_and_noise() {
        assert_eq!(merchant("UPI/SWIGGY/418612345678"), "SWIGGY");
        assert_eq!(merchant("swiggy@icici"), "SWIGGY");
        assert_eq!(merchant("POS HPCL PETROL PUMP 0042"), "HPCL PETROL");
        assert_eq!(merchant("NETFLIX.COM 4829"), "NETFLIX");
        assert_eq!(merchant("AMAZON PAY INDIA"), "AMAZON");
        assert_eq!(merchant("ZOMATO ORDER, DINNER"), "ZOMATO");
        assert_eq!(merchant("UBER TRIP 7781"), "UBER");
        assert_eq!(merchant("NEFT/RENT/MR R SHARMA"), "RENT MR");
        assert_eq!(merchant("SALARY ACME TECHNOLOGIES PVT LTD"), "SALARY ACME");
        assert_eq!(merchant("UPI/CROMA/428512300981/LAPTOP"), "CROMA");
        assert_eq!(merchant("Big Bazaar"), "BIG BAZAAR");
        assert_eq!(merchant("  "), "UNKNOWN");
        assert_eq!(merchant("123456"), "UNKNOWN");
        // after the pii policy redacted a reference number
        assert_eq!(merchant("UPI/BIGBASKET/[REDACTED:aadhaar]"), "BIGBASKET");
        assert_eq!(merchant("[REDACTED:phone] SWIGGY"), "SWIGGY");
    }

    #[test]
    fn currency_defaults_and_validates() {
        assert_eq!(currency(None).unwrap(), "INR");
        assert_eq!(currency(Some("usd".into())).unwrap(), "USD");
        assert!(currency(Some("rupees".into())).is_err());
    }

    #[test]
    fn normalize_adds_fields_and_keeps_the_rest() {
        let raw = serde_json::json!({
            "transactions": [{"line": 2, "date": "2024-05-01", "description": "UPI/ZOMATO/1234", "amount_cents": -30000, "type": "debit"}],
            "errors": [{"line": 3, "message": "bad"}],
            "question": "q"
        });
        let v = normalize(raw, "INR", "acc-1").unwrap();
        let t = &v["transactions"][0];
        assert_eq!(t["merchant"], "ZOMATO");
        assert_eq!(t["currency"], "INR");
        assert_eq!(t["account"], "acc-1");
        assert_eq!(t["amount_cents"], -30000);
        assert_eq!(v["errors"][0]["line"], 3);
        assert_eq!(v["question"], "q");
    }

    #[test]
    fn normalize_rejects_malformed_input() {
        assert!(normalize(serde_json::json!({}), "INR", "a").is_err());
        let e = normalize(
            serde_json::json!({"transactions": [{"description": "X", "amount_cents": 1.5}]}),
            "INR",
            "a",
        )
        .unwrap_err();
        assert!(e.contains("amount_cents"), "{e}");
    }

    /// `transactions.raw` as the ingestor prints it for the example statement, plus
    /// rows with a statement category and with characters JSON escapes.
    fn raw_payload(question: Value) -> String {
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
            let mut t = serde_json::json!({"line": i + 2, "date": f[0], "description": f[1],
                "amount_cents": if f[3] == "debit" { -amount } else { amount }, "type": f[3]});
            if !f[4].is_empty() {
                t["category"] = serde_json::json!(f[4]);
            }
            txs.push(t);
        }
        assert!(txs.len() > 40);
        txs.push(serde_json::json!({"line": 99, "date": "2024-11-01", "description": "Café Ünïcode 🚀", "amount_cents": -1, "type": "debit"}));
        serde_json::json!({"transactions": txs, "errors": [{"line": 28, "message": "amount `abc` is not a number"}], "question": question}).to_string()
    }

    /// The fast path prints exactly what the `Value` path prints, or declines.
    fn same_as_value_path(payload: &str) -> Option<String> {
        let fast = normalize_text(payload, "INR", "acc-1");
        if let Some(text) = &fast {
            let value = serde_json::from_str(payload).unwrap();
            assert_eq!(text, &normalize(value, "INR", "acc-1").unwrap().to_string());
        }
        fast
    }

    #[test]
    fn fast_path_prints_the_value_paths_bytes() {
        for q in [
            serde_json::json!("How am I doing?"),
            Value::Null,
            serde_json::json!({"a": [1, 2.5]}),
        ] {
            assert!(same_as_value_path(&raw_payload(q)).is_some());
        }
        let minimal = r#"{"transactions":[{"amount_cents":-1,"date":"d","description":"UPI/X","line":2,"type":"debit"}]}"#;
        assert!(same_as_value_path(minimal).is_some());
    }

    #[test]
    fn other_shapes_take_the_value_path() {
        let tx = r#"{"amount_cents":-1,"date":"d","description":"X","line":2,"type":"debit"}"#;
        for payload in [
            // extra fields are kept by the `Value` path
            format!(r#"{{"transactions":[{tx}],"extra":1}}"#),
            r#"{"transactions":[{"amount_cents":-1,"date":"d","description":"X","line":2,"type":"debit","note":"n"}]}"#.to_owned(),
            // null category is kept as null; an escaped string cannot be borrowed
            r#"{"transactions":[{"amount_cents":-1,"category":null,"date":"d","description":"X","line":2,"type":"debit"}]}"#.to_owned(),
            r#"{"transactions":[{"amount_cents":-1,"date":"d","description":"A\"B","line":2,"type":"debit"}]}"#.to_owned(),
            // a transaction as an array, a float amount, a duplicate key
            r#"{"transactions":[[-1,"c","d","X",2,"debit"]]}"#.to_owned(),
            r#"{"transactions":[{"amount_cents":-1.5,"date":"d","description":"X","line":2,"type":"debit"}]}"#.to_owned(),
            r#"{"transactions":[{"amount_cents":-1,"amount_cents":-2,"date":"d","description":"X","line":2,"type":"debit"}]}"#.to_owned(),
            // what the `Value` path rejects
            r#"{"errors":[]}"#.to_owned(),
            r#"[1]"#.to_owned(),
            "not json".to_owned(),
        ] {
            assert_eq!(normalize_text(&payload, "INR", "a"), None, "{payload}");
        }
    }

    /// Like `same_as_value_path`, for any currency and account, and it must not decline.
    fn assert_fast_path_prints_the_value_paths_bytes(payload: &str, currency: &str, account: &str) {
        let fast = normalize_text(payload, currency, account).expect(payload);
        let value = serde_json::from_str(payload).unwrap();
        let slow = normalize(value, currency, account).unwrap().to_string();
        assert_eq!(fast, slow, "{payload}");
    }

    #[test]
    fn hand_printed_output_matches_serde_for_awkward_values() {
        let tx = |amount: i64, line: i64, desc: &str, extra: &str| {
            format!(
                r#"{{"amount_cents":{amount},{extra}"date":"2024-07-01","description":"{desc}","line":{line},"type":"débit ✓"}}"#
            )
        };
        let txs = [
            tx(i64::MIN, i64::MAX, "UPI/SWIGGY/1", ""),
            tx(
                i64::MAX,
                i64::MIN,
                "Straße ﬁsh İstanbul",
                r#""category":"Café 🚀","#,
            ),
            tx(0, 0, "", r#""category":"","#),
            tx(-1, -10, "  ", ""),
            tx(9, 10, "swiggy@icici", ""),
            tx(-99, 100, "\u{7f}M&S\u{a0}FOOD", ""),
            tx(1_000_000_007, 1, "1234567890123456789012345", ""),
        ]
        .join(",");
        let payloads = [
            format!(r#"{{"transactions":[{txs}]}}"#),
            // escapes in `errors` and `question`, which are printed from `Value`s
            format!(
                r#"{{"errors":[{{"line":3,"message":"q\"\\\n\u0001 é \ud83d\ude80"}}],"question":"why \"so\"?","transactions":[{txs}]}}"#
            ),
            r#"{"errors":[],"question":{"nested":[1,-0.0,2.5e-8,1e300,true,null]},"transactions":[]}"#
                .to_owned(),
            r#"{"transactions":[]}"#.to_owned(),
            // whitespace and key order are the parser's business, not the printer's
            format!("{{\n \"transactions\" : [ {txs} ] ,\"question\":\"q\"\t}}\n"),
        ];
        for payload in &payloads {
            for (currency, account) in [
                ("INR", "default"),
                ("", ""),
                ("U\"S\\D", "acc\u{1}\n\u{1f}\u{7f}"),
                ("€", "Zoë 🚀 </script>"),
            ] {
                assert_fast_path_prints_the_value_paths_bytes(payload, currency, account);
            }
        }
    }
}
