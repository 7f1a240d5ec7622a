//! Byte-level pieces for plugins that read and print JSON text themselves on a
//! fast path (see the bundled `supervisor`, `analyzer` or `reporter`): finding
//! where a string's plain run ends, and printing integers as serde_json does.
//!
//! Why here: in a component every wasm instruction is metered as fuel, and the
//! obvious code is dear. A byte loop with three tests costs ~15 instructions a
//! byte; testing eight bytes at a time as a `u64` costs ~3. `write!` costs 1-3k
//! instructions a call and pushing digits one `char` at a time ~60 each. Each
//! plugin that needed these had written its own copy; one tested copy serves all.

const ONES: u64 = u64::from_le_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// The high bit of each byte of `word` (read little-endian, so byte 0 is the
/// lowest) that cannot stand raw in a JSON string as serde_json prints and reads
/// one: `"`, `\` or a control character (below 0x20).
///
/// The usual "has a zero byte" trick: `(x - ONES * n) & !x` flags a byte below
/// `n`. A borrow can also flag a byte *above* (later in the text than) a truly
/// flagged one, never one below, so the lowest flag is exact and the mask is
/// non-zero exactly when some byte is special; take `trailing_zeros() / 8` for
/// the first one.
#[inline]
pub fn escape_mask(word: u64) -> u64 {
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS;
    below(word ^ (ONES * u64::from(b'"')), 1)
        | below(word ^ (ONES * u64::from(b'\\')), 1)
        | below(word, 0x20)
}

/// Whether `b` cannot stand raw in a JSON string (`"`, `\`, below 0x20).
#[inline]
pub fn must_escape(b: u8) -> bool {
    b == b'"' || b == b'\\' || b < 0x20
}

/// How many bytes at the start of `bytes` can stand raw in a JSON string: the
/// index of the first byte that [`must_escape`], or `bytes.len()` if none does.
#[inline]
pub fn plain_len(bytes: &[u8]) -> usize {
    let (words, tail) = bytes.as_chunks::<8>();
    for (i, word) in words.iter().enumerate() {
        let mask = escape_mask(u64::from_le_bytes(*word));
        if mask != 0 {
            return i * 8 + mask.trailing_zeros() as usize / 8;
        }
    }
    let done = words.len() * 8;
    done + tail
        .iter()
        .position(|&b| must_escape(b))
        .unwrap_or(tail.len())
}

/// Appends `n` in decimal, as serde_json (and `Display`) print it.
#[inline]
pub fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20]; // u64::MAX has 20 digits
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // One `push_str`, not a `push` (and its capacity check) a digit. The digits
    // are ASCII, so the conversion cannot fail.
    if let Ok(digits) = std::str::from_utf8(&digits[start..]) {
        out.push_str(digits);
    }
}

/// Appends `n` in decimal, as serde_json (and `Display`) print it.
#[inline]
pub fn push_i64(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    push_u64(out, n.unsigned_abs());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte value at every position of every length up to three words,
    /// after a run of plain bytes and before more (plain or special) bytes,
    /// against a plain byte loop.
    #[test]
    fn plain_len_is_the_first_byte_to_escape() {
        let naive = |b: &[u8]| b.iter().position(|&c| must_escape(c)).unwrap_or(b.len());
        for len in 0..=24 {
            for at in 0..len {
                for byte in 0..=255u8 {
                    for after in [b'a', b'"', 0x01, 0xff] {
                        let mut bytes = vec![b'x'; len];
                        bytes[at] = byte;
                        for b in &mut bytes[at + 1..] {
                            *b = after;
                        }
                        assert_eq!(plain_len(&bytes), naive(&bytes), "{bytes:?}");
                    }
                }
            }
            assert_eq!(plain_len(&vec![b'x'; len]), len);
        }
    }

    #[test]
    fn the_mask_flags_exactly_the_bytes_to_escape_below_the_first() {
        for byte in 0..=255u8 {
            for at in 0..8 {
                let mut word = [b'x'; 8];
                word[at] = byte;
                let mask = escape_mask(u64::from_le_bytes(word));
                assert_eq!(mask != 0, must_escape(byte), "{byte:#x} at {at}");
                if mask != 0 {
                    assert_eq!(mask.trailing_zeros() as usize / 8, at);
                }
            }
        }
    }

    #[test]
    fn must_escape_is_what_serde_json_escapes() {
        for byte in 0..0x80u8 {
            let printed = serde_json::to_string(&char::from(byte).to_string()).unwrap();
            assert_eq!(must_escape(byte), printed.len() > 3, "{byte:#x}: {printed}");
        }
    }

    #[test]
    fn integers_print_as_serde_json_prints_them() {
        let mut cases = vec![0, 1, -1, 9, 10, -10, 99, 100, i64::MAX, i64::MIN];
        cases.extend((0..19).map(|p| 10i64.pow(p)));
        cases.extend((0..19).map(|p| 10i64.pow(p) - 1));
        cases.extend((0..19).map(|p| -(10i64.pow(p))));
        for n in cases {
            let mut out = String::from("x");
            push_i64(&mut out, n);
            assert_eq!(out, format!("x{}", serde_json::to_string(&n).unwrap()));
        }
        for n in [0, 7, u64::MAX, u64::MAX - 1, 1 << 63] {
            let mut out = String::new();
            push_u64(&mut out, n);
            assert_eq!(out, serde_json::to_string(&n).unwrap());
        }
    }
}
