//! Reading JSON text that is already in the exact form `serde_json` prints a
//! `Value` in, so that spans of it can be copied into a reply instead of being
//! parsed into a `Value` tree and printed again.
//!
//! Why: the supervisor forwards most of what it receives unchanged, and the
//! messages it receives were printed by `serde_json` from `Value`s. Building the
//! tree of a 15 KB `analysis.gathered` and printing it again cost about 1.3M
//! instructions; checking the text and copying it costs a fraction of that.
//!
//! The copy is only the same bytes as the print when printing the parsed text
//! would give the text back, so [`Reader`] accepts nothing else: no whitespace,
//! object keys in strictly increasing byte order (a `Value` object is a
//! `BTreeMap`; strictly also means no duplicate keys, where the last would win),
//! keys without escapes (their escaped and unescaped orders can differ), strings
//! escaped exactly as `serde_json` escapes them, integers that stay integers, and
//! floats that print back to themselves. Whatever it accepts is also valid JSON
//! that a `Value` reads without error, nested well inside `serde_json`'s depth
//! limit. Everything else makes it give up (`None`), and the caller takes the
//! `Value` path, which stays the definition of what a message means.

use std::ops::Range;

use djinn_sdk::json::text::escape_mask;

/// `serde_json` refuses nesting past 127 levels; giving up well short of that
/// means a text the `Value` path refuses is never accepted here.
const MAX_DEPTH: usize = 100;

/// A cursor over a JSON text in canonical form. Every method returns `None` as
/// soon as the text is not (or might not be) canonical.
pub struct Reader<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
    /// Reused to print floats back; most texts hold a few dozen.
    float_buf: Vec<u8>,
}

impl<'a> Reader<'a> {
    pub fn new(text: &'a str) -> Reader<'a> {
        Reader {
            text,
            pos: 0,
            depth: 0,
            float_buf: Vec::new(),
        }
    }

    /// The byte offset of the cursor.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The next byte, not consumed.
    pub fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// The text of `range`; the ranges this reader hands out all lie on ASCII
    /// bytes, so this is `None` only for a range made up elsewhere.
    pub fn span(&self, range: Range<usize>) -> Option<&'a str> {
        self.text.get(range)
    }

    /// Succeeds when the whole text has been read (no trailing whitespace either:
    /// it would not be printed back).
    pub fn end(&self) -> Option<()> {
        (self.pos == self.text.len()).then_some(())
    }

