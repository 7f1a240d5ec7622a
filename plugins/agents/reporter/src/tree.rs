//! A JSON tree that borrows its strings from the payload text and reads and
//! prints exactly like a `serde_json::Value`.
//!
//! Why: the reporter echoes most of its ~8 KB request into the answer. As a
//! `Value`, every key and string became its own `String` and every object a
//! B-tree, and printing the answer walked a second, deep-copied tree (fuel: each
//! allocation costs ~100-300 wasm instructions in dlmalloc). This tree is read by
//! the same serde_json parser through `deserialize_any`, exactly as a `Value` is,
//! so it accepts and rejects the same texts with the same errors; it borrows
//! every string that has no escapes and keeps an object as one vector.
//!
//! An object holds its entries sorted by key, a repeated key keeping its last
//! value: that is what a `Value` map (a `BTreeMap`) holds, so printing this
//! tree (`crate::print`) writes the bytes printing the `Value` would.

use std::borrow::Cow;
use std::fmt;
use std::mem;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

/// A JSON value; see the module docs for how it matches `serde_json::Value`.
#[derive(Clone, Debug, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    /// Borrowed only when the text needs no escaping, as every string the
    /// parser borrows: it borrows exactly the strings that had no escape in
    /// the payload, and JSON allows no `"`, `\` or control character
    /// unescaped. Printing writes a borrowed string as it is.
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    /// Entries sorted by key, each key once.
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

/// What a missing key reads as, like `Value`'s `v["missing"]`.
pub static NULL: Json<'static> = Json::Null;

impl<'a> Json<'a> {
    /// `self[key]` if `self` is an object that has `key`.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(entries) => entries
                .binary_search_by(|(k, _)| k.as_ref().cmp(key))
                .ok()
                .map(|i| &entries[i].1),
            _ => None,
        }
    }

    /// `self[key]`, or null when there is none (like indexing a `Value`).
    pub fn field(&self, key: &str) -> &Json<'a> {
        self.get(key).unwrap_or(&NULL)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number as an `i64`, as `Value::as_i64` reads it (no floats, nothing
    /// above `i64::MAX`).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    pub fn is_i64(&self) -> bool {
        matches!(self, Json::Number(n) if n.is_i64())
    }

    /// The number as an `f64`, as `Value::as_f64` reads it (integers too).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json<'a>]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Json::Object(_))
    }

    /// An object of `entries`, which may come in any order (a repeated key keeps
    /// its last value).
    pub fn object(mut entries: Vec<(Cow<'a, str>, Json<'a>)>) -> Json<'a> {
        // Almost every object arrives sorted (agents print `Value`s); the check
        // is one comparison an entry, the sort only runs when it fails.
        if !entries.windows(2).all(|w| w[0].0 < w[1].0) {
            // Stable, so repeated keys stay in their order and the last one is
            // the value a `BTreeMap` insert would have kept.
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries.dedup_by(|later, kept| {
                let same = later.0 == kept.0;
                if same {
                    mem::swap(&mut later.1, &mut kept.1);
                }
                same
            });
        }
        Json::Object(entries)
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

/// Mirrors `Value`'s visitor method by method (serde_json/src/value/de.rs).
struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json<'de>, E> {
        Ok(Number::from_f64(v).map_or(Json::Null, Json::Number))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(v)))
    }

    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json<'de>, D::Error> {
        Json::deserialize(d)
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut entries = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            entries.push((key, map.next_value()?));
        }
        Ok(Json::object(entries))
    }
}

