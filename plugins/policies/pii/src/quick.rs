//! The quick screen: a block pass in front of the exact screen
//! ([`super::may_hold_pii`]).
//!
//! Why: the exact screen looks closely at every word that holds a digit (about
//! 1,000 fuel a word), and pipeline messages are bank statements: every row has a
//! date, an amount and often a reference number, and none of those can be PII.
//! Which places *can* hold PII shows in byte classes alone, so this pass builds,
//! 64 bytes at a time, masks of digits, letters and a few punctuation bytes (with
//! wasm SIMD in the component: a few dozen instructions per 16 bytes) and looks
//! closer only where a detector's shape fits:
//!
//! - an email needs an `@`;
//! - a PAN (`ABCPE1234F`) and an IBAN (`GB82 …`) need a letter followed by two
//!   digits, in the word that would be the PAN or start the IBAN;
//! - a card, phone, Aadhaar or SSN is a number run of 8 or more digits, which
//!   lies inside 8 or more digits and separators in a row;
//! - a JSON number that `walk` prints differently from its text has an
//!   exponent (a digit, then `e`) or 8 or more digits and a fraction, or 19 or
//!   more digits: 9 or more digits and dots in a row either way;
//! - a JSON escape changes what a scanner sees only if it is `\u`, malformed,
//!   or a letter escape (`\n`, …) before a letter, which can make the word after
//!   it a PAN or the start of an IBAN (see `escaped_strings_may_hold_pii`).
//!
//! At each such place it runs the exact screen's own checks on that place only.
//! So `false` means the exact screen finds nothing either (the tests check this
//! on generated payloads); `true` means "run the exact screen".

use super::{
    Escape, Finding, Kind, email_at, escape_at, iban_at, is_alnum, is_pan, is_sep, number_findings,
    number_token_may_hold_pii,
};

/// Bytes per block; one bit of a `u64` mask each.
const BLOCK: usize = 64;

/// Byte classes of one block: bit `i` is byte `i`.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
struct Masks {
    digit: u64,
    /// ASCII letters.
    alpha: u64,
    at: u64,
    backslash: u64,
    dot: u64,
    /// `e` or `E`.
    exp: u64,
    /// What a number run allows between digit groups ([`is_sep`]).
    sep: u64,
}

/// [`Masks`] with wasm SIMD: 16 bytes per compare.
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128")]
fn masks(block: &[u8; BLOCK]) -> Masks {
    use core::arch::wasm32::*;
    let mut m = Masks::default();
    for k in 0..BLOCK / 16 {
        // SAFETY: bytes `16k..16k + 16` are inside `block` (k < 4), and
        // `v128_load` has no alignment requirement.
        let v = unsafe { v128_load(block.as_ptr().add(k * 16).cast::<v128>()) };
        let shift = k * 16;
        let lower = v128_or(v, u8x16_splat(0x20));
        let dot = i8x16_eq(v, u8x16_splat(b'.'));
        // `(` and `)` are 0x28 and 0x29.
        let paren = i8x16_eq(v128_and(v, u8x16_splat(0xfe)), u8x16_splat(b'('));
        let sep = v128_or(
            v128_or(
                i8x16_eq(v, u8x16_splat(b' ')),
                i8x16_eq(v, u8x16_splat(b'-')),
            ),
            v128_or(dot, paren),
        );
        let digit = u8x16_lt(u8x16_sub(v, u8x16_splat(b'0')), u8x16_splat(10));
        let alpha = u8x16_lt(u8x16_sub(lower, u8x16_splat(b'a')), u8x16_splat(26));
        m.digit |= u64::from(i8x16_bitmask(digit)) << shift;
        m.alpha |= u64::from(i8x16_bitmask(alpha)) << shift;
        m.at |= u64::from(i8x16_bitmask(i8x16_eq(v, u8x16_splat(b'@')))) << shift;
        m.backslash |= u64::from(i8x16_bitmask(i8x16_eq(v, u8x16_splat(b'\\')))) << shift;
        m.dot |= u64::from(i8x16_bitmask(dot)) << shift;
        m.exp |= u64::from(i8x16_bitmask(i8x16_eq(lower, u8x16_splat(b'e')))) << shift;
        m.sep |= u64::from(i8x16_bitmask(sep)) << shift;
    }
    m
}

