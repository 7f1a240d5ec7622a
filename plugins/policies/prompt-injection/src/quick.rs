//! The quick screen: a pass in front of the exact detector ([`super::detect`])
//! that proves, for most texts, that no phrase can match.
//!
//! Why: the exact detector normalises the whole text into letters and word
//! boundaries (~90 fuel a byte) and then tries the rules at every word start
//! (~300 fuel each); a 3.5 KB statement has ~800 word starts (its digits read as
//! leetspeak make many short words) and matches nothing.
//! Every rule, and every configured phrase, begins with a word of its first slot,
//! read from a word start of the normalised text and ending on a word boundary
//! (see [`super::matches_at`]). So this pass finds the bytes that may begin a word
//! from byte classes, 64 bytes at a time (with wasm SIMD in the component), and
//! from each reads the normalised letters exactly as [`super::Norm`] would,
//! through a trie of all first words. Most starts never get that far: when the
//! next letter is plain ASCII, the masks find it, and a table of the first two
//! letters of all first words (53 of the 676 pairs) rules out ~80% of a
//! statement's starts for ~70 wasm instructions each, where a walk costs ~40 a
//! byte and ~200 a start.
//!
//! A text that may match costs the exact detector on top: ~10% more than
//! before the screen, so the screen pays off for any text it clears.
//!
//! `false` means no first word occurs at any word start, so the exact detector
//! finds nothing either (the tests check this on generated texts); `true` means
//! "run the exact detector".

use std::borrow::Cow;

use super::{ASCII_LETTER, RULES, Slot, fold, invisible};

/// Bytes per block; one bit of a `u64` mask each.
const BLOCK: usize = 64;

/// One trie node: the child for each letter `a`..`z` (0 = none; the root, node 0,
/// is nobody's child) and whether a first word ends here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Node {
    next: [u16; 26],
    end: bool,
}

const EMPTY: Node = Node {
    next: [0; 26],
    end: false,
};

/// Adds `word` to the trie in `nodes[..len]`, returning the new length; `None`
/// when the word is empty, holds a byte other than `a`..`z` (it could never match
/// normalised letters, so a rule holding one is a bug) or `nodes` is full.
const fn insert(nodes: &mut [Node], mut len: usize, word: &[u8]) -> Option<usize> {
    if word.is_empty() {
        return None;
    }
    let mut node = 0;
    let mut i = 0;
    while i < word.len() {
        if !word[i].is_ascii_lowercase() {
            return None;
        }
        let k = (word[i] - b'a') as usize;
        if nodes[node].next[k] == 0 {
            if len >= nodes.len() || len > u16::MAX as usize {
                return None;
            }
            nodes[node].next[k] = len as u16;
            len += 1;
        }
        node = nodes[node].next[k] as usize;
        i += 1;
    }
    nodes[node].end = true;
    Some(len)
}

/// The trie of the first words of [`RULES`] in `N` nodes, and how many it uses.
/// Built at compile time: a rule that does not start with a word slot, or a word
/// that is not lowercase letters, fails the build.
const fn rule_trie<const N: usize>() -> ([Node; N], usize) {
    let mut nodes = [EMPTY; N];
    let mut len = 1;
    let mut r = 0;
    while r < RULES.len() {
        let Some(Slot::Any(words)) = RULES[r].slots.first() else {
            panic!("the quick screen needs every rule to start with a word slot");
        };
        let mut w = 0;
        while w < words.len() {
            len = match insert(&mut nodes, len, words[w].as_bytes()) {
                Some(len) => len,
                None => panic!("rule words must be lowercase letters (and fit the trie)"),
            };
            w += 1;
        }
        r += 1;
    }
    (nodes, len)
}

const RULE_TRIE_LEN: usize = rule_trie::<2048>().1;
static RULE_TRIE: [Node; RULE_TRIE_LEN] = rule_trie::<RULE_TRIE_LEN>().0;
const RULE_PAIRS: [u32; 32] = pairs(&rule_trie::<RULE_TRIE_LEN>().0);

/// The first two letters of the words of the trie `nodes`: bit `b` of `[a]` is
/// set when a word starts with letters `a`, `b` (all bits when `a` alone is a
/// word, which any letter may follow). [`NO_LETTER`] (no second letter known)
/// passes every row.
const fn pairs(nodes: &[Node]) -> [u32; 32] {
    let mut set = [1u32 << NO_LETTER; 32];
    let mut a = 0;
    while a < 26 {
        let first = nodes[0].next[a] as usize;
        if first != 0 {
            if nodes[first].end {
                set[a] = u32::MAX;
            }
            let mut b = 0;
            while b < 26 {
                if nodes[first].next[b] != 0 {
                    set[a] |= 1 << b;
                }
                b += 1;
            }
        }
        a += 1;
    }
    set
}

