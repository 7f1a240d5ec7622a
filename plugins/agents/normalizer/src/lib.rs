//! Adds currency, account and a normalised merchant to each transaction
//! (`transactions.raw` → `transactions.normalized`).
//!
//! Genie took the first whitespace token of the description as the merchant, so
//! `UPI/SWIGGY/4186…` and `SWIGGY ORDER` were two merchants and every UPI payment
//! was merchant `UPI/…`. Here payment-rail prefixes, reference numbers and
//! corporate noise words are removed first, so the enricher and the duplicate
//! detector see one merchant per payee.

use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError, config};
use serde_json::Value;

/// Payment-rail prefixes stripped from the start of a description (after uppercasing).
const PREFIXES: &[&str] = &[
    "UPI/", "UPI-", "UPI ", "POS/", "POS ", "NEFT/", "NEFT-", "NEFT ", "IMPS/", "IMPS-", "IMPS ",
    "RTGS/", "RTGS-", "ACH/", "ACH-", "NACH/", "NACH-", "ECOM/", "ECOM ", "BIL/", "BIL-", "ATM/",
    "ATW-", "MMT/", "INB/", "ECS/", "CARD ", "VPS/", "PCD/",
];

/// Tokens that never name a merchant.
const NOISE: &[&str] = &[
    "PVT",
    "PRIVATE",
    "LTD",
    "LIMITED",
    "INDIA",
    "IN",
    "COM",
    "WWW",
    "CO",
    "INC",
    "LLP",
    "THE",
    "PAYMENT",
    "PAYMENTS",
    "ONLINE",
    "ORDER",
    "TRIP",
    "BILL",
    "TXN",
    "REF",
    "NO",
    "TO",
    "FROM",
    "BY",
    "VIA",
    "PAY",
    "DINNER",
    "LUNCH",
    "JAN",
    "FEB",
    "MAR",
    "APR",
    "MAY",
    "JUN",
    "JUL",
    "AUG",
    "SEP",
    "OCT",
    "NOV",
    "DEC",
    "TECHNOLOGIES",
    "SERVICES",
    "POSTPAID",
    "PREPAID",
    // Markers left by the `pii` policy's redaction (`[REDACTED:phone]`), so a redacted
    // reference number never becomes part of a merchant name.
    "REDACTED",
    "EMAIL",
    "PHONE",
    "CARD",
    "IBAN",
    "PAN",
    "AADHAAR",
    "SSN",
];

/// Whether a token is a reference number rather than a name: mostly digits.
fn is_reference(token: &str) -> bool {
    let digits = token.chars().filter(char::is_ascii_digit).count();
    digits > 0 && digits * 2 >= token.len()
}

/// The normalised merchant for a description: uppercase, rail prefixes removed, then
/// the first significant token, plus the next one if it is also significant
/// (`BIG BAZAAR`). Empty descriptions give `UNKNOWN`.
pub fn merchant(description: &str) -> String {
    let mut s = description.trim().to_uppercase();
    loop {
        let before = s.len();
        for p in PREFIXES {
            if let Some(rest) = s.strip_prefix(p) {
                s = rest.trim_start().to_owned();
            }
        }
        if s.len() == before {
            break;
        }
    }
    // UPI handles (`swiggy@icici`) name the payee before the `@`.
    let tokens: Vec<&str> = s
        .split(|c: char| !(c.is_alphanumeric() || c == '&' || c == '@'))
        .map(|t| t.split('@').next().unwrap_or(t))
        .filter(|t| !t.is_empty())
        .collect();
    let mut picked: Vec<&str> = Vec::new();
    for t in tokens {
        let significant = !is_reference(t) && !NOISE.contains(&t) && t.len() > 1;
        if significant {
            picked.push(t);
            if picked.len() == 2 {
                break;
            }
        } else if !picked.is_empty() {
            break;
        }
    }
    if picked.is_empty() {
        "UNKNOWN".into()
    } else {
        picked.join(" ")
    }
}

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
        let out = normalize(msg.json()?, &currency, &account).map_err(PluginError::InvalidInput)?;
        let mut reply = msg.reply("transactions.normalized", out.to_string());
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
}
