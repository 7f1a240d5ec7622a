//! A reader for the few JSON shapes the fast paths accept, over the raw bytes.
//!
//! Why not serde: deserialising `transactions.normalized` into borrowed structs
//! cost ~33 fuel a byte, mostly serde's per-field machinery; this reader only
//! checks the bytes it expects and slices strings out of the text. It accepts a
//! strict subset of JSON: every method answers `None` when the text is not
//! exactly what it expects, and the caller then falls back to `serde_json`.

use djinn_sdk::json::text::plain_len;

/// Whether `a` and `b` hold the same bytes.
///
/// fuel: `==` on slices calls wasm's byte-at-a-time `memcmp` (~19 instructions a
/// byte); this compares eight bytes at a time, and inlined with a literal it
/// folds into a few loads and compares against constants.
#[inline(always)]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    match (a.last_chunk::<8>(), b.last_chunk::<8>()) {
        // The last word overlaps the others when the length is not a multiple
        // of eight: every byte is still compared.
        (Some(a_last), Some(b_last)) => {
            let (a_words, _) = a.as_chunks::<8>();
            let (b_words, _) = b.as_chunks::<8>();
            word(a_last) == word(b_last)
                && a_words.iter().zip(b_words).all(|(x, y)| word(x) == word(y))
        }
        _ => padded(a) == padded(b),
    }
}

fn word(bytes: &[u8; 8]) -> u64 {
    u64::from_ne_bytes(*bytes)
}

/// Up to eight bytes as one word, zero-padded (both sides of a comparison have
/// the same length, so the padding cannot make different bytes equal).
#[inline(always)]
fn padded(short: &[u8]) -> u64 {
    let mut word = [0; 8];
    let n = short.len().min(8);
    word[..n].copy_from_slice(&short[..n]);
    u64::from_ne_bytes(word)
}

/// A position in a JSON text.
pub struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    pub fn new(text: &'a str) -> Self {
        Scanner { text, pos: 0 }
    }

    /// The byte offset reached.
    pub fn pos(&self) -> usize {
        self.pos
    }

    fn rest(&self) -> &'a [u8] {
        self.text.as_bytes().get(self.pos..).unwrap_or_default()
    }

    /// Whether the whole text has been read.
    pub fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    /// Skips JSON whitespace (exactly the four bytes serde_json skips).
    pub fn skip_ws(&mut self) {
        let n = self
            .rest()
            .iter()
            .position(|b| !matches!(b, b' ' | b'\n' | b'\t' | b'\r'))
            .unwrap_or(self.rest().len());
        self.pos += n;
    }

    /// Reads `lit` if the text continues with it.
    #[inline(always)]
    pub fn eat(&mut self, lit: &str) -> bool {
        let found = self
            .rest()
            .get(..lit.len())
            .is_some_and(|head| same_bytes(head, lit.as_bytes()));
        if found {
            self.pos += lit.len();
        }
        found
    }

    /// Reads `lit`, or gives `None`.
    #[inline(always)]
    pub fn expect(&mut self, lit: &str) -> Option<()> {
        self.eat(lit).then_some(())
    }

    /// A string without escapes: its body, borrowed from the text. Its JSON text
    /// is `"body"`, which is also how serde_json prints it back (it escapes only
    /// `"`, `\` and control characters, none of which can be in the body).
    pub fn string(&mut self) -> Option<&'a str> {
        let rest = self.rest();
        if rest.first() != Some(&b'"') {
            return None;
        }
        let len = plain_len(&rest[1..]);
        if rest.get(1 + len) != Some(&b'"') {
            return None; // an escape, a control character or the end of the text
        }
        let start = self.pos + 1;
        self.pos = start + len + 1;
        // `"` is ASCII, so both ends are char boundaries.
        self.text.get(start..start + len)
    }

    /// An integer that serde_json reads as an `i64` and prints back as the same
    /// text: `0` or an optional `-` and up to 18 digits without a leading zero
    /// (`-0` is read as the float `-0.0`, longer ones may not fit). Any fraction
    /// or exponent is left unread, so the caller's next `expect` fails on it.
    pub fn integer(&mut self) -> Option<&'a str> {
        let rest = self.rest();
        let negative = rest.first() == Some(&b'-');
        let digits = &rest[usize::from(negative)..];
        let n = digits
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(digits.len());
        let canonical = match digits.first() {
            Some(b'0') => n == 1 && !negative,
            Some(_) => n <= 18,
            None => false,
        };
        if !canonical || n == 0 {
            return None;
        }
        let start = self.pos;
        self.pos += usize::from(negative) + n;
        self.text.get(start..self.pos)
    }

    /// Any one JSON value, read by serde_json from here on.
    pub fn value(&mut self) -> Option<serde_json::Value> {
        let rest = self.text.get(self.pos..)?;
        let mut values = serde_json::Deserializer::from_str(rest).into_iter();
        let value = values.next()?.ok()?;
        self.pos += values.byte_offset();
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_is_slice_equality() {
        let words: Vec<Vec<u8>> = [
            "",
            "a",
            "b",
            "ab",
            "abcdefg",
            "abcdefh",
            "abcdefgh",
            "abcdefgi",
            "bbcdefgh",
            "abcdefghi",
            "abcdefghj",
            "abcdefgh\0",
            "AMAZON",
            "AMAZON PRIME",
            "AMAZON PRIMF",
            "amazon",
            "CAFÉ",
            "CAFE",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        for a in &words {
            for b in &words {
                assert_eq!(same_bytes(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn strings_without_escapes_are_borrowed() {
        let mut s = Scanner::new(r#""Café 🚀","""#);
        assert_eq!(s.string(), Some("Café 🚀"));
        assert!(s.eat(","));
        assert_eq!(s.string(), Some(""));
        assert!(s.at_end());
        for text in [r#""a\"b""#, r#""a\nb""#, "\"a\tb\"", r#""abc"#, "abc", ""] {
            assert_eq!(Scanner::new(text).string(), None, "{text}");
        }
    }

    #[test]
    fn integers_are_the_ones_that_print_back_the_same() {
        for text in ["0", "7", "-7", "8500000", "-2500000", "999999999999999999"] {
            let mut s = Scanner::new(text);
            assert_eq!(s.integer(), Some(text));
            assert!(s.at_end());
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(v.to_string(), text);
        }
        for text in ["-0", "01", "-01", "-", "", "x", "1234567890123456789"] {
            assert_eq!(Scanner::new(text).integer(), None, "{text}");
        }
        // A fraction or exponent is left for the caller to reject.
        let mut s = Scanner::new("1.5");
        assert_eq!(s.integer(), Some("1"));
        assert!(!s.eat(","));
    }

    #[test]
    fn a_value_is_read_up_to_its_end() {
        let mut s = Scanner::new(r#"[{"line":28}],"q""#);
        assert_eq!(s.value(), Some(serde_json::json!([{"line": 28}])));
        assert!(s.eat(","));
        assert_eq!(s.string(), Some("q"));
        assert_eq!(Scanner::new("[1,").value(), None);
        assert_eq!(Scanner::new("1x").value(), None);
    }

    #[test]
    fn whitespace_is_json_whitespace() {
        let mut s = Scanner::new(" \t\r\n\u{b}x");
        s.skip_ws();
        assert_eq!(s.pos(), 4);
    }
}