/// The words a match can begin with: the first words of [`RULES`] and of the
/// configured phrases.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FirstWords {
    /// `None` when a configured phrase could not be added; then every text may
    /// match.
    nodes: Option<Cow<'static, [Node]>>,
    /// [`pairs`] of `nodes`.
    pairs: [u32; 32],
}

impl FirstWords {
    /// The first words of [`RULES`] only (no configured phrases); costs nothing.
    pub(crate) fn rules() -> FirstWords {
        FirstWords {
            nodes: Some(Cow::Borrowed(&RULE_TRIE)),
            pairs: RULE_PAIRS,
        }
    }

    /// The first words of [`RULES`] and of `phrases` (as [`super::Config`] holds
    /// them: words of normalised letters).
    pub(crate) fn with_phrases(phrases: &[Vec<String>]) -> FirstWords {
        let firsts: Vec<&[u8]> = phrases
            .iter()
            .filter_map(|p| p.first())
            .map(|w| w.as_bytes())
            .collect();
        if firsts.is_empty() {
            return FirstWords::rules();
        }
        let room = RULE_TRIE.len() + firsts.iter().map(|w| w.len()).sum::<usize>();
        let mut nodes = RULE_TRIE.to_vec();
        nodes.resize(room, EMPTY);
        let mut len = RULE_TRIE.len();
        for w in firsts {
            match insert(&mut nodes, len, w) {
                Some(l) => len = l,
                None => {
                    return FirstWords {
                        nodes: None,
                        pairs: [u32::MAX; 32],
                    };
                }
            }
        }
        nodes.truncate(len);
        FirstWords {
            pairs: pairs(&nodes),
            nodes: Some(Cow::Owned(nodes)),
        }
    }

    /// Whether the exact detector could find a rule or phrase in `text`: `false`
    /// only when it would not.
    pub(crate) fn may_match(&self, text: &str) -> bool {
        let Some(nodes) = self.nodes.as_deref() else {
            return true;
        };
        let b = text.as_bytes();
        let mut letter_before = false;
        let mut cur = block_masks(b, 0);
        for k in 0..b.len().div_ceil(BLOCK) {
            let next = block_masks(b, k + 1);
            let base = k * BLOCK;
            // A word starts at a letter whose previous character is no letter.
            // An ASCII letter after an ASCII letter never starts one; anything
            // else may (an invisible or a look-alike before it is read exactly by
            // the walk). A non-ASCII character starts at its lead byte.
            let starts = (cur.letter | cur.lead) & !((cur.letter << 1) | u64::from(letter_before));
            if cur.non_ascii | next.non_ascii != 0 {
                // Look-alikes and invisibles: only the walk reads them right.
                if positions(starts, base).any(|p| first_word_at(nodes, text, p)) {
                    return true;
                }
            } else {
                // Plain ASCII, so the letter after a start is the next letter
                // byte, and the first two letters can rule a start out.
                let mut folded = [NO_LETTER; 2 * BLOCK];
                folded[..BLOCK].copy_from_slice(&cur.folded);
                folded[BLOCK..].copy_from_slice(&next.folded);
                for i in positions(starts, 0) {
                    let rest = cur.letter >> i >> 1;
                    let j = if rest != 0 {
                        i + 1 + rest.trailing_zeros() as usize
                    } else {
                        // 128 when there is none: no pair to rule out.
                        BLOCK + next.letter.trailing_zeros() as usize
                    };
                    let (x, y) = (folded[i], folded.get(j).copied().unwrap_or(NO_LETTER));
                    if self.pairs[usize::from(x & 31)] >> (y & 31) & 1 == 0 {
                        continue;
                    }
                    if first_word_at(nodes, text, base + i) {
                        return true;
                    }
                }
            }
            letter_before = cur.letter >> 63 == 1;
            cur = next;
        }
        false
    }
}

