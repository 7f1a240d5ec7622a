//! The normalised merchant of a transaction description.
//!
//! [`unicode_merchant`] defines the rules for any text. Nearly every description
//! is ASCII, and for those [`push_merchant`] takes a path that gives the same
//! answer in one pass over the bytes and without allocating. fuel: on the sample
//! statement the Unicode path costs ~7k instructions a transaction (its
//! uppercased copy, a copy after each prefix, `char` iteration, the token `Vec`,
//! 55 string compares per token, the `join`), the ASCII path ~2k.

/// Payment-rail prefixes stripped from the start of a description (after uppercasing).
/// Grouped by first byte, for [`PREFIXES_BY_FIRST_BYTE`]; the order is otherwise
/// free, as no prefix starts another.
const PREFIXES: &[&str] = &[
    "UPI/", "UPI-", "UPI ", "POS/", "POS ", "PCD/", "NEFT/", "NEFT-", "NEFT ", "NACH/", "NACH-",
    "IMPS/", "IMPS-", "IMPS ", "INB/", "RTGS/", "RTGS-", "ACH/", "ACH-", "ATM/", "ATW-", "ECOM/",
    "ECOM ", "ECS/", "BIL/", "BIL-", "MMT/", "CARD ", "VPS/",
];

/// Tokens that never name a merchant.
const NOISE: &[&str] = &[
    "PVT",
    "PRIVATE",
    "LTD",
    "LIMITED",
    "INDIA",
    "IN",
    "COM",
    "WWW",
    "CO",
    "INC",
    "LLP",
    "THE",
    "PAYMENT",
    "PAYMENTS",
    "ONLINE",
    "ORDER",
    "TRIP",
    "BILL",
    "TXN",
    "REF",
    "NO",
    "TO",
    "FROM",
    "BY",
    "VIA",
    "PAY",
    "DINNER",
    "LUNCH",
    "JAN",
    "FEB",
    "MAR",
    "APR",
    "MAY",
    "JUN",
    "JUL",
    "AUG",
    "SEP",
    "OCT",
    "NOV",
    "DEC",
    "TECHNOLOGIES",
    "SERVICES",
    "POSTPAID",
    "PREPAID",
    // Markers left by the `pii` policy's redaction (`[REDACTED:phone]`), so a redacted
    // reference number never becomes part of a merchant name.
    "REDACTED",
    "EMAIL",
    "PHONE",
    "CARD",
    "IBAN",
    "PAN",
    "AADHAAR",
    "SSN",
];

/// Whether a token is a reference number rather than a name: mostly digits.
fn is_reference(token: &str) -> bool {
    mostly_digits(
        token.chars().filter(char::is_ascii_digit).count(),
        token.len(),
    )
}

/// Whether `digits` of a token's `len` bytes make it a reference number.
fn mostly_digits(digits: usize, len: usize) -> bool {
    digits > 0 && digits * 2 >= len
}

/// The normalised merchant for a description: uppercase, rail prefixes removed, then
/// the first significant token, plus the next one if it is also significant
/// (`BIG BAZAAR`). Empty descriptions give `UNKNOWN`.
pub fn merchant(description: &str) -> String {
    let mut out = String::new();
    push_merchant(description, &mut out);
    out
}

/// Appends [`merchant`]`(description)` to `out`, so a caller printing many merchants
/// into one buffer allocates none of them.
pub(crate) fn push_merchant(description: &str, out: &mut String) {
    if description.is_ascii() {
        push_ascii_merchant(description, out);
    } else {
        out.push_str(&unicode_merchant(description));
    }
}

