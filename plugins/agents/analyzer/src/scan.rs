//! Reads the pipeline's own `transactions.enriched` text straight from its bytes.
//!
//! Why not serde: on the sample (68 transactions, 17 KB) serde_json's read into
//! borrowed structs cost ~460k fuel, over half the analyzer's (field matching,
//! `Skip` visitors, strings scanned 4 bytes a step on wasm32; even `IgnoredAny`
//! over the text costs ~330k). This reader costs ~320k. It is the fast path
//! only, so it is deliberately narrow and says `None` (→ the `Value` path)
//! whenever it is unsure; it must never accept a text the `Value` path rejects,
//! nor read a value differently.
//!
//! What it reads: compact JSON (no whitespace between tokens), the top-level keys
//! `errors`, `question`, `transactions` in any order and each at most once, and
//! transactions with only the enricher's keys, each at most once. The strings the
//! analysis prints must hold no escape and no control character — exactly the
//! strings that need no escaping when printed, so they are printed verbatim — and
//! its integers must be plain (`-0`, which serde_json reads as a float, and 19+
//! digits go to the `Value` path). The fields it skips must be strings with only
//! the short escapes (`\n`, `\"`, …), which are valid wherever they appear; `\u`
//! escapes (a lone surrogate is an error) and non-string values go to the
//! `Value` path. `errors` and `question` are any JSON, read by serde_json itself.

use djinn_sdk::json::text::plain_len;
use serde_json::Value;

use crate::Tx;

/// The parts of a `transactions.enriched` payload the analysis uses.
pub(crate) struct Enriched<'a> {
    /// `None` when absent; `Some(Value::Null)` when given as `null`.
    pub errors: Option<Value>,
    pub question: Option<Value>,
    pub txs: Vec<Tx<'a>>,
    /// Each transaction's `merchant`, in the order of `txs`.
    pub merchants: Vec<&'a str>,
}

/// `payload` read as described in the module docs, or `None` for the `Value` path
/// (also when there are no transactions, which that path refuses).
pub(crate) fn enriched(payload: &str) -> Option<Enriched<'_>> {
    let mut c = Cursor {
        text: payload,
        at: 0,
    };
    let mut errors = None;
    let mut question = None;
    let mut txs = None;
    c.expect(b'{')?;
    loop {
        match c.key()? {
            "errors" => once(&mut errors, c.json()?)?,
            "question" => once(&mut question, c.json()?)?,
            "transactions" => once(&mut txs, c.transactions()?)?,
            _ => return None,
        }
        if !c.next_is(b',') {
            break;
        }
    }
    c.expect(b'}')?;
    let (txs, merchants) = txs?;
    (c.at == payload.len() && !txs.is_empty()).then_some(Enriched {
        errors,
        question,
        txs,
        merchants,
    })
}

/// Fills `slot` with `value`, or `None` if it was already filled (a duplicate key,
/// where the `Value` path keeps the last and this reader would keep the first).
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    slot.replace(value).is_none().then_some(())
}