/// Whether a word of the trie `nodes` is spelled by the normalised letters from
/// byte `p` of `text` on (across separators and invisibles, as [`super::Norm`]
/// reads them) and ends on a word boundary. `false` when `p` holds no letter.
fn first_word_at(nodes: &[Node], text: &str, p: usize) -> bool {
    let b = text.as_bytes();
    let mut node = 0;
    let mut i = p;
    while let Some(&c) = b.get(i) {
        let letter = if c.is_ascii() {
            i += 1;
            ASCII_LETTER[usize::from(c)]
        } else {
            // `i` is on a char boundary: the walk moves a whole char at a time.
            let Some(ch) = text.get(i..).and_then(|t| t.chars().next()) else {
                break;
            };
            i += ch.len_utf8();
            if invisible(ch) {
                continue;
            }
            fold(ch).unwrap_or(0)
        };
        if letter == 0 {
            if node == 0 {
                return false;
            }
            if nodes[node].end {
                return true;
            }
            continue;
        }
        match nodes[node].next[usize::from(letter - b'a')] {
            0 => return false,
            child => node = usize::from(child),
        }
    }
    nodes[node].end
}

/// Byte classes of one block: bit `i` is byte `i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Masks {
    /// ASCII bytes [`ASCII_LETTER`] reads as a letter.
    letter: u64,
    /// Bytes that begin a multi-byte UTF-8 character.
    lead: u64,
    /// Bytes of multi-byte UTF-8 characters.
    non_ascii: u64,
    /// Each byte's letter as `0..26` for `a..z`, [`NO_LETTER`] for a byte that is
    /// not in `letter`.
    folded: [u8; BLOCK],
}

/// [`Masks::folded`] of a byte that is no ASCII letter.
const NO_LETTER: u8 = 31;

impl Default for Masks {
    fn default() -> Self {
        Masks {
            letter: 0,
            lead: 0,
            non_ascii: 0,
            folded: [NO_LETTER; BLOCK],
        }
    }
}

/// [`Masks`] with wasm SIMD: 16 bytes per compare.
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128")]
fn masks(block: &[u8; BLOCK]) -> Masks {
    use core::arch::wasm32::*;
    // Lanes for `c - b'0'`: the leetspeak digits 0 1 3 4 5 7, and their letters.
    const LEET: v128 = u8x16(
        0xff, 0xff, 0, 0xff, 0xff, 0xff, 0, 0xff, 0, 0, 0, 0, 0, 0, 0, 0,
    );
    const LEET_LETTER: v128 = u8x16(14, 8, 0, 4, 0, 18, 0, 19, 0, 0, 0, 0, 0, 0, 0, 0);
    let mut m = Masks::default();
    let (chunks, _) = block.as_chunks::<16>();
    for (k, c) in chunks.iter().enumerate() {
        let v = u8x16(
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11], c[12], c[13],
            c[14], c[15],
        );
        let lower = v128_or(v, u8x16_splat(0x20));
        let alpha_letter = u8x16_sub(lower, u8x16_splat(b'a'));
        let alpha = u8x16_lt(alpha_letter, u8x16_splat(26));
        // `swizzle` gives 0 for an index of 16 or more: every non-digit.
        let digit = u8x16_sub(v, u8x16_splat(b'0'));
        let leet = u8x16_swizzle(LEET, digit);
        let at = i8x16_eq(v, u8x16_splat(b'@'));
        let dollar = i8x16_eq(v, u8x16_splat(b'$'));
        let letter = v128_or(v128_or(alpha, leet), v128_or(at, dollar));
        // `@` is `a` (0), already the select's default of `no_letter & at`.
        let mut folded = v128_andnot(u8x16_splat(NO_LETTER), at);
        folded = v128_bitselect(u8x16_splat(18), folded, dollar);
        folded = v128_bitselect(u8x16_swizzle(LEET_LETTER, digit), folded, leet);
        folded = v128_bitselect(alpha_letter, folded, alpha);
        let lanes = [
            u64x2_extract_lane::<0>(folded),
            u64x2_extract_lane::<1>(folded),
        ];
        for (h, lane) in lanes.iter().enumerate() {
            m.folded[16 * k + 8 * h..][..8].copy_from_slice(&lane.to_le_bytes());
        }
        let lead = u8x16_ge(v, u8x16_splat(0xc0));
        let shift = k * 16;
        m.letter |= u64::from(i8x16_bitmask(letter)) << shift;
        m.lead |= u64::from(i8x16_bitmask(lead)) << shift;
        // The top bit of each byte.
        m.non_ascii |= u64::from(i8x16_bitmask(v)) << shift;
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
        if c.is_ascii() && ASCII_LETTER[usize::from(c)] != 0 {
            m.letter |= 1 << i;
            m.folded[i] = ASCII_LETTER[usize::from(c)] - b'a';
        }
        if c >= 0xc0 {
            m.lead |= 1 << i;
        }
        if !c.is_ascii() {
            m.non_ascii |= 1 << i;
        }
    }
    m
}

