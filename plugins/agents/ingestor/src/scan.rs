//! Finding bytes eight at a time in a `u64` word, for the scans that every byte of a
//! statement goes through (line ends, commas, JSON escapes).
//!
//! Fuel: the plugin target has no SIMD, and a loop over bytes costs ~12 wasm
//! instructions a byte (wasm is a stack machine: every `local.get` counts); a word at
//! a time costs ~3 a byte.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of every byte of `word` whose value is below `limit` (1..=0x80), and of
/// no other byte.
fn bytes_below(word: u64, limit: u8) -> u64 {
    debug_assert!((1..=0x80).contains(&limit));
    // Per byte: its low 7 bits plus `0x80 - limit` reach the high bit exactly when they
    // are at least `limit` (never carrying into the next byte); or-ing in the byte
    // itself marks bytes of 0x80 and above. What is left unmarked is below `limit`.
    let marked = ((word & !HIGHS) + ONES * u64::from(0x80 - limit)) | word;
    !marked & HIGHS
}

/// The high bit of every byte of `word` equal to `byte`, and of no other byte.
fn bytes_equal(word: u64, byte: u8) -> u64 {
    bytes_below(word ^ (ONES * u64::from(byte)), 1)
}

/// The first (up to) eight bytes of `bytes` as a little-endian word, zero-padded; the
/// high bits of the bytes that are really there; and the bytes after them.
fn first_word(bytes: &[u8]) -> (u64, u64, &[u8]) {
    match bytes.split_first_chunk::<8>() {
        Some((word, rest)) => (u64::from_le_bytes(*word), HIGHS, rest),
        None => {
            let mut word = [0; 8];
            word[..bytes.len()].copy_from_slice(bytes);
            let padding = 8 * (8 - bytes.len()) as u32;
            let present = HIGHS.checked_shr(padding).unwrap_or(0);
            (u64::from_le_bytes(word), present, &[])
        }
    }
}

/// The positions of the bytes equal to one of `needles`, in increasing order.
pub fn positions<const N: usize>(haystack: &[u8], needles: [u8; N]) -> Positions<'_, N> {
    Positions {
        rest: haystack,
        needles,
        next_offset: 0,
        offset: 0,
        found: 0,
    }
}

/// The iterator [`positions`] returns.
pub struct Positions<'h, const N: usize> {
    /// The bytes after the current word.
    rest: &'h [u8],
    needles: [u8; N],
    /// Where `rest` starts in the haystack.
    next_offset: usize,
    /// Where the current word starts in the haystack.
    offset: usize,
    /// The high bits of the current word's matches not yet returned.
    found: u64,
}

impl<const N: usize> Iterator for Positions<'_, N> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.found == 0 {
            if self.rest.is_empty() {
                return None;
            }
            let (word, present, rest) = first_word(self.rest);
            self.offset = self.next_offset;
            self.next_offset += self.rest.len() - rest.len();
            self.rest = rest;
            self.found = self
                .needles
                .iter()
                .fold(0, |found, &needle| found | bytes_equal(word, needle))
                & present;
        }
        let bit = self.found.trailing_zeros() as usize;
        self.found &= self.found - 1;
        Some(self.offset + bit / 8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length up to three words, every offset, and every byte value next to
    /// the needles, against a plain byte loop.
    #[test]
    fn positions_are_those_of_a_byte_loop() {
        let alphabet = [
            0u8, 1, b'\n', b'\t', b',', b'"', b'\\', b'a', 0x7f, 0x80, 0xc3, 0xff,
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..=24 {
            for _ in 0..200 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        alphabet[(seed % alphabet.len() as u64) as usize]
                    })
                    .collect();
                let naive = |needles: &[u8]| -> Vec<usize> {
                    (0..len).filter(|&i| needles.contains(&bytes[i])).collect()
                };
                assert_eq!(positions(&bytes, [b'\n']).collect::<Vec<_>>(), naive(b"\n"));
                assert_eq!(
                    positions(&bytes, [b',', b'"']).collect::<Vec<_>>(),
                    naive(b",\""),
                    "{bytes:?}"
                );
                assert_eq!(positions(&bytes, [0]).collect::<Vec<_>>(), naive(&[0]));
            }
        }
    }

    #[test]
    fn every_byte_value_is_classified_exactly() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut word = [b'a'; 8];
                word[at] = b;
                let word = u64::from_le_bytes(word);
                for limit in [1u8, 0x20, 0x61, 0x80] {
                    let expected = (0..8)
                        .filter(|&i| if i == at { b < limit } else { b'a' < limit })
                        .fold(0, |m, i| m | 0x80 << (8 * i));
                    assert_eq!(bytes_below(word, limit), expected, "{b:#x} at {at}");
                }
            }
        }
    }
}