/// Nesting deeper than this in `errors` or `question` goes to the `Value` path:
/// serde_json's recursion limit (128) counts from the payload's top level there
/// but from the value itself here, so near the limit the two could disagree.
const MAX_DEPTH: usize = 64;

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a [u8] {
        self.text.as_bytes().get(self.at..).unwrap_or_default()
    }

    /// Steps over `b` if it is next.
    fn next_is(&mut self, b: u8) -> bool {
        let found = self.rest().first() == Some(&b);
        self.at += usize::from(found);
        found
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        self.next_is(b).then_some(())
    }

    /// A string with no escape and no control character: the strings serde_json
    /// borrows from its input and prints back unchanged.
    fn plain_str(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let len = special_at(self.rest())?;
        // Ends at an ASCII `"`, so both ends are char boundaries.
        let s = self.text.get(self.at..self.at + len)?;
        self.at += len;
        self.expect(b'"')?;
        Some(s)
    }

    /// An object key and its `:`, to be matched against known keys only: up to the
    /// first `"`, since a key with an escape or control character in it matches
    /// none of them anyway (fuel: one test a byte instead of three).
    fn key(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let len = self.rest().iter().position(|&b| b == b'"')?;
        let k = self.text.get(self.at..self.at + len)?;
        self.at += len + 1;
        self.expect(b':')?;
        Some(k)
    }

    /// A string the analysis does not read: checked as strictly as serde_json
    /// checks it, allowing only the escapes that are always valid.
    fn skip_str(&mut self) -> Option<()> {
        self.expect(b'"')?;
        loop {
            self.at += special_at(self.rest())?;
            if self.next_is(b'"') {
                return Some(());
            }
            self.expect(b'\\')?;
            match self.rest().first()? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 1,
                _ => return None,
            }
        }
    }

    /// An integer as serde_json reads one into an `i64` (and `Value::as_i64`
    /// returns): no leading zero, no `-0`, at most 18 digits so it cannot overflow.
    /// A fraction or exponent after it fails the caller's `,` or `}`.
    fn int(&mut self) -> Option<i64> {
        let negative = self.next_is(b'-');
        let digits = self.rest();
        let mut n = 0i64;
        let mut len = 0;
        while let Some(&d @ b'0'..=b'9') = digits.get(len) {
            if len == 18 || (len == 1 && n == 0) {
                return None;
            }
            n = n * 10 + i64::from(d - b'0');
            len += 1;
        }
        if len == 0 || (negative && n == 0) {
            return None;
        }
        self.at += len;
        Some(if negative { -n } else { n })
    }

    /// Any JSON value, read by serde_json (as the `Value` path reads it).
    fn json(&mut self) -> Option<Value> {
        let mut values =
            serde_json::Deserializer::from_str(self.text.get(self.at..)?).into_iter::<Value>();
        let v = values.next()?.ok()?;
        self.at += values.byte_offset();
        (depth(&v) <= MAX_DEPTH).then_some(v)
    }

    fn transactions(&mut self) -> Option<(Vec<Tx<'a>>, Vec<&'a str>)> {
        self.expect(b'[')?;
        // fuel: ~250 bytes a transaction; sized once instead of regrown.
        let guess = self.rest().len() / 200;
        let mut txs = Vec::with_capacity(guess);
        let mut merchants = Vec::with_capacity(guess);
        if self.next_is(b']') {
            return Some((txs, merchants));
        }
        loop {
            let (t, merchant) = self.transaction()?;
            txs.push(t);
            merchants.push(merchant);
            if !self.next_is(b',') {
                break;
            }
        }
        self.expect(b']')?;
        Some((txs, merchants))
    }

    /// One transaction: the fields the analysis and its branches read (all
    /// required) and the enricher's other fields (optional, skipped).
    fn transaction(&mut self) -> Option<(Tx<'a>, &'a str)> {
        let (mut line, mut amount_cents, mut category, mut currency, mut date, mut merchant) =
            (None, None, None, None, None, None);
        let (mut account, mut category_source, mut description, mut kind) =
            (None, None, None, None);
        self.expect(b'{')?;
        loop {
            match self.key()? {
                "account" => once(&mut account, self.skip_str()?)?,
                "amount_cents" => once(&mut amount_cents, self.int()?)?,
                "category" => once(&mut category, self.plain_str()?)?,
                "category_source" => once(&mut category_source, self.skip_str()?)?,
                "currency" => once(&mut currency, self.plain_str()?)?,
                "date" => once(&mut date, self.plain_str()?)?,
                "description" => once(&mut description, self.skip_str()?)?,
                "line" => once(&mut line, self.int()?)?,
                "merchant" => once(&mut merchant, self.plain_str()?)?,
                "type" => once(&mut kind, self.skip_str()?)?,
                _ => return None,
            }
            if !self.next_is(b',') {
                break;
            }
        }
        self.expect(b'}')?;
        let t = Tx {
            line: line?,
            date: date?,
            amount_cents: amount_cents?,
            category: category?,
            currency: currency?,
        };
        Some((t, merchant?))
    }
}

/// Where the first `"`, `\` or control character is in `bytes`: the end of a
/// string's plain run, `None` when the run reaches the end.
fn special_at(bytes: &[u8]) -> Option<usize> {
    let len = plain_len(bytes);
    (len < bytes.len()).then_some(len)
}