/// [`Masks`] a byte at a time (native builds, where the unit tests run).
#[cfg(not(target_arch = "wasm32"))]
fn masks(block: &[u8; BLOCK]) -> Masks {
    scalar_masks(block)
}

/// The definition [`masks`] implements.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
fn scalar_masks(block: &[u8; BLOCK]) -> Masks {
    let mut m = Masks::default();
    for (i, &c) in block.iter().enumerate() {
        let bit = 1u64 << i;
        for (mask, on) in [
            (&mut m.digit, c.is_ascii_digit()),
            (&mut m.alpha, c.is_ascii_alphabetic()),
            (&mut m.at, c == b'@'),
            (&mut m.backslash, c == b'\\'),
            (&mut m.dot, c == b'.'),
            (&mut m.exp, c == b'e' || c == b'E'),
            (&mut m.sep, is_sep(c)),
        ] {
            if on {
                *mask |= bit;
            }
        }
    }
    m
}

/// The masks of block `k` of `b`; bytes past the end are 0, which is in no class.
fn block_masks(b: &[u8], k: usize) -> Masks {
    let start = k * BLOCK;
    match b.get(start..start + BLOCK) {
        Some(full) => masks(full.try_into().expect("a slice of BLOCK bytes")),
        None if start < b.len() => {
            let mut padded = [0u8; BLOCK];
            padded[..b.len() - start].copy_from_slice(&b[start..]);
            masks(&padded)
        }
        None => Masks::default(),
    }
}

/// Bit `i` of the result is bit `i + s` of the 128 bits `next:cur` (0 < s < 64):
/// the class of the byte `s` places on.
fn ahead(cur: u64, next: u64, s: u32) -> u64 {
    (cur >> s) | (next << (64 - s))
}

/// Bit `i` is set where `n` bytes in a row from `i` are all in the class.
fn runs_of(cur: u64, next: u64, n: u32) -> u64 {
    (1..n).fold(cur, |acc, s| acc & ahead(cur, next, s))
}

/// `mask` without the bits of the bytes before `until` (`base` is bit 0's byte):
/// those are inside a run already looked at.
fn from(mask: u64, base: usize, until: usize) -> u64 {
    match until.saturating_sub(base) {
        0 => mask,
        n if n >= 64 => 0,
        n => mask & (!0 << n),
    }
}

/// The positions of the set bits of `mask`, offset by `base`.
fn positions(mut mask: u64, base: usize) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let i = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            base + i
        })
    })
}

/// A class over two blocks, `next:cur`, to measure runs that start in `cur`.
#[derive(Clone, Copy)]
struct Wide(u128);

impl Wide {
    fn new(cur: u64, next: u64) -> Self {
        Wide((u128::from(next) << 64) | u128::from(cur))
    }

    /// How many bytes from bit `i` on are in the class; `None` when the run
    /// reaches past both blocks (the caller then measures it byte by byte).
    fn run_from(self, i: usize) -> Option<u32> {
        let len = (!(self.0 >> i)).trailing_zeros();
        (i as u32 + len < 128).then_some(len)
    }

    /// How many of the `len` bytes from bit `i` on are in the class.
    fn count(self, i: usize, len: u32) -> u32 {
        (self.0 >> i & ((1u128 << len) - 1)).count_ones()
    }
}

