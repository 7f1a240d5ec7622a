//! JSON text printed byte for byte as serde_json's compact printer prints a
//! `Value` (serde_json/src/ser.rs): no spaces, object keys in order, strings
//! escaped the same way, numbers printed the same way.
//!
//! Written by hand rather than through `Serialize`: serde_json's printer scans
//! every string byte by byte for characters to escape, and most of an answer's
//! bytes are strings borrowed from the request, which need none (see
//! [`Json::String`]).

use std::borrow::Cow;
use std::fmt::Write;

use djinn_sdk::json::text::{must_escape, plain_len};
use serde_json::Number;

use crate::text::{push_i64, push_u64};
use crate::tree::Json;

impl Json<'_> {
    /// Appends this value as JSON text.
    pub fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => write_number(out, n),
            Json::String(s) => write_string(out, s),
            Json::Array(items) => write_array(out, items),
            Json::Object(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(out, k);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// Appends `items` as a JSON array.
pub fn write_array<'x, 'a: 'x>(out: &mut String, items: impl IntoIterator<Item = &'x Json<'a>>) {
    out.push('[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        item.write(out);
    }
    out.push(']');
}

/// Appends `n` as serde_json prints it: integers in full, floats the shortest
/// way that reads back the same (ryu, through `Number`'s `Display`).
fn write_number(out: &mut String, n: &Number) {
    if let Some(u) = n.as_u64() {
        push_u64(out, u);
    } else if let Some(i) = n.as_i64() {
        push_i64(out, i);
    } else {
        // Writing to a `String` cannot fail.
        let _ = write!(out, "{n}");
    }
}

/// Appends `s` as a JSON string.
#[expect(
    clippy::ptr_arg,
    reason = "whether the string is borrowed is what matters (see `Json::String`)"
)]
fn write_string(out: &mut String, s: &Cow<str>) {
    match s {
        Cow::Borrowed(raw) => {
            debug_assert!(!raw.bytes().any(must_escape), "borrowed {raw:?}");
            out.push('"');
            out.push_str(raw);
            out.push('"');
        }
        Cow::Owned(s) => write_escaped(out, s),
    }
}

/// Appends `s` as a JSON string, escaped as serde_json escapes it.
pub fn write_escaped(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut run = 0; // where the bytes not yet written start
    loop {
        let i = run + plain_len(&bytes[run..]);
        // `i` is the end or an ASCII byte, so both slices end on character
        // boundaries.
        out.push_str(&s[run..i]);
        let Some(&b) = bytes.get(i) else { break };
        run = i + 1;
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
    }
    out.push('"');
}

/// Appends `strings` as a JSON array.
pub fn write_strings(out: &mut String, strings: &[&str]) {
    out.push('[');
    for (i, s) in strings.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_escaped(out, s);
    }
    out.push(']');
}

/// Appends `value`, or `null` for none.
pub fn write_opt(out: &mut String, value: Option<&Json>) {
    match value {
        Some(v) => v.write(out),
        None => out.push_str("null"),
    }
}

/// Writes one JSON object, member by member. Members must come in key order,
/// as a `Value`'s map prints them; debug builds check that they do.
pub struct ObjectWriter<'o> {
    out: &'o mut String,
    last_key: Option<&'static str>,
}

impl<'o> ObjectWriter<'o> {
    pub fn new(out: &'o mut String) -> ObjectWriter<'o> {
        out.push('{');
        ObjectWriter {
            out,
            last_key: None,
        }
    }

    /// Writes `key` and returns the text to write its value into.
    pub fn key(&mut self, key: &'static str) -> &mut String {
        debug_assert!(
            self.last_key < Some(key),
            "`{key}` comes after `{:?}`",
            self.last_key
        );
        if self.last_key.is_some() {
            self.out.push(',');
        }
        self.last_key = Some(key);
        write_escaped(self.out, key);
        self.out.push(':');
        self.out
    }

    pub fn end(self) {
        self.out.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(t: &Json) -> String {
        let mut out = String::new();
        t.write(&mut out);
        out
    }

    #[test]
    fn escapes_like_serde_json() {
        let mut every_char: String = (0..=0x7f_u8).map(char::from).collect();
        every_char.push_str("é€😀\u{2028}\u{fffd}\u{10ffff}");
        for s in [
            every_char.as_str(),
            "",
            "plain",
            "\"",
            "a\\b\n",
            "\u{1f}end",
        ] {
            let mut out = String::new();
            write_escaped(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap());
            let owned = Json::String(Cow::Owned(s.to_owned()));
            assert_eq!(printed(&owned), out);
        }
    }

    #[test]
    fn objects_print_their_members_in_order() {
        let mut out = String::new();
        let mut o = ObjectWriter::new(&mut out);
        o.key("a").push('1');
        let mut inner = ObjectWriter::new(o.key("b"));
        inner.key("c").push_str("[]");
        inner.end();
        o.end();
        assert_eq!(out, r#"{"a":1,"b":{"c":[]}}"#);
        let mut out = String::new();
        ObjectWriter::new(&mut out).end();
        assert_eq!(out, "{}");
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "comes after")]
    fn members_out_of_order_are_caught() {
        let mut out = String::new();
        let mut o = ObjectWriter::new(&mut out);
        o.key("b");
        o.key("a");
    }
}