    /// Reads one value of any kind and returns its text.
    pub fn value_text(&mut self) -> Option<&'a str> {
        let start = self.pos;
        self.value()?;
        self.span(start..self.pos)
    }

    /// Reads one value of any kind.
    pub fn value(&mut self) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(|r, _, _| r.value()),
            b'[' => self.array(),
            b'"' => self.string().map(drop),
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => None,
        }
    }

    /// Reads an object. For each member, `member` gets the reader positioned at
    /// the value, the key, and the offset where the member (its key) starts; it
    /// must read the value.
    pub fn object(
        &mut self,
        mut member: impl FnMut(&mut Reader<'a>, &'a [u8], usize) -> Option<()>,
    ) -> Option<()> {
        self.enter(b'{')?;
        let mut previous: Option<&[u8]> = None;
        if !self.eat(b'}') {
            loop {
                let start = self.pos;
                let escaped = self.string()?;
                // `str` orders as its bytes do, and so does the `BTreeMap`
                let key = self.text.as_bytes().get(start + 1..self.pos - 1)?;
                if escaped || previous.is_some_and(|p| p >= key) {
                    return None;
                }
                self.expect(b':')?;
                member(self, key, start)?;
                previous = Some(key);
                if self.eat(b'}') {
                    break;
                }
                self.expect(b',')?;
            }
        }
        self.depth -= 1;
        Some(())
    }

    fn array(&mut self) -> Option<()> {
        self.enter(b'[')?;
        if !self.eat(b']') {
            loop {
                self.value()?;
                if self.eat(b']') {
                    break;
                }
                self.expect(b',')?;
            }
        }
        self.depth -= 1;
        Some(())
    }

    /// Reads a string and returns whether it holds an escape.
    fn string(&mut self) -> Option<bool> {
        self.expect(b'"')?;
        let bytes = self.text.as_bytes();
        let mut escaped = false;
        loop {
            self.skip_plain();
            let b = *bytes.get(self.pos)?;
            self.pos += 1;
            match b {
                b'"' => return Some(escaped),
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                // `serde_json` prints every control character escaped, and reads
                // a raw one as an error.
                0x00..=0x1f => return None,
                // The text is a `str`, so the rest is valid UTF-8, which
                // `serde_json` prints raw, as it is here.
                _ => {}
            }
        }
    }

    /// Moves past the bytes that stand for themselves in a string: all but `"`,
    /// `\` and control characters.
    fn skip_plain(&mut self) {
        // fuel: a byte-at-a-time loop costs ~25 wasm instructions a byte, testing
        // eight bytes at once as a u64 about 3
        let bytes = self.text.as_bytes();
        while let Some(word) = bytes
            .get(self.pos..self.pos + 8)
            .and_then(|word| <[u8; 8]>::try_from(word).ok())
        {
            let special = escape_mask(u64::from_le_bytes(word));
            if special != 0 {
                // the lowest flagged byte is exact; see `escape_mask`
                self.pos += (special.trailing_zeros() / 8) as usize;
                return;
            }
            self.pos += 8;
        }
        while bytes
            .get(self.pos)
            .is_some_and(|&b| b != b'"' && b != b'\\' && b >= 0x20)
        {
            self.pos += 1;
        }
    }

    /// After a `\`: only the escapes `serde_json` prints. It writes `\u` only
    /// for control characters without a short form, as `\u00` and two lowercase
    /// hex digits; `\/`, `\u00e9` or `\u001F` read fine but print differently.
    fn escape(&mut self) -> Option<()> {
        let bytes = self.text.as_bytes();
        match *bytes.get(self.pos)? {
            b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => self.pos += 1,
            b'u' => {
                let code = match *bytes.get(self.pos + 1..self.pos + 5)? {
                    [
                        b'0',
                        b'0',
                        high @ b'0'..=b'1',
                        low @ (b'0'..=b'9' | b'a'..=b'f'),
                    ] => {
                        let low = if low <= b'9' {
                            low - b'0'
                        } else {
                            low - b'a' + 10
                        };
                        (high - b'0') * 16 + low
                    }
                    _ => return None,
                };
                if matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                    return None;
                }
                self.pos += 5;
            }
            _ => return None,
        }
        Some(())
    }

    /// A number is canonical when `serde_json` prints it back unchanged: an
    /// integer that fits `u64` (or `i64` when negative, but not `-0`, which
    /// becomes the float `-0.0`), or a float in the shortest form that prints.
    fn number(&mut self) -> Option<()> {
        let start = self.pos;
        let negative = self.eat(b'-');
        let digits = self.digits()?;
        if digits.len() > 1 && digits.starts_with(b"0") {
            return None;
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            if self.eat(b'.') {
                self.digits()?;
            }
            if self.eat(b'e') || self.eat(b'E') {
                if !self.eat(b'+') {
                    self.eat(b'-');
                }
                self.digits()?;
            }
            return self.float_prints_back(start..self.pos);
        }
        // fuel: compared as digit strings, because a checked u64 multiply is a
        // call to a 128-bit multiply on wasm32 (~100 instructions a digit); digit
        // strings of one length order as their numbers do
        let fits =
            |max: &[u8]| digits.len() < max.len() || digits.len() == max.len() && digits <= max;
        let fits = if negative {
            digits != b"0" && fits(b"9223372036854775808")
        } else {
            fits(b"18446744073709551615")
        };
        fits.then_some(())
    }

    /// Reads the float with `serde_json` itself and prints it back: its reading
    /// is not always the correctly rounded one, so only its own round trip says
    /// what the `Value` path would print. Floats are rare enough that the cost
    /// (a few hundred instructions each) does not matter.
    fn float_prints_back(&mut self, range: Range<usize>) -> Option<()> {
        let text = self.span(range)?;
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        self.float_buf.clear();
        serde_json::to_writer(&mut self.float_buf, &value).ok()?;
        (self.float_buf == text.as_bytes()).then_some(())
    }

    /// One or more ASCII digits.
    fn digits(&mut self) -> Option<&'a [u8]> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        while bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        bytes.get(start..self.pos).filter(|d| !d.is_empty())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let bytes = self.text.as_bytes();
        if bytes.get(self.pos..self.pos + word.len())? != word {
            return None;
        }
        self.pos += word.len();
        Some(())
    }

    fn enter(&mut self, open: u8) -> Option<()> {
        self.expect(open)?;
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        self.eat(b).then_some(())
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.pos += 1;
        }
        hit
    }
}