/// The rules, for any text; [`push_ascii_merchant`] must agree with it on ASCII.
fn unicode_merchant(description: &str) -> String {
    let mut s = description.trim().to_uppercase();
    loop {
        let before = s.len();
        for p in PREFIXES {
            if let Some(rest) = s.strip_prefix(p) {
                s = rest.trim_start().to_owned();
            }
        }
        if s.len() == before {
            break;
        }
    }
    // UPI handles (`swiggy@icici`) name the payee before the `@`.
    let tokens: Vec<&str> = s
        .split(|c: char| !(c.is_alphanumeric() || c == '&' || c == '@'))
        .map(|t| t.split('@').next().unwrap_or(t))
        .filter(|t| !t.is_empty())
        .collect();
    let mut picked: Vec<&str> = Vec::new();
    for t in tokens {
        let significant = !is_reference(t) && !NOISE.contains(&t) && t.len() > 1;
        if significant {
            picked.push(t);
            if picked.len() == 2 {
                break;
            }
        } else if !picked.is_empty() {
            break;
        }
    }
    if picked.is_empty() {
        "UNKNOWN".into()
    } else {
        picked.join(" ")
    }
}

/// [`unicode_merchant`] for an ASCII description, step by step, but over bytes
/// and in place: case is folded when comparing, and only the picked tokens are
/// uppercased, straight into `out`. On ASCII, Unicode uppercasing, `trim` and
/// `is_alphanumeric` act byte by byte and keep every byte's position, so the two
/// see the same prefixes and tokens. fuel: every pass over the bytes costs ~15-60
/// instructions a byte in wasm, so the tokens are found, measured and counted in
/// one.
fn push_ascii_merchant(description: &str, out: &mut String) {
    let mut s = description.trim();
    // At most one prefix matches any text (none is a prefix of another), so
    // stripping whichever matches until none does is the Unicode path's fixed point.
    while let Some(rest) = strip_rail_prefix(s) {
        s = rest.trim_start();
    }
    let mut picked = 0;
    for token in AsciiTokens::new(s) {
        if token.text.len() > 1
            && !mostly_digits(token.digits, token.text.len())
            && !is_noise(token.text)
        {
            if picked == 1 {
                out.push(' ');
            }
            let start = out.len();
            out.push_str(token.text);
            if let Some(pushed) = out.get_mut(start..) {
                pushed.make_ascii_uppercase();
            }
            picked += 1;
            if picked == 2 {
                break;
            }
        } else if picked > 0 {
            break;
        }
    }
    if picked == 0 {
        out.push_str("UNKNOWN");
    }
}

/// A token of ASCII text: ASCII letters, digits and `&`, in their original case.
struct Token<'a> {
    text: &'a str,
    /// How many of `text`'s bytes are digits.
    digits: usize,
}

/// The tokens of ASCII text as [`unicode_merchant`] splits them: runs of letters,
/// digits, `&` and `@`, each cut at its first `@` (UPI handles, `swiggy@icici`,
/// name the payee before it), empty ones left out.
struct AsciiTokens<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> AsciiTokens<'a> {
    fn new(s: &'a str) -> Self {
        AsciiTokens { s, pos: 0 }
    }
}

impl<'a> Iterator for AsciiTokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let bytes = self.s.as_bytes();
        let in_run = |b: u8| b.is_ascii_alphanumeric() || b == b'&' || b == b'@';
        loop {
            while bytes.get(self.pos).is_some_and(|&b| !in_run(b)) {
                self.pos += 1;
            }
            if self.pos == bytes.len() {
                return None;
            }
            let start = self.pos;
            let mut digits = 0;
            while let Some(&b) = bytes.get(self.pos) {
                if b.is_ascii_digit() {
                    digits += 1;
                } else if !(b.is_ascii_alphabetic() || b == b'&') {
                    break;
                }
                self.pos += 1;
            }
            let end = self.pos;
            // The rest of the run, after an `@`, is not part of the token.
            while bytes.get(self.pos).is_some_and(|&b| in_run(b)) {
                self.pos += 1;
            }
            // Every index of ASCII text is a char boundary, so `get` always succeeds.
            match self.s.get(start..end) {
                Some(text) if !text.is_empty() => return Some(Token { text, digits }),
                _ => {}
            }
        }
    }
}

