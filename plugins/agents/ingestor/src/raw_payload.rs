//! The `transactions.raw` payload, printed by hand.
//!
//! It is defined as serde_json's printing of `{errors, question, transactions}` with the
//! derived `Serialize` of [`Transaction`] and [`RowError`] (keys in sorted order, as a
//! `serde_json::Value` map prints them, which is how this payload was first built).
//! Transactions are written here with their keys as fixed text, and a string goes
//! through serde_json only when it has a byte to escape (fuel: serde_json's writer
//! spent ~3,000 wasm instructions a row, a third of the whole call, on small writes
//! and per-byte escape checks).

use djinn_sdk::json::text::{plain_len, push_u64};

use crate::{RowError, Transaction};

/// The payload's JSON text.
pub fn print(
    errors: &[RowError],
    question: &serde_json::Value,
    transactions: &[Transaction<'_>],
) -> Result<String, serde_json::Error> {
    // Fuel: reserving about what a row takes saves the doubling reallocations.
    let mut out = String::with_capacity(64 + 128 * transactions.len());
    out.push_str("{\"errors\":");
    out.push_str(&serde_json::to_string(errors)?);
    out.push_str(",\"question\":");
    out.push_str(&serde_json::to_string(question)?);
    out.push_str(",\"transactions\":[");
    for (i, t) in transactions.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_transaction(&mut out, t)?;
    }
    out.push_str("]}");
    Ok(out)
}

/// What serde_json prints for the derived `Serialize` of `t`.
fn push_transaction(out: &mut String, t: &Transaction<'_>) -> Result<(), serde_json::Error> {
    out.push_str("{\"amount_cents\":");
    if t.amount_cents < 0 {
        out.push('-');
    }
    push_u64(out, t.amount_cents.unsigned_abs());
    if let Some(category) = &t.category {
        out.push_str(",\"category\":");
        push_string(out, category)?;
    }
    out.push_str(",\"date\":");
    push_string(out, &t.date)?;
    out.push_str(",\"description\":");
    push_string(out, &t.description)?;
    out.push_str(",\"line\":");
    push_u64(out, t.line as u64);
    out.push_str(",\"type\":");
    push_string(out, t.kind)?;
    out.push('}');
    Ok(())
}

/// `text` as a JSON string, as serde_json prints it.
fn push_string(out: &mut String, text: &str) -> Result<(), serde_json::Error> {
    if plain_len(text.as_bytes()) < text.len() {
        out.push_str(&serde_json::to_string(text)?);
    } else {
        out.push('"');
        out.push_str(text);
        out.push('"');
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use serde::Serialize;

    use super::*;

    /// The definition of the payload.
    #[derive(Serialize)]
    struct RawPayload<'a> {
        errors: &'a [RowError],
        question: &'a serde_json::Value,
        transactions: &'a [Transaction<'a>],
    }

    fn by_serde(
        errors: &[RowError],
        question: &serde_json::Value,
        transactions: &[Transaction<'_>],
    ) -> String {
        serde_json::to_string(&RawPayload {
            errors,
            question,
            transactions,
        })
        .unwrap()
    }

    #[test]
    fn printed_as_serde_json_prints_the_derived_serialize() {
        let texts = [
            "",
            "SWIGGY",
            "2024-07-01",
            "Café \"Q\", \\ tab\tx",
            "line\nbreak\r\u{1}\u{1f}\u{7f}",
            "ünïcödé ₹ 😀 long enough to take more than three words",
            "\"",
            "1234567\\",
        ];
        let amounts = [
            0,
            1,
            -1,
            9,
            -10,
            99,
            100,
            8_500_000,
            -2_500_000,
            i64::MAX,
            i64::MIN,
        ];
        let mut transactions = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            for (j, &amount_cents) in amounts.iter().enumerate() {
                transactions.push(Transaction {
                    amount_cents,
                    category: (j % 3 != 0).then(|| Cow::Borrowed(texts[(i + j) % texts.len()])),
                    date: Cow::Owned(texts[(i + 1) % texts.len()].to_owned()),
                    description: Cow::Borrowed(text),
                    line: [0, 1, 9, 10, 12_345, usize::MAX][j % 6],
                    kind: ["credit", "debit"][j % 2],
                });
            }
        }
        let errors = [
            RowError {
                line: 28,
                message: "amount `abc` is not a number".into(),
            },
            RowError {
                line: 3,
                message: "type `\"x\"` is neither credit nor debit".into(),
            },
        ];
        let questions = [
            serde_json::json!("How am I doing?"),
            serde_json::Value::Null,
            serde_json::json!({"b": [1, 2.5, "x\n"], "a": null}),
        ];
        for question in &questions {
            for errors in [&errors[..], &[]] {
                for transactions in [&transactions[..], &transactions[..1], &[]] {
                    assert_eq!(
                        print(errors, question, transactions).unwrap(),
                        by_serde(errors, question, transactions)
                    );
                }
            }
        }
    }
}