/// Whether the exact screen could find anything in `b` (see the module docs):
/// `false` only when it would not.
pub(crate) fn may_hold_pii(b: &[u8], kinds: &[Kind]) -> bool {
    let on = |k: Kind| kinds.contains(&k);
    let (email, pan, iban) = (on(Kind::Email), on(Kind::Pan), on(Kind::Iban));
    let numbers = [Kind::Card, Kind::Aadhaar, Kind::Ssn, Kind::Phone]
        .iter()
        .any(|&k| on(k));
    let mut groups = Vec::new();
    let mut found: Vec<Finding> = Vec::new();
    // Where the last run looked at ends: of digits and separators, of digits
    // and dots (number tokens), of an escape.
    let (mut run_until, mut token_until, mut escape_until) = (0, 0, 0);
    // Whether the byte before this block is a letter or digit.
    let mut alnum_before = false;
    let blocks = b.len().div_ceil(BLOCK);
    let mut cur = block_masks(b, 0);
    for k in 0..blocks {
        let next = block_masks(b, k + 1);
        let base = k * BLOCK;
        let fwd = |c: fn(&Masks) -> u64, s| ahead(c(&cur), c(&next), s);
        let alnum = cur.alpha | cur.digit;

        if email && positions(cur.at, base).any(|p| email_at(b, p).is_some()) {
            return true;
        }

        // Words a PAN or IBAN could be: a PAN is a whole word of five letters,
        // four digits and a letter; an IBAN starts a word with two letters and
        // two digits.
        let word_start = alnum & !((alnum << 1) | u64::from(alnum_before));
        let letters = |from: u32, n: u32| (from..from + n).fold(!0, |m, s| m & fwd(|m| m.alpha, s));
        let digits = |from: u32, n: u32| (from..from + n).fold(!0, |m, s| m & fwd(|m| m.digit, s));
        let mut words = 0;
        if pan {
            let alnum_after = !fwd(|m| m.alpha | m.digit, 10);
            words |= cur.alpha & letters(1, 4) & digits(5, 4) & letters(9, 1) & alnum_after;
        }
        if iban {
            words |= cur.alpha & letters(1, 1) & digits(2, 2);
        }
        if positions(words & word_start, base).any(|s| word_is_pan_or_iban(b, s, kinds)) {
            return true;
        }

        // Number runs of 8 or more digits (9 without a `+` in front) lie in runs
        // of digits and separators that hold as many digits.
        if numbers {
            let (j, j_next) = (cur.digit | cur.sep, next.digit | next.sep);
            let (wide_j, wide_d) = (Wide::new(j, j_next), Wide::new(cur.digit, next.digit));
            for p in positions(from(runs_of(j, j_next, 8), base, run_until), base) {
                if p < run_until {
                    continue;
                }
                // `p` starts the run: a run's first byte is its lowest bit here.
                let i = p - base;
                let e = match wide_j.run_from(i) {
                    Some(len) => {
                        let d = wide_d.count(i, len);
                        let plus = p > 0 && b[p - 1] == b'+';
                        if d < 8 || (d == 8 && !plus) {
                            run_until = p + len as usize;
                            continue;
                        }
                        p + len as usize
                    }
                    None => (p..b.len())
                        .find(|&i| !(b[i].is_ascii_digit() || is_sep(b[i])))
                        .unwrap_or(b.len()),
                };
                // The number runs of this stretch, as `scan_bytes` reads them.
                let mut at = p;
                while at < e {
                    if b[at].is_ascii_digit() {
                        at = number_findings(b, at, kinds, &mut groups, &mut found);
                        if !found.is_empty() {
                            return true;
                        }
                    } else {
                        at += 1;
                    }
                }
                run_until = e;
            }
        }

        // JSON numbers `walk` prints differently from their text: with an
        // exponent (a digit before the `e`), or without one and with 8 or more
        // digits and a fraction, or 19 or more digits, all in one run of digits
        // and dots.
        let (kd, kd_next) = (cur.digit | cur.dot, next.digit | next.dot);
        let (wide_k, wide_d, wide_dot) = (
            Wide::new(kd, kd_next),
            Wide::new(cur.digit, next.digit),
            Wide::new(cur.dot, next.dot),
        );
        let exponents = cur.digit & fwd(|m| m.exp, 1);
        for p in positions(
            from(exponents | runs_of(kd, kd_next, 9), base, token_until),
            base,
        ) {
            if p < token_until {
                continue;
            }
            let i = p - base;
            if exponents >> i & 1 == 0
                && let Some(len) = wide_k.run_from(i)
                // An exponent after the run: the whole token decides.
                && !matches!(b.get(p + len as usize), Some(b'e' | b'E'))
            {
                let d = wide_d.count(i, len);
                if d < 8 || (d < 19 && wide_dot.count(i, len) == 0) {
                    token_until = p + len as usize;
                    continue;
                }
            }
            let Some(d) = (p..b.len().min(p + 9)).find(|&i| b[i].is_ascii_digit()) else {
                continue;
            };
            let (end, hit) = number_token_may_hold_pii(b, d, kinds);
            if hit {
                return true;
            }
            token_until = end;
        }

        for p in positions(from(cur.backslash, base, escape_until), base) {
            if p < escape_until {
                continue;
            }
            escape_until = p + 2;
            match escape_at(b, p) {
                Escape::Harmless => {}
                // The decoded word starts right after the escape.
                Escape::GluesLetter => {
                    if word_is_pan_or_iban(b, p + 2, kinds) {
                        return true;
                    }
                }
                Escape::Opaque => return true,
            }
        }
        alnum_before = alnum >> 63 == 1;
        cur = next;
    }
    false
}