/// The masks of block `k` of `b`; bytes past the end are 0, which is in no class.
fn block_masks(b: &[u8], k: usize) -> Masks {
    let rest = b.get(k * BLOCK..).unwrap_or_default();
    match rest.first_chunk::<BLOCK>() {
        Some(full) => masks(full),
        None if !rest.is_empty() => {
            let mut padded = [0u8; BLOCK];
            padded[..rest.len()].copy_from_slice(rest);
            masks(&padded)
        }
        None => Masks::default(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every word the trie holds, by a walk over all its paths.
    fn words_of(nodes: &[Node]) -> Vec<String> {
        fn walk(nodes: &[Node], node: usize, prefix: &mut String, out: &mut Vec<String>) {
            if nodes[node].end {
                out.push(prefix.clone());
            }
            for (k, &child) in nodes[node].next.iter().enumerate() {
                if child != 0 {
                    prefix.push(char::from(b'a' + k as u8));
                    walk(nodes, usize::from(child), prefix, out);
                    prefix.pop();
                }
            }
        }
        let mut out = Vec::new();
        walk(nodes, 0, &mut String::new(), &mut out);
        out.sort();
        out
    }

    fn rule_first_words() -> Vec<String> {
        let mut words: Vec<String> = RULES
            .iter()
            .flat_map(|r| match r.slots.first() {
                Some(Slot::Any(words)) => words.iter().map(|w| w.to_string()).collect(),
                _ => Vec::new(),
            })
            .collect();
        words.sort();
        words.dedup();
        words
    }

    #[test]
    fn the_trie_holds_exactly_the_rules_first_words() {
        assert_eq!(words_of(&RULE_TRIE), rule_first_words());
        let phrases = vec![vec!["bank".to_owned(), "override".to_owned()]];
        let with = FirstWords::with_phrases(&phrases);
        let mut expected = rule_first_words();
        expected.push("bank".into());
        expected.sort();
        assert_eq!(words_of(with.nodes.as_deref().unwrap()), expected);
        assert_eq!(FirstWords::with_phrases(&[]), FirstWords::rules());
    }

    #[test]
    fn pairs_cover_every_first_word() {
        for fw in [
            FirstWords::rules(),
            FirstWords::with_phrases(&[vec!["q".into()], vec!["zed".into()]]),
        ] {
            for w in words_of(fw.nodes.as_deref().unwrap()) {
                let w = w.as_bytes();
                let row = fw.pairs[usize::from(w[0] - b'a')];
                match w.get(1) {
                    Some(&second) => assert_ne!(row >> (second - b'a') & 1, 0, "{w:?}"),
                    None => assert_eq!(row, u32::MAX, "{w:?}"),
                }
                assert_ne!(row >> NO_LETTER & 1, 0);
            }
        }
    }

    #[test]
    fn scalar_masks_follow_the_byte_classes() {
        for c in 0..=255u8 {
            for lane in [0, 1, 15, 16, 31, 47, 62, 63] {
                let mut block = [b' '; BLOCK];
                block[lane] = c;
                let m = scalar_masks(&block);
                let letter = if c.is_ascii() {
                    crate::ASCII[usize::from(c)]
                } else {
                    None
                };
                assert_eq!(m.letter >> lane & 1 == 1, letter.is_some(), "{c}");
                assert_eq!(m.lead >> lane & 1 == 1, c >= 0xc0, "{c}");
                assert_eq!(m.non_ascii >> lane & 1 == 1, c >= 0x80, "{c}");
                let folded = letter.map_or(NO_LETTER, |l| l - b'a');
                assert_eq!(m.folded[lane], folded, "{c}");
                assert_eq!(m.letter.count_ones(), u32::from(letter.is_some()));
            }
        }
    }

    #[test]
    fn first_word_at_reads_text_as_the_normaliser_does() {
        let nodes: &[Node] = &RULE_TRIE;
        for (text, at, expected) in [
            ("ignore", 0, true),
            ("ignored", 0, false),
            ("i g-n.o r e!", 0, true),
            ("ig\u{200B}nore x", 0, true),
            ("ＩＧＮＯＲＥ", 0, true),
            ("1gn0r3", 0, true),
            ("₹ignore", 0, false),
            ("₹ignore", 3, true),
            ("xignore", 1, true),
            ("ignor", 0, false),
            ("dan", 0, true),
            ("dance", 0, false),
        ] {
            assert_eq!(first_word_at(nodes, text, at), expected, "{text:?} at {at}");
        }
    }
}