/// `s` without the rail prefix it starts with (in any case), if it starts with one.
fn strip_rail_prefix(s: &str) -> Option<&str> {
    let first = s.as_bytes().first()?.to_ascii_uppercase();
    // fuel: walking all 29 prefixes costs ~20 instructions each; those with the
    // right first byte are at most five, and for most descriptions none.
    let (start, end) = PREFIXES_BY_FIRST_BYTE[usize::from(first)];
    PREFIXES
        .get(usize::from(start)..usize::from(end))?
        .iter()
        .find_map(|p| {
            let head = s.as_bytes().get(..p.len())?;
            // `p` is uppercase: fold only `head`.
            if head
                .iter()
                .zip(p.bytes())
                .all(|(h, p)| h.to_ascii_uppercase() == p)
            {
                s.get(p.len()..)
            } else {
                None
            }
        })
}

/// For each byte, the range of [`PREFIXES`] that start with it; built at compile
/// time, which fails if the list is not grouped by first byte.
const PREFIXES_BY_FIRST_BYTE: [(u8, u8); 256] = {
    let mut ranges = [(0u8, 0u8); 256];
    let mut i = 0;
    while i < PREFIXES.len() {
        let first = PREFIXES[i].as_bytes()[0] as usize;
        let at = i as u8;
        if ranges[first].1 == 0 {
            ranges[first] = (at, at + 1);
        } else if ranges[first].1 == at {
            ranges[first].1 = at + 1;
        } else {
            panic!("PREFIXES is not grouped by first byte");
        }
        i += 1;
    }
    ranges
};

/// Whether a token (ASCII letters, digits and `&`, in any case) is one of [`NOISE`].
fn is_noise(token: &str) -> bool {
    // fuel: one binary search over integers, where `NOISE.contains` compares up
    // to 55 strings.
    token_key(token.as_bytes()).is_some_and(|key| NOISE_KEYS.binary_search(&key).is_ok())
}

/// A token of at most 16 bytes as one integer that ignores ASCII case: its bytes,
/// zero-padded, with bit 0x20 cleared. That bit is all that tells a lowercase
/// letter from its uppercase one; clearing it in a digit or `&` gives a control
/// byte, which no letter gives and which is not zero, so two tokens (of letters,
/// digits and `&`) have the same key exactly when they are equal ignoring case.
const fn token_key(token: &[u8]) -> Option<u128> {
    if token.len() > 16 {
        return None;
    }
    let mut bytes = [0u8; 16];
    let mut i = 0;
    while i < token.len() {
        bytes[i] = token[i];
        i += 1;
    }
    Some(u128::from_le_bytes(bytes) & !u128::from_le_bytes([0x20; 16]))
}

/// The [`token_key`]s of [`NOISE`], sorted for `binary_search`; built at compile time.
const NOISE_KEYS: [u128; NOISE.len()] = {
    let mut keys = [0u128; NOISE.len()];
    let mut i = 0;
    while i < NOISE.len() {
        // The Unicode path compares uppercased tokens, so a word with a lowercase
        // letter could never match there, but would here.
        let word = NOISE[i].as_bytes();
        let mut b = 0;
        while b < word.len() {
            assert!(
                word[b].is_ascii_uppercase() || word[b].is_ascii_digit() || word[b] == b'&',
                "NOISE words are uppercase letters, digits and `&`"
            );
            b += 1;
        }
        keys[i] = match token_key(word) {
            Some(key) => key,
            None => panic!("a NOISE word is longer than 16 bytes"),
        };
        // Insertion sort: `sort` is not available in const evaluation.
        let mut j = i;
        while j > 0 && keys[j - 1] > keys[j] {
            let swap = keys[j - 1];
            keys[j - 1] = keys[j];
            keys[j] = swap;
            j -= 1;
        }
        i += 1;
    }
    keys
};

#[cfg(test)]
mod tests {
    use super::*;