/// An object key, borrowed when it has no escapes (`Cow<str>` itself always
/// deserializes owned).
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn printed(t: &Json) -> String {
        let mut out = String::new();
        t.write(&mut out);
        out
    }

    /// Reads `text` both ways and checks the tree prints what the `Value` prints,
    /// or fails with the same error.
    fn same_as_value(text: &str) {
        let value = serde_json::from_str::<Value>(text);
        let tree = serde_json::from_str::<Json>(text);
        match (value, tree) {
            (Ok(v), Ok(t)) => assert_eq!(printed(&t), v.to_string(), "printing {text:?}"),
            (Err(v), Err(t)) => assert_eq!(t.to_string(), v.to_string(), "error for {text:?}"),
            (v, t) => panic!("{text:?}: Value read {v:?}, tree read {t:?}"),
        }
    }

    #[test]
    fn prints_like_value() {
        for text in [
            r#"{"b":1,"a":{"d":[1,2,{"z":null,"y":true}],"c":"x"}}"#,
            r#"{"k":1,"k":2,"j":0,"k":3}"#,
            r#"{"":0,"a":1,"A":2,"é":3,"e":4,"aa":5,"a\u0000":6}"#,
            r#"  { "spaced" : [ 1 , 2 ] , "t" : false }  "#,
            r#"["\u00b7\u2212","\ud83d\ude00 😀","tab\tquote\"back\\slash\/","\u001f\u007f"]"#,
            r#"{"esc\"aped":1,"esc\"aped":2,"plain":3}"#,
            "[0,-0,0.0,-0.0,1e2,1E-2,2.50,1.0e0,123456789012345678901234567890]",
            "[9223372036854775807,9223372036854775808,18446744073709551615,-9223372036854775808,-9223372036854775809]",
            "[33037.5,52.99,0.1,1e-7,5e-324,1.7976931348623157e308,3.0000000000000004]",
            "[]",
            "{}",
            "null",
            "\"just a string\"",
            "[[[[[]]]]]",
        ] {
            same_as_value(text);
        }
    }

    #[test]
    fn rejects_like_value() {
        let deep = "[".repeat(200) + &"]".repeat(200);
        for text in [
            "",
            "{",
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            "[1,2",
            "[1] x",
            "1e400",
            "-1e400",
            r#""\ud800""#,
            r#""\x""#,
            "\"unterminated",
            "\"ctrl \u{1} char\"",
            "{1:2}",
            "nul",
            "01",
            "1.",
            deep.as_str(),
        ] {
            same_as_value(text);
        }
    }

    #[test]
    fn lookups_read_like_value() {
        let text = r#"{"i":-3,"u":18446744073709551615,"f":2.5,"n":7,"s":"x","b":true,"a":[1],"o":{},"k":1,"k":"last"}"#;
        let v: Value = serde_json::from_str(text).unwrap();
        let t: Json = serde_json::from_str(text).unwrap();
        for k in ["i", "u", "f", "n", "s", "b", "a", "o", "k", "missing"] {
            assert_eq!(t.field(k).as_i64(), v[k].as_i64(), "{k}");
            assert_eq!(t.field(k).is_i64(), v[k].is_i64(), "{k}");
            assert_eq!(t.field(k).as_f64(), v[k].as_f64(), "{k}");
            assert_eq!(t.field(k).as_str(), v[k].as_str(), "{k}");
            assert_eq!(t.field(k).as_bool(), v[k].as_bool(), "{k}");
            assert_eq!(t.field(k).is_object(), v[k].is_object(), "{k}");
            assert_eq!(
                t.field(k).as_array().map(<[Json]>::len),
                v[k].as_array().map(Vec::len),
                "{k}"
            );
            assert_eq!(t.get(k).is_some(), v.get(k).is_some(), "{k}");
        }
        assert_eq!(t.field("k").as_str(), Some("last"));
        assert!(Json::Array(Vec::new()).get("k").is_none());
    }

    #[test]
    fn unescaped_strings_are_borrowed() {
        let t: Json = serde_json::from_str(r#"{"plain":"text","esc\n":"a\"b"}"#).unwrap();
        let Json::Object(entries) = &t else {
            panic!("not an object")
        };
        let borrowed: Vec<bool> = entries
            .iter()
            .flat_map(|(k, v)| {
                let Json::String(v) = v else {
                    panic!("not a string")
                };
                [matches!(k, Cow::Borrowed(_)), matches!(v, Cow::Borrowed(_))]
            })
            .collect();
        // Sorted: "esc\n" < "plain".
        assert_eq!(borrowed, [false, false, true, true]);
    }
}
