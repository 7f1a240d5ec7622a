//! The merchant table as the fast path reads it: a hash index over the same
//! entries as [`Table`](crate::Table), built and looked up without allocating
//! per entry or per merchant.
//!
//! Why: [`lookup`](crate::lookup) upper-cases the merchant into a new `String`
//! and searches a `BTreeMap` with byte-at-a-time `memcmp`s, ~1.8k fuel per
//! transaction; [`parse_table`](crate::parse_table) allocates every key and
//! category twice and case-maps them char by char, ~180k fuel on an instance's
//! first call.

use crate::Table;
use crate::scan::{Scanner, same_bytes};

/// Upper-cased merchant (or merchant prefix) → lower-case category: the same
/// entries as the [`Table`] parsed from the same config.
#[derive(Default)]
pub struct MerchantIndex {
    /// Every key and category end to end, so the index is one allocation.
    text: String,
    entries: Vec<Entry>,
    /// Open addressing: `1 +` an index into `entries`, `0` for a free slot. A
    /// power of two at least twice `entries.len()`, so probes stay short.
    slots: Vec<u32>,
}

/// An entry's key is `text[start..mid]`, its category `text[mid..end]`.
struct Entry {
    start: usize,
    mid: usize,
    end: usize,
}

/// Longest merchant upper-cased on the stack; longer ones take the general path.
const STACK_MERCHANT: usize = 64;

impl MerchantIndex {
    /// The index of a table [`parse_table`](crate::parse_table) accepted.
    pub fn from_table(table: &Table) -> Self {
        let mut index = MerchantIndex::default();
        for (merchant, category) in table {
            let start = index.text.len();
            index.text.push_str(merchant);
            let mid = index.text.len();
            index.text.push_str(category);
            let end = index.text.len();
            index.entries.push(Entry { start, mid, end });
        }
        // A table's keys are unique, so this cannot fail.
        index.fill_slots().unwrap_or_default()
    }

    /// The index of a config value, read without serde, when the reading is
    /// sure to agree with [`parse_table`](crate::parse_table): a JSON object of
    /// strings without escapes, no entry empty once trimmed, and no two keys the
    /// same once upper-cased (where `parse_table` would keep one by key order).
    /// Otherwise `None`, and the caller builds it with [`Self::from_table`].
    pub fn parse(json: &str) -> Option<Self> {
        let mut index = MerchantIndex {
            text: String::with_capacity(json.len()),
            ..MerchantIndex::default()
        };
        let mut s = Scanner::new(json);
        s.skip_ws();
        s.expect("{")?;
        s.skip_ws();
        if !s.eat("}") {
            loop {
                let start = index.text.len();
                push_normalized(&mut index.text, s.string()?, Case::Upper);
                let mid = index.text.len();
                s.skip_ws();
                s.expect(":")?;
                s.skip_ws();
                push_normalized(&mut index.text, s.string()?, Case::Lower);
                let end = index.text.len();
                if start == mid || mid == end {
                    return None; // `parse_table` drops it, maybe after a duplicate
                }
                index.entries.push(Entry { start, mid, end });
                s.skip_ws();
                if s.eat("}") {
                    break;
                }
                s.expect(",")?;
                s.skip_ws();
            }
        }
        s.skip_ws();
        if !s.at_end() {
            return None;
        }
        index.fill_slots()
    }

    /// Hashes every entry into `slots`; `None` if two have the same key.
    fn fill_slots(mut self) -> Option<Self> {
        self.slots = vec![0; (self.entries.len() * 2).next_power_of_two()];
        let mask = self.slots.len() - 1;
        for (i, entry) in self.entries.iter().enumerate() {
            let key = self.text.as_bytes().get(entry.start..entry.mid)?;
            let mut slot = hash(key) as usize & mask;
            while let Some(other) = self.slots[slot].checked_sub(1) {
                let other = self.entries.get(other as usize)?;
                if same_bytes(self.key(other), key) {
                    return None;
                }
                slot = (slot + 1) & mask;
            }
            self.slots[slot] = u32::try_from(i + 1).ok()?;
        }
        Some(self)
    }

    fn key(&self, entry: &Entry) -> &[u8] {
        self.text
            .as_bytes()
            .get(entry.start..entry.mid)
            .unwrap_or_default()
    }

    /// The category stored for exactly this (already upper-cased) key, whose
    /// [`hash`] is `hash`.
    fn get(&self, key: &[u8], hash: u32) -> Option<&str> {
        let mask = self.slots.len().checked_sub(1)?;
        let mut slot = hash as usize & mask;
        loop {
            let entry = self
                .entries
                .get(self.slots[slot].checked_sub(1)? as usize)?;
            if same_bytes(self.key(entry), key) {
                return self.text.get(entry.mid..entry.end);
            }
            slot = (slot + 1) & mask;
        }
    }