    /// `merchant` as it was before the ASCII path, verbatim: the behaviour both
    /// paths must keep.
    fn original_merchant(description: &str) -> String {
        fn is_reference(token: &str) -> bool {
            let digits = token.chars().filter(char::is_ascii_digit).count();
            digits > 0 && digits * 2 >= token.len()
        }
        let mut s = description.trim().to_uppercase();
        loop {
            let before = s.len();
            for p in ORIGINAL_PREFIXES {
                if let Some(rest) = s.strip_prefix(p) {
                    s = rest.trim_start().to_owned();
                }
            }
            if s.len() == before {
                break;
            }
        }
        let tokens: Vec<&str> = s
            .split(|c: char| !(c.is_alphanumeric() || c == '&' || c == '@'))
            .map(|t| t.split('@').next().unwrap_or(t))
            .filter(|t| !t.is_empty())
            .collect();
        let mut picked: Vec<&str> = Vec::new();
        for t in tokens {
            let significant = !is_reference(t) && !NOISE.contains(&t) && t.len() > 1;
            if significant {
                picked.push(t);
                if picked.len() == 2 {
                    break;
                }
            } else if !picked.is_empty() {
                break;
            }
        }
        if picked.is_empty() {
            "UNKNOWN".into()
        } else {
            picked.join(" ")
        }
    }

    /// `PREFIXES` as the original listed them (its order no longer matters).
    const ORIGINAL_PREFIXES: &[&str] = &[
        "UPI/", "UPI-", "UPI ", "POS/", "POS ", "NEFT/", "NEFT-", "NEFT ", "IMPS/", "IMPS-",
        "IMPS ", "RTGS/", "RTGS-", "ACH/", "ACH-", "NACH/", "NACH-", "ECOM/", "ECOM ", "BIL/",
        "BIL-", "ATM/", "ATW-", "MMT/", "INB/", "ECS/", "CARD ", "VPS/", "PCD/",
    ];

    /// Both paths give what the original gave; the ASCII one only on ASCII.
    fn assert_as_original(d: &str) {
        let original = original_merchant(d);
        assert_eq!(merchant(d), original, "{d:?}");
        assert_eq!(unicode_merchant(d), original, "{d:?}");
        if d.is_ascii() {
            let mut fast = String::from("kept|");
            push_ascii_merchant(d, &mut fast);
            assert_eq!(fast, format!("kept|{original}"), "{d:?}");
        }
    }

    /// Fragments descriptions are built from: rail prefixes and noise words in
    /// several cases, names, digits, every kind of separator the rules treat
    /// specially, and non-ASCII text (which takes the Unicode path, or changes
    /// length when uppercased).
    const FRAGMENTS: &[&str] = &[
        "UPI/",
        "upi-",
        "Upi ",
        "UPI",
        "POS/",
        "pos ",
        "NEFT-",
        "neft ",
        "IMPS/",
        "RTGS-",
        "ACH/",
        "nach/",
        "NACH-",
        "ECOM ",
        "bil-",
        "ATM/",
        "ATW-",
        "MMT/",
        "INB/",
        "ECS/",
        "CARD ",
        "card",
        "VPS/",
        "PCD/",
        "UPIX",
        "ACHE",
        "PVT",
        "ltd",
        "India",
        "in",
        "Com",
        "www",
        "co",
        "THE",
        "payments",
        "Order",
        "trip",
        "bill",
        "txn",
        "ref",
        "no",
        "to",
        "by",
        "via",
        "pay",
        "dinner",
        "jan",
        "Dec",
        "technologies",
        "Services",
        "postpaid",
        "REDACTED",
        "redacted:phone",
        "[REDACTED:aadhaar]",
        "email",
        "pan",
        "ssn",
        "technologiesx",
        "paymentspayments",
        "technologiestechnologies",
        "SWIGGY",
        "zomato",
        "Big",
        "bazaar",
        "x",
        "A",
        "b2b",
        "7",
        "42",
        "418612345678",
        "a1",
        "1a",
        "ab12",
        "12ab3",
        "abc123",
        "&",
        "M&S",
        "a&",
        "@",
        "swiggy@icici",
        "@upi",
        "a@b@c",
        "ab@",
        "/",
        "-",
        " ",
        "  ",
        "\t",
        "\n",
        "\r",
        "\u{b}",
        "\u{c}",
        "\u{1f}",
        ".",
        ",",
        "*",
        ":",
        "_",
        "#",
        "'",
        "\"",
        "\\",
        "é",
        "Café",
        "ß",
        "straße",
        "ﬁ",
        "ı",
        "İ",
        "ǅ",
        "ΐ",
        "١٢٣",
        "\u{a0}",
        "\u{2003}",
        "\u{85}",
        "🚀",
        "日本",
    ];