/// Whether the word starting at `s` is a PAN or starts an IBAN, for the enabled
/// kinds. A PAN is a whole word of ten, so only the ten bytes and the one after
/// them are read.
fn word_is_pan_or_iban(b: &[u8], s: usize, kinds: &[Kind]) -> bool {
    let pan =
        || b.get(s..s + 10).is_some_and(is_pan) && b.get(s + 10).is_none_or(|&c| !is_alnum(c));
    (kinds.contains(&Kind::Pan) && pan())
        || (kinds.contains(&Kind::Iban) && iban_at(b, s).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_mark_each_class() {
        let mut block = [b'_'; BLOCK];
        block[..14].copy_from_slice(b"a1@\\.eE (-)Z9 ");
        block[63] = b'7';
        let m = masks(&block);
        assert_eq!(m, scalar_masks(&block));
        assert_eq!(m.digit, 1 << 1 | 1 << 12 | 1 << 63);
        assert_eq!(m.alpha, 1 << 0 | 1 << 5 | 1 << 6 | 1 << 11);
        assert_eq!(m.at, 1 << 2);
        assert_eq!(m.backslash, 1 << 3);
        assert_eq!(m.dot, 1 << 4);
        assert_eq!(m.exp, 1 << 5 | 1 << 6);
        assert_eq!(m.sep, 1 << 4 | 1 << 7 | 1 << 8 | 1 << 9 | 1 << 10 | 1 << 13);
    }

    #[test]
    fn runs_cross_block_boundaries() {
        // Bits 60..63 of one block and 0..3 of the next: a run of 8 from bit 60.
        let (cur, next) = (0xF000_0000_0000_0000, 0xF);
        assert_eq!(runs_of(cur, next, 8), 1 << 60);
        assert_eq!(runs_of(cur, next, 9), 0);
        // Four places on: bits 56..63 hold bytes 60..67.
        assert_eq!(ahead(cur, next, 4), 0xFF00_0000_0000_0000);
    }

    #[test]
    fn statement_rows_are_passed_without_a_closer_look_at_every_number() {
        let csv = "2024-07-03,UPI/BIGBASKET/418523657812,2350.40,debit,\\n2024-07-05,NETFLIX.COM 4829,649.00,debit,\\n";
        let payload = format!(
            "{{\"csv\": \"{}\", \"amount_cents\": -235040}}",
            csv.repeat(20)
        );
        assert!(!may_hold_pii(payload.as_bytes(), &Kind::ALL));
        // Each with only its own kind enabled, so no other detector's place
        // can flag it by accident.
        for (pii, kind) in [
            ("bob@example.com", Kind::Email),
            ("ABCPE1234F", Kind::Pan),
            ("4111 1111 1111 1111", Kind::Card),
            ("+91 98765 43210", Kind::Phone),
            ("(415) 555-2671", Kind::Phone),
            ("123-45-6789", Kind::Ssn),
            ("2345 6789 0124", Kind::Aadhaar),
            ("GB82 WEST 1234 5698 7654 32", Kind::Iban),
        ] {
            let with = payload.replacen("NETFLIX.COM", pii, 1);
            assert!(may_hold_pii(with.as_bytes(), &[kind]), "{pii}");
            assert!(!may_hold_pii(payload.as_bytes(), &[kind]), "{kind:?}");
        }
        // A phone number as a float, and a PAN after an escaped newline.
        for (json, kind) in [
            (r#"{"n": 9.87654321e9}"#, Kind::Phone),
            (r#"{"n": 9876543210.0}"#, Kind::Phone),
            // An integer mantissa of 9+ digits before the exponent: prints as
            // 9876543210.0 (regression: the run of digits was skipped as too
            // short to matter before its exponent was looked at).
            (r#"{"n": 987654321e1}"#, Kind::Phone),
            (r#"{"note": "x\nABCPE1234F"}"#, Kind::Pan),
            (r#"{"note": "\u0034111 1111 1111 1111"}"#, Kind::Card),
        ] {
            assert!(may_hold_pii(json.as_bytes(), &[kind]), "{json}");
        }
    }
}
