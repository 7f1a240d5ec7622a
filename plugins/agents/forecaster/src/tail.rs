//! Splits the unread transaction list off the end of an `analysis.result` text.
//!
//! Why: the forecast reads only `monthly` and `currency`, but two thirds of the
//! payload is `transactions`, which the analyzer prints last (its keys are
//! sorted). Checking that list through serde (`Skip`, a visitor call per value)
//! cost ~200k fuel on the sample; the byte checks here cost a fraction of that.
//!
//! The split is exact, not a guess. For a text `P ,"transactions": V }` where
//! `P}` is a complete JSON object (serde_json reads it, see the caller) and `V`
//! is a JSON value ([`value`] accepts it), the whole text is that object with one
//! more member `"transactions": V`: the `}` that completes `P}` can only be the
//! object's own closing brace, so `P` is the object still open at the top level.
//! Anything else, including a `,"transactions":` found inside another value,
//! fails one of the two checks and the caller takes the `Value` path.

/// Where the text is cut: before this, the rest of the object; after it, the list.
const KEY: &str = ",\"transactions\":";

/// Nesting deeper than this goes to the `Value` path, well inside serde_json's
/// limit of 128 counted from the top level.
const MAX_DEPTH: usize = 64;

/// `(P, V)` for a text `P ,"transactions": V }` as described in the module docs,
/// with `V` checked; `None` when the text is not of that form or `V` holds
/// anything [`value`] does not accept.
pub fn split(text: &str) -> Option<(&str, &str)> {
    let at = text.find(KEY)?;
    let list = text.get(at + KEY.len()..)?.strip_suffix('}')?;
    let mut c = Cursor {
        bytes: list.as_bytes(),
        at: 0,
    };
    c.value(0)?;
    (c.at == list.len()).then_some((text.get(..at)?, list))
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// Steps over `b` if it is next.
    fn next_is(&mut self, b: u8) -> bool {
        let found = self.peek() == Some(b);
        self.at += usize::from(found);
        found
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        self.next_is(b).then_some(())
    }

    /// One compact JSON value (no whitespace between tokens) whose numbers are
    /// integers of at most 18 digits and whose strings use only the short
    /// escapes: a strict subset of what serde_json reads without error. `\u`
    /// escapes (a lone surrogate is an error), fractions and exponents (`1e400`
    /// is out of range) are refused rather than checked.
    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string(),
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            _ => self.integer(),
        }
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.expect(b'{')?;
        if self.next_is(b'}') {
            return Some(());
        }
        loop {
            self.string()?;
            self.expect(b':')?;
            self.value(depth)?;
            if !self.next_is(b',') {
                return self.expect(b'}');
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.expect(b'[')?;
        if self.next_is(b']') {
            return Some(());
        }
        loop {
            self.value(depth)?;
            if !self.next_is(b',') {
                return self.expect(b']');
            }
        }
    }

    /// A string without control characters and with only the short escapes.
    /// The text is a `&str`, so its bytes are valid UTF-8 already.
    fn string(&mut self) -> Option<()> {
        self.expect(b'"')?;
        loop {
            let rest = self.bytes.get(self.at..)?;
            self.at += djinn_sdk::json::text::plain_len(rest);
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                b'\\' => match self.bytes.get(self.at + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 2,
                    _ => return None,
                },
                _ => return None, // a control character
            }
        }
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        let end = self.at + word.len();
        (self.bytes.get(self.at..end)? == word.as_bytes()).then(|| self.at = end)
    }

    /// `-?(0|[1-9][0-9]*)` with at most 18 digits, so it is in range for serde_json
    /// whatever its sign. A fraction or exponent after it fails the caller's next
    /// check (`,`, `]`, `}` or the end).
    fn integer(&mut self) -> Option<()> {
        self.next_is(b'-');
        let digits = self.bytes.get(self.at..)?;
        let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
        if len == 0 || len > 18 || (len > 1 && digits[0] == b'0') {
            return None;
        }
        self.at += len;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Whether `v` is accepted as a whole list, next to whether serde_json reads it.
    fn accepted(v: &str) -> bool {
        let text = format!("{{\"a\":1{KEY}{v}}}");
        let ok = split(&text).is_some();
        if ok {
            assert!(serde_json::from_str::<Value>(v).is_ok(), "{v}");
        }
        ok
    }

    #[test]
    fn accepts_the_analyzers_transaction_list() {
        for v in [
            "[]",
            "[{}]",
            r#"[{"amount_cents":-64900,"category":"subscriptions","date":"2024-09-01","line":40,"merchant":"NETFLIX"}]"#,
            r#"[{"a":"x\"y\\z\/\b\f\n\r\t","b":[true,false,null,0,-0,123456789012345678]}]"#,
            "[\"é ✓ 😀\"]",
            "7",
        ] {
            assert!(accepted(v), "{v}");
        }
    }

    #[test]
    fn refuses_what_it_does_not_check() {
        for v in [
            "",
            "[",
            "[1,]",
            "[,1]",
            "{\"a\"}",
            "{\"a\":}",
            "{1:2}",
            "[1] ",
            " [1]",
            "[1, 2]",
            "[1.5]",
            "[1e400]",
            "[01]",
            "[-]",
            "[1234567890123456789]",
            r#"["\ud800"]"#,
            r#"["\u0041"]"#,
            r#"["\x"]"#,
            "[\"a\u{1}\"]",
            "[\"a\nb\"]",
            "[\"abc]",
            "[tru]",
            "[nul]",
            "[1]}",
            "[1],\"b\":2",
        ] {
            assert!(!accepted(v), "{v}");
        }
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(!accepted(&deep));
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(accepted(&ok));
    }

    #[test]
    fn cuts_at_the_first_key_and_needs_the_closing_brace() {
        assert_eq!(
            split(r#"{"a":1,"transactions":[1]}"#),
            Some((r#"{"a":1"#, "[1]"))
        );
        assert_eq!(split(r#"{"a":1,"transactions":[1]"#), None);
        assert_eq!(split(r#"{"transactions":[1]}"#), None);
        // A nested key of that name is found first; the caller's check of the
        // part before it (`{"a":{"b":1}` is not an object) then fails.
        assert_eq!(
            split(r#"{"a":{"b":1,"transactions":2},"transactions":[]}"#),
            None
        );
    }
}