    /// xorshift64*: a fixed sequence, so a failure names a reproducible input.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    #[test]
    fn both_paths_agree_with_the_original_on_generated_descriptions() {
        let mut state = 0x9e37_79b9_7f4a_7c15;
        let mut ascii = 0;
        for _ in 0..50_000 {
            let parts = next(&mut state) % 9;
            let mut d = String::new();
            for _ in 0..parts {
                let i = usize::try_from(next(&mut state)).unwrap() % FRAGMENTS.len();
                d.push_str(FRAGMENTS[i]);
            }
            ascii += usize::from(d.is_ascii());
            assert_as_original(&d);
        }
        assert!(ascii > 10_000, "only {ascii} ASCII descriptions");
    }

    #[test]
    fn both_paths_agree_with_the_original_on_every_short_string_over_a_small_alphabet() {
        // Exhaustive up to length 4 over bytes that hit each branch of the rules.
        let alphabet = b"uP/ @&1\x0bi-";
        let mut d = Vec::new();
        fn walk(d: &mut Vec<u8>, alphabet: &[u8], depth: usize) {
            assert_as_original(std::str::from_utf8(d).unwrap());
            if depth == 0 {
                return;
            }
            for &b in alphabet {
                d.push(b);
                walk(d, alphabet, depth - 1);
                d.pop();
            }
        }
        walk(&mut d, alphabet, 4);
    }

    #[test]
    fn both_paths_agree_with_the_original_on_the_sample_statement_and_edge_cases() {
        let statement = include_str!("../../../../examples/statement.csv");
        let descriptions = statement.lines().filter_map(|l| l.split(',').nth(1));
        let edge = [
            "",
            " ",
            "\u{b}UPI/\u{c}SWIGGY\u{b}",
            "upi/upi/UPI-pos/neft swiggy",
            "UPI/ POS/\tNEFT- swiggy",
            "UPI /X",
            "UPI/",
            "CARD  CARD  X1 Y2",
            "NACH-ACH/ACME",
            "TECHNOLOGIES ACME",
            "ACME TECHNOLOGIESS",
            "A B C",
            "AB 12 CD",
            "AB CD12 EF",
            "@@@ swiggy@@icici",
            "&& M&S",
            "[REDACTED:phone] SWIGGY",
            "UPI/BIGBASKET/[REDACTED:aadhaar]",
        ];
        for d in descriptions.chain(edge) {
            assert_as_original(d);
        }
    }

    #[test]
    fn noise_keys_match_exactly_the_noise_words() {
        for w in NOISE {
            assert!(is_noise(w), "{w}");
            assert!(is_noise(&w.to_ascii_lowercase()), "{w}");
            assert!(!is_noise(&format!("{w}X")), "{w}X");
            assert!(!is_noise(&w[1..]) || NOISE.contains(&&w[1..]), "{w}");
        }
        // Clearing bit 0x20 maps `0` to 0x10 and `&` to 0x06, never to a letter.
        for w in [
            "",
            "P",
            "PV",
            "PVTX",
            "XPVT",
            "TECHNOLOGIE",
            "TECHNOLOGIESX",
            "UPI",
            "C0",
            "1N",
            "N0",
            "T0",
            "&&",
            "IN&",
        ] {
            assert!(!is_noise(w), "{w}");
        }
        assert!(
            NOISE_KEYS.windows(2).all(|k| k[0] < k[1]),
            "keys sorted, none twice"
        );
    }

    #[test]
    fn prefixes_are_the_original_ones() {
        let mut now = PREFIXES.to_vec();
        let mut original = ORIGINAL_PREFIXES.to_vec();
        now.sort_unstable();
        original.sort_unstable();
        assert_eq!(now, original);
    }

    #[test]
    fn no_rail_prefix_is_a_prefix_of_another() {
        // `push_ascii_merchant` strips whichever prefix matches; with this, at most one can.
        for a in PREFIXES {
            for b in PREFIXES {
                assert!(a == b || !b.starts_with(a), "{a:?} starts {b:?}");
            }
        }
    }
}
