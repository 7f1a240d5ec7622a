//! Prints the reply's `Value` as `Value::to_string` does, for less fuel.
//!
//! Why: serde_json's serializer tests every string byte against its escape
//! table and writes through `io::Write` piece by piece (~47 wasm instructions a
//! byte of this agent's reply). Strings that need no escape are copied whole
//! here, found 8 bytes at a time; anything else (escapes, floats) is printed by
//! serde_json itself, so the bytes cannot differ. The tests compare the two.

use djinn_sdk::json::text::{plain_len, push_i64, push_u64};
use serde_json::Value;

/// `value` as compact JSON text, byte for byte `value.to_string()`.
pub fn to_json(value: &Value) -> String {
    // fuel: one allocation that does not regrow for the usual ~1.5 KB reply.
    let mut out = String::with_capacity(2048);
    write(&mut out, value);
    out
}

fn write(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_u64() {
                push_u64(out, i);
            } else if let Some(i) = n.as_i64() {
                push_i64(out, i);
            } else {
                out.push_str(&n.to_string());
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(out, item);
            }
            out.push(']');
        }
        Value::Object(members) => {
            out.push('{');
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, key);
                out.push(':');
                write(out, item);
            }
            out.push('}');
        }
    }
}

fn write_str(out: &mut String, s: &str) {
    if plain_len(s.as_bytes()) == s.len() {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        // A string serde_json must escape: let it, so the escapes are its own.
        out.push_str(&Value::from(s).to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prints_as_serde_json_prints() {
        for v in [
            json!(null),
            json!(true),
            json!(false),
            json!(0),
            json!(-1),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(3.5),
            json!(0.1),
            json!(-0.0),
            json!(1e300),
            json!(33037.5),
            json!(52.99),
            json!(""),
            json!("plain"),
            json!("quote \" backslash \\ newline \n tab \t nul \u{0} del \u{7f}"),
            json!("Café 🚀 · − \u{2028}"),
            json!([]),
            json!({}),
            json!([1, "a", [null, {"k\"ey": "v\u{1}"}], {"z": 1, "a": [2.5]}]),
            json!({"currency": {"deep": [[[[{"x": "y"}]]]]}, "b": false}),
        ] {
            assert_eq!(to_json(&v), v.to_string(), "{v}");
        }
    }
}