    /// The same answer as [`lookup`](crate::lookup) on the same entries: the
    /// entry for the trimmed, upper-cased merchant, else for its first word.
    pub fn lookup(&self, merchant: &str) -> Option<&str> {
        let mut buf = [0; STACK_MERCHANT];
        match upper_ascii(merchant, &mut buf) {
            Some(m) => {
                let upper = buf.get(..m.len)?;
                let word = buf.get(..m.word_len)?;
                self.get(upper, m.hash)
                    .or_else(|| self.get(word, m.word_hash))
            }
            None => {
                let upper = merchant.trim().to_uppercase();
                let word = upper.split_whitespace().next();
                self.get(upper.as_bytes(), hash(upper.as_bytes()))
                    .or_else(|| word.and_then(|w| self.get(w.as_bytes(), hash(w.as_bytes()))))
            }
        }
    }

    /// Every entry, in no particular order.
    #[cfg(test)]
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|e| {
            let text = |r: std::ops::Range<usize>| self.text.get(r).unwrap_or_default();
            (text(e.start..e.mid), text(e.mid..e.end))
        })
    }
}

/// An ASCII merchant upper-cased by [`upper_ascii`]: its length and hash, and
/// those of its first word (all of it if it has one word).
struct UpperAscii {
    len: usize,
    hash: u32,
    word_len: usize,
    word_hash: u32,
}

/// Writes `merchant.trim().to_uppercase()` into `buf` in one pass that also
/// hashes it and finds its first word; `None` if the merchant is not ASCII or
/// too long for `buf` (the caller then takes the general path).
///
/// For ASCII text `trim` and `split_whitespace` split at ASCII whitespace bytes
/// and `to_uppercase` is `to_ascii_uppercase`, so this agrees with
/// [`lookup`](crate::lookup). fuel: the buffer is the caller's, since moving a
/// struct that holds it costs a fuel unit a byte (`memory.copy`).
fn upper_ascii(merchant: &str, buf: &mut [u8; STACK_MERCHANT]) -> Option<UpperAscii> {
    let bytes = trim_ascii_space(merchant.as_bytes());
    let mut hash = FNV_OFFSET;
    let mut first_space = None;
    for (i, (slot, &b)) in buf
        .get_mut(..bytes.len())?
        .iter_mut()
        .zip(bytes)
        .enumerate()
    {
        if !b.is_ascii() {
            return None;
        }
        if first_space.is_none() && is_ascii_space(b) {
            first_space = Some((i, hash));
        }
        *slot = b.to_ascii_uppercase();
        hash = fnv_step(hash, *slot);
    }
    let (word_len, word_hash) = first_space.unwrap_or((bytes.len(), hash));
    Some(UpperAscii {
        len: bytes.len(),
        hash,
        word_len,
        word_hash,
    })
}

/// `char::is_whitespace` for an ASCII byte (which, unlike
/// `u8::is_ascii_whitespace`, includes the vertical tab).
fn is_ascii_space(b: u8) -> bool {
    b.is_ascii() && char::from(b).is_whitespace()
}

/// `str::trim` for text whose ends are ASCII (a non-ASCII end is left alone,
/// and [`upper_ascii`] then rejects it).
fn trim_ascii_space(mut bytes: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = bytes
        && is_ascii_space(*first)
    {
        bytes = rest;
    }
    while let [rest @ .., last] = bytes
        && is_ascii_space(*last)
    {
        bytes = rest;
    }
    bytes
}

#[derive(Clone, Copy)]
enum Case {
    Upper,
    Lower,
}

/// Pushes `raw.trim()` upper- or lower-cased as `str::to_uppercase` /
/// `str::to_lowercase` would, in place when it is ASCII.
///
/// fuel: the std functions allocate and map the last few bytes char by char,
/// ~800 instructions for a short key; ASCII in place is ~10 a byte.
fn push_normalized(text: &mut String, raw: &str, case: Case) {
    let raw = raw.trim();
    let start = text.len();
    if raw.is_ascii() {
        text.push_str(raw);
        let pushed = &mut text[start..];
        match case {
            Case::Upper => pushed.make_ascii_uppercase(),
            Case::Lower => pushed.make_ascii_lowercase(),
        }
    } else {
        text.push_str(&match case {
            Case::Upper => raw.to_uppercase(),
            Case::Lower => raw.to_lowercase(),
        });
    }
}

const FNV_OFFSET: u32 = 0x811c_9dc5;

fn fnv_step(hash: u32, byte: u8) -> u32 {
    (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
}

/// FNV-1a: a few instructions a byte, and plenty for a table of a few hundred
/// short keys that come from the operator, not from messages.
fn hash(key: &[u8]) -> u32 {
    key.iter().fold(FNV_OFFSET, |h, &b| fnv_step(h, b))
}
