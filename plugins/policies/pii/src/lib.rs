//! `pii`: finds personal data in a message and, per stage, denies it, redacts it or
//! lets it pass.
//!
//! Detectors are hand-written scanners (no regex engine, so the component stays small
//! and the cost stays linear): email addresses; phone numbers (E.164, 10-digit Indian
//! mobiles, formatted US numbers); payment card numbers (13–19 digits, spaces or
//! dashes allowed, Luhn-valid); IBANs (mod-97); Indian PAN; Aadhaar (12 digits,
//! Verhoeff-valid); US SSNs (`AAA-GG-SSSS`, invalid ranges excluded).
//!
//! Why it scans metadata too: Genie's `PIIBlockPolicy` looked at the content only and
//! let a `pii_acknowledged=true` metadata flag switch it off, so PII rode through in
//! metadata or behind a flag any caller could set. Here every metadata key and value
//! is scanned (except the values of `exempt_metadata`, identifiers the host sets), and
//! no metadata can switch the policy off.
//!
//! Why JSON is parsed: scanning the decoded strings catches PII hidden behind JSON
//! escapes (`\u0034\u0031…`), and redacting inside decoded strings keeps the payload
//! valid JSON.
//!
//! Why a screen runs before the parse: this policy judges every message at every
//! hop, and nearly all of them hold no PII. Building a JSON tree of a 20 KB
//! transaction list costs far more than reading its bytes once, so
//! [`may_hold_pii`] reads the bytes (decoding only strings with escapes) and the
//! tree is built only when the screen finds a candidate. The screen is exact, not a
//! heuristic: it never passes a message the full inspection would flag (see its
//! docs, and the tests that check it against the inspection on generated payloads).
//! In front of it, [`quick`] reads the bytes in 64-byte blocks of class masks and
//! sends on only the places some detector's shape fits.

use std::sync::OnceLock;

mod quick;

use djinn_sdk::{GateContext, Message, Policy, PolicyInfo, Stage, Verdict, config};
use serde_json::Value;

/// A kind of personal data this policy recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Email,
    Phone,
    Card,
    Iban,
    Pan,
    Aadhaar,
    Ssn,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::Email,
        Kind::Phone,
        Kind::Card,
        Kind::Iban,
        Kind::Pan,
        Kind::Aadhaar,
        Kind::Ssn,
    ];

    /// The config and redaction-marker name.
    fn name(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Card => "card",
            Kind::Iban => "iban",
            Kind::Pan => "pan",
            Kind::Aadhaar => "aadhaar",
            Kind::Ssn => "ssn",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::Email => "email address",
            Kind::Phone => "phone number",
            Kind::Card => "payment card number",
            Kind::Iban => "IBAN",
            Kind::Pan => "PAN",
            Kind::Aadhaar => "Aadhaar number",
            Kind::Ssn => "SSN",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// What to do with a message that carries PII.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Allow,
    Redact,
    Deny,
}

impl Action {
    fn parse(key: &str, v: &str) -> Result<Action, String> {
        match v.trim() {
            "allow" => Ok(Action::Allow),
            "redact" => Ok(Action::Redact),
            "deny" => Ok(Action::Deny),
            other => Err(format!(
                "config `{key}` must be deny, redact or allow, not `{other}`"
            )),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Config {
    inbound: Action,
    hop: Action,
    outbound: Action,
    kinds: Vec<Kind>,
    exempt_metadata: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            inbound: Action::Redact,
            hop: Action::Redact,
            outbound: Action::Redact,
            kinds: Kind::ALL.to_vec(),
            exempt_metadata: vec!["user_id".into(), "tenant_id".into()],
        }
    }
}

impl Config {
    /// Reads the configuration through `get`; an unusable value is an error naming its key.
    fn load(get: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let mut cfg = Config::default();
        for (key, slot) in [
            ("inbound", &mut cfg.inbound),
            ("hop", &mut cfg.hop),
            ("outbound", &mut cfg.outbound),
        ] {
            if let Some(v) = get(key) {
                *slot = Action::parse(key, &v)?;
            }
        }
        if let Some(v) = get("kinds") {
            cfg.kinds = list(&v)
                .map(|k| {
                    Kind::parse(k).ok_or_else(|| {
                        format!(
                            "config `kinds` names unknown kind `{k}` \
                             (known: email, phone, card, iban, pan, aadhaar, ssn)"
                        )
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = get("exempt_metadata") {
            cfg.exempt_metadata = list(&v).map(str::to_owned).collect();
        }
        Ok(cfg)
    }

    fn action(&self, stage: Stage) -> Action {
        match stage {
            Stage::Inbound => self.inbound,
            Stage::Hop => self.hop,
            Stage::Outbound => self.outbound,
        }
    }
}

/// The non-empty items of a comma-separated list.
fn list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// One match: `text[start..end]` is `kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Finding {
    kind: Kind,
    start: usize,
    end: usize,
}

// ---------------------------------------------------------------- checksums

fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

fn verhoeff(digits: &[u8]) -> bool {
    const D: [[u8; 10]; 10] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ];
    const P: [[u8; 10]; 8] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ];
    let mut c = 0u8;
    for (i, d) in digits.iter().rev().enumerate() {
        c = D[c as usize][P[i % 8][(d - b'0') as usize] as usize];
    }
    c == 0
}

/// The ISO 13616 check: move the first four characters to the end, letters to
/// 10..35, and the number must be 1 modulo 97.
fn iban_valid(chars: &[u8]) -> bool {
    if !(15..=34).contains(&chars.len())
        || !chars[..2].iter().all(u8::is_ascii_alphabetic)
        || !chars[2..4].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    let mut rem = 0u32;
    for &c in chars[4..].iter().chain(&chars[..4]) {
        rem = match c {
            b'0'..=b'9' => (rem * 10 + u32::from(c - b'0')) % 97,
            _ if c.is_ascii_alphabetic() => {
                (rem * 100 + u32::from(c.to_ascii_uppercase() - b'A') + 10) % 97
            }
            _ => return false,
        };
    }
    rem == 1
}

fn ssn_valid(d: &[u8]) -> bool {
    let area = &d[..3];
    area != b"000" && area != b"666" && area[0] != b'9' && &d[3..5] != b"00" && &d[5..9] != b"0000"
}

// ---------------------------------------------------------------- scanners
//
// Cost matters: this runs on every message at every hop, and pipeline messages are
// tens of kilobytes of transactions. So the text is read once, byte by byte, with
// a class table; the detectors run only where they can match (an `@`, a word of
// the right shape, a run of at least 8 digits), and nothing is allocated unless a
// candidate is found. `reference.rs` (tests only) keeps the straightforward
// scanners these replace, and a test checks both agree on generated text.

const ALNUM: u8 = 1;
const DIGIT: u8 = 2;
const ALPHA: u8 = 4;

/// Character classes of each byte (non-ASCII bytes are in none).
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = match c as u8 {
            b'0'..=b'9' => ALNUM | DIGIT,
            b'a'..=b'z' | b'A'..=b'Z' => ALNUM | ALPHA,
            _ => 0,
        };
        c += 1;
    }
    t
};

fn is_alnum(c: u8) -> bool {
    CLASS[usize::from(c)] & ALNUM != 0
}

/// The email address around the `@` at `at`, if it is one.
fn email_at(b: &[u8], at: usize) -> Option<Finding> {
    let local = |c: u8| is_alnum(c) || b"._%+-".contains(&c);
    let domain = |c: u8| is_alnum(c) || c == b'.' || c == b'-';
    let mut s = at;
    while s > 0 && local(b[s - 1]) {
        s -= 1;
    }
    while s < at && b[s] == b'.' {
        s += 1;
    }
    let mut e = at + 1;
    while e < b.len() && domain(b[e]) {
        e += 1;
    }
    while e > at + 1 && matches!(b[e - 1], b'.' | b'-') {
        e -= 1;
    }
    if s == at || e <= at + 1 {
        return None;
    }
    let dom = &b[at + 1..e];
    let tld_ok = dom
        .rsplit(|&c| c == b'.')
        .next()
        .is_some_and(|t| t.len() >= 2 && t.iter().all(u8::is_ascii_alphabetic));
    let labels_ok = dom.split(|&c| c == b'.').all(|l| !l.is_empty());
    (dom.contains(&b'.') && tld_ok && labels_ok).then_some(Finding {
        kind: Kind::Email,
        start: s,
        end: e,
    })
}

/// Whether a word (a maximal run of ASCII letters and digits) is a PAN. A PAN must
/// not touch other letters or digits and is all letters and digits, so it is
/// always a whole word of ten.
fn is_pan(w: &[u8]) -> bool {
    // The fourth letter is the holder type (person, company, HUF, firm, ...).
    w.len() == 10
        && w[..5].iter().all(u8::is_ascii_alphabetic)
        && w[5..9].iter().all(u8::is_ascii_digit)
        && w[9].is_ascii_alphabetic()
        && b"PCHFATBLJG".contains(&w[3].to_ascii_uppercase())
}

/// The end of the IBAN starting at word start `i`, if one does.
fn iban_at(b: &[u8], i: usize) -> Option<usize> {
    let head = b.get(i..i + 4)?;
    if !(head[0].is_ascii_alphabetic()
        && head[1].is_ascii_alphabetic()
        && head[2].is_ascii_digit()
        && head[3].is_ascii_digit())
    {
        return None;
    }
    // Collect alphanumerics, allowing single spaces between groups; remember where
    // each group ends, since an IBAN ends at the end of a group.
    let mut chars = [0u8; 35];
    let mut n = 0;
    // (characters so far, byte end) per group; a group has at least one character.
    let mut ends = [(0usize, 0usize); 35];
    let mut groups = 0;
    let mut k = i;
    loop {
        while k < b.len() && is_alnum(b[k]) && n <= 34 {
            chars[n] = b[k];
            n += 1;
            k += 1;
        }
        if n > 34 {
            break;
        }
        ends[groups] = (n, k);
        groups += 1;
        if k + 1 < b.len() && b[k] == b' ' && is_alnum(b[k + 1]) {
            k += 1;
        } else {
            break;
        }
    }
    ends[..groups]
        .iter()
        .rev()
        .find(|(n, _)| iban_valid(&chars[..*n]))
        .map(|&(_, end)| end)
}

/// A run of digits broken only by short separators, e.g. `+91 98765-43210` or
/// `(415) 555-2671`.
struct NumberRun<'a> {
    /// Starts with `+` (E.164) or `(` (a US area code).
    plus: bool,
    paren: bool,
    lead: usize,
    /// Byte ranges of the digit groups.
    groups: &'a [(usize, usize)],
}

fn is_sep(c: u8) -> bool {
    matches!(c, b' ' | b'-' | b'.' | b'(' | b')')
}

/// Reads the number run whose first digit is at `i` into `groups` (cleared first)
/// and returns where it ends and how many digits it has.
fn number_run(b: &[u8], mut i: usize, groups: &mut Vec<(usize, usize)>) -> (usize, usize) {
    groups.clear();
    let mut digits = 0;
    loop {
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        groups.push((s, i));
        digits += i - s;
        let mut k = i;
        while k < b.len() && k - i < 2 && is_sep(b[k]) {
            k += 1;
        }
        if k > i && k < b.len() && b[k].is_ascii_digit() {
            i = k;
        } else {
            return (i, digits);
        }
    }
}

/// Every separator is the same single character, one of `allowed` (or there is none).
fn uniform_seps(seps: &[&[u8]], allowed: &[u8]) -> bool {
    seps.iter()
        .all(|s| s.len() == 1 && allowed.contains(&s[0]) && s[0] == seps[0][0])
}

fn indian_mobile(d: &[u8]) -> bool {
    d.len() == 10 && (b'6'..=b'9').contains(&d[0])
}

/// North American numbering: area code and exchange start with 2–9.
fn nanp(d: &[u8]) -> bool {
    d.len() == 10 && (b'2'..=b'9').contains(&d[0]) && (b'2'..=b'9').contains(&d[3])
}

/// What digit groups `groups[i..=j]` of a run are, if anything.
fn classify(b: &[u8], run: &NumberRun, i: usize, j: usize, kinds: &[Kind]) -> Option<Kind> {
    let g = &run.groups[i..=j];
    let plus = i == 0 && run.plus;
    let paren = i == 0 && run.paren;
    // Cheap exit: this runs for every number in a statement,
    // and nothing here is shorter than 9 digits (8 with a leading `+`).
    let n: usize = g.iter().map(|&(s, e)| e - s).sum();
    if n < 8 || (n == 8 && !plus) || n > 19 {
        return None;
    }
    // On the stack: this runs for every long number in a statement (UPI
    // references), and at most 19 digits in at most 19 groups get here.
    let (mut digit_buf, mut len_buf, mut sep_buf) = ([0u8; 19], [0usize; 19], [&b[..0]; 18]);
    let mut nd = 0;
    for (k, &(s, e)) in g.iter().enumerate() {
        digit_buf[nd..nd + e - s].copy_from_slice(&b[s..e]);
        nd += e - s;
        len_buf[k] = e - s;
        if k > 0 {
            sep_buf[k - 1] = &b[g[k - 1].1..s];
        }
    }
    let (digits, lens) = (&digit_buf[..nd], &len_buf[..g.len()]);
    let seps = &sep_buf[..g.len() - 1];
    let on = |k: Kind| kinds.contains(&k);

    if on(Kind::Card)
        && !plus
        && !paren
        && (13..=19).contains(&n)
        && uniform_seps(seps, b" -")
        && (b'2'..=b'6').contains(&digits[0])
        && luhn(digits)
    {
        return Some(Kind::Card);
    }
    if on(Kind::Aadhaar)
        && !plus
        && !paren
        && n == 12
        && (lens == [12] || (lens == [4, 4, 4] && uniform_seps(seps, b" -")))
        && digits[0] >= b'2'
        && verhoeff(digits)
    {
        return Some(Kind::Aadhaar);
    }
    if on(Kind::Ssn)
        && !plus
        && !paren
        && lens == [3, 2, 4]
        && uniform_seps(seps, b" -")
        && ssn_valid(digits)
    {
        return Some(Kind::Ssn);
    }
    if on(Kind::Phone) && phone(digits, lens, seps, plus, paren) {
        return Some(Kind::Phone);
    }
    None
}

fn phone(d: &[u8], lens: &[usize], seps: &[&[u8]], plus: bool, paren: bool) -> bool {
    let plain = seps.iter().all(|s| s.len() == 1 && b" -".contains(&s[0]));
    if plus {
        return (8..=15).contains(&d.len()) && d[0] != b'0' && plain;
    }
    if paren {
        // (415) 555-2671
        return nanp(d)
            && lens == [3, 3, 4]
            && matches!(seps[0], b")" | b") ")
            && matches!(seps[1], b"-" | b" " | b".");
    }
    let us_grouped = lens == [3, 3, 4] && uniform_seps(seps, b" -.");
    match d.len() {
        10 => (indian_mobile(d) && plain) || (nanp(d) && us_grouped),
        11 if d[0] == b'0' => indian_mobile(&d[1..]) && plain,
        11 if d[0] == b'1' => {
            nanp(&d[1..]) && (lens == [11] || (lens == [1, 3, 3, 4] && uniform_seps(seps, b" -.")))
        }
        12 if d.starts_with(b"91") => {
            indian_mobile(&d[2..]) && plain && (lens == [12] || lens[0] == 2)
        }
        _ => false,
    }
}

/// The findings in one number run, greedy from the left.
fn scan_run(b: &[u8], run: &NumberRun, kinds: &[Kind], out: &mut Vec<Finding>) {
    let n = run.groups.len();
    let mut i = 0;
    while i < n {
        // The longest span starting at group i that is something, up to 19 digits.
        let mut last = i;
        let mut total = 0;
        while last < n {
            total += run.groups[last].1 - run.groups[last].0;
            if total > 19 {
                break;
            }
            last += 1;
        }
        let hit = (i..last)
            .rev()
            .find_map(|j| classify(b, run, i, j, kinds).map(|k| (j, k)));
        match hit {
            Some((j, kind)) => {
                let start = if i == 0 { run.lead } else { run.groups[i].0 };
                out.push(Finding {
                    kind,
                    start,
                    end: run.groups[j].1,
                });
                i = j + 1;
            }
            None => i += 1,
        }
    }
}

/// Reads the number run whose first digit is at `p` and adds what it holds to
/// `out`; returns where the run ends.
fn number_findings(
    b: &[u8],
    p: usize,
    kinds: &[Kind],
    groups: &mut Vec<(usize, usize)>,
    out: &mut Vec<Finding>,
) -> usize {
    let (run_end, digits) = number_run(b, p, groups);
    let plus = p > 0 && b[p - 1] == b'+';
    let paren = p > 0 && b[p - 1] == b'(';
    // Nothing is shorter than 9 digits (8 after a `+`): the dates and amounts
    // that fill a statement stop here.
    if digits > 8 || (digits == 8 && plus) {
        let run = NumberRun {
            plus,
            paren,
            lead: if plus || paren { p - 1 } else { p },
            groups,
        };
        scan_run(b, &run, kinds, out);
    }
    run_end
}

/// Every piece of PII of the enabled `kinds` in `text`, in order, not overlapping.
fn scan(text: &str, kinds: &[Kind]) -> Vec<Finding> {
    scan_bytes(text.as_bytes(), kinds)
}

/// [`scan`] over bytes (the screen scans raw payload bytes).
///
/// Every detector needs a digit (cards, phones, Aadhaar, SSN, and the digits of a
/// PAN or an IBAN) or an `@` (email), so the pass jumps from one of those to the
/// next, eight bytes at a time, and only looks closer there: the `@` may be an
/// email; the word (maximal run of ASCII letters and digits) around a digit may be
/// a PAN or start an IBAN, and a digit not inside the previous number run starts
/// one.
fn scan_bytes(b: &[u8], kinds: &[Kind]) -> Vec<Finding> {
    let on = |k: Kind| kinds.contains(&k);
    let (email, iban, pan) = (on(Kind::Email), on(Kind::Iban), on(Kind::Pan));
    let numbers = [Kind::Card, Kind::Aadhaar, Kind::Ssn, Kind::Phone]
        .iter()
        .any(|k| kinds.contains(k));
    let mut found = Vec::new();
    let mut groups = Vec::new();
    // Where the last IBAN and the last number run ended: the next starts after.
    let mut iban_until = 0;
    let mut run_until = 0;
    // No word starts before `i`: it is 0, just after an `@`, or a word's end.
    let mut i = 0;
    loop {
        let p = next_digit_or_at(b, i);
        if p >= b.len() {
            break;
        }
        if b[p] == b'@' {
            if email && let Some(f) = email_at(b, p) {
                found.push(f);
            }
            i = p + 1;
            continue;
        }
        let mut start = p;
        while start > i && is_alnum(b[start - 1]) {
            start -= 1;
        }
        let mut end = p;
        while end < b.len() {
            let class = CLASS[usize::from(b[end])];
            if class & ALNUM == 0 {
                break;
            }
            if numbers && class & DIGIT != 0 && end >= run_until {
                run_until = number_findings(b, end, kinds, &mut groups, &mut found);
            }
            end += 1;
        }
        if pan && is_pan(&b[start..end]) {
            found.push(Finding {
                kind: Kind::Pan,
                start,
                end,
            });
        }
        if iban
            && start >= iban_until
            && let Some(iban_end) = iban_at(b, start)
        {
            found.push(Finding {
                kind: Kind::Iban,
                start,
                end: iban_end,
            });
            iban_until = iban_end;
        }
        i = end;
    }
    found.sort_by_key(|f| (f.start, usize::MAX - f.end));
    let mut out: Vec<Finding> = Vec::with_capacity(found.len());
    for f in found {
        if out.last().is_none_or(|l| f.start >= l.end) {
            out.push(f);
        }
    }
    out
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = ONES * 0x80;

/// Whether any byte of `x` is an ASCII digit (exact; bytes of 0x80 and up are not).
#[inline(always)]
fn has_digit(x: u64) -> bool {
    let low = x & (ONES * 0x7f);
    // Per byte: below 0x3a, not 0x80 or up, and above 0x2f; no carries cross bytes.
    (ONES * (127 + 0x3a) - low) & !x & (low + ONES * (127 - 0x2f)) & HIGHS != 0
}

/// Whether any byte of `x` is `c`.
#[inline(always)]
fn has_byte(x: u64, c: u8) -> bool {
    let v = x ^ (ONES * u64::from(c));
    v.wrapping_sub(ONES) & !v & HIGHS != 0
}

/// The eight bytes at `i` (the caller checks `i + 8 <= b.len()`).
#[inline(always)]
fn chunk(b: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(w)
}

/// The first index at or after `i` holding `c`, if any.
fn find_byte(b: &[u8], mut i: usize, c: u8) -> Option<usize> {
    while i + 8 <= b.len() && !has_byte(chunk(b, i), c) {
        i += 8;
    }
    b.get(i..)?.iter().position(|&x| x == c).map(|p| i + p)
}

/// The first index at or after `i` holding an ASCII digit or `@` (`b.len()` if none).
fn next_digit_or_at(b: &[u8], mut i: usize) -> usize {
    while i + 8 <= b.len() {
        let x = chunk(b, i);
        if has_digit(x) || has_byte(x, b'@') {
            break;
        }
        i += 8;
    }
    while i < b.len() && !(b[i].is_ascii_digit() || b[i] == b'@') {
        i += 1;
    }
    i
}

/// The first index at or after `i` holding an ASCII digit (`b.len()` if none).
fn next_digit(b: &[u8], mut i: usize) -> usize {
    while i + 8 <= b.len() && !has_digit(chunk(b, i)) {
        i += 8;
    }
    while i < b.len() && !b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// `text` with each finding replaced by `[REDACTED:<kind>]`.
fn redact_text(text: &str, found: &[Finding]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in found {
        out.push_str(&text[at..f.start]);
        out.push_str("[REDACTED:");
        out.push_str(f.kind.name());
        out.push(']');
        at = f.end;
    }
    out.push_str(&text[at..]);
    out
}

// ---------------------------------------------------------------- the message

/// Where one piece of PII was found, for the deny reason (never the value itself).
#[derive(Debug, PartialEq)]
struct Hit {
    kind: Kind,
    place: String,
}

fn pointer_push(path: &str, token: &str) -> String {
    format!("{path}/{}", token.replace('~', "~0").replace('/', "~1"))
}

/// Scans (and, when `redact`, rewrites) every string, key and number in `v`.
fn walk(v: &mut Value, path: &str, cfg: &Config, redact: bool, hits: &mut Vec<Hit>) {
    let place = |p: &str| {
        if p.is_empty() {
            "payload".to_owned()
        } else {
            format!("payload at {p}")
        }
    };
    match v {
        Value::String(s) => {
            let found = scan(s, &cfg.kinds);
            hits.extend(found.iter().map(|f| Hit {
                kind: f.kind,
                place: place(path),
            }));
            if redact && !found.is_empty() {
                *s = redact_text(s, &found);
            }
        }
        Value::Number(num) => {
            let text = num.to_string();
            let found = scan(&text, &cfg.kinds);
            if let Some(f) = found.first() {
                hits.push(Hit {
                    kind: f.kind,
                    place: place(path),
                });
                if redact {
                    *v = Value::String(redact_text(&text, &found));
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, &pointer_push(path, &i.to_string()), cfg, redact, hits);
            }
        }
        Value::Object(map) => {
            let old = std::mem::take(map);
            for (key, mut item) in old {
                let found = scan(&key, &cfg.kinds);
                hits.extend(found.iter().map(|f| Hit {
                    kind: f.kind,
                    place: format!("a key of {}", place(path)),
                }));
                let key = if redact && !found.is_empty() {
                    redact_text(&key, &found)
                } else {
                    key
                };
                walk(&mut item, &pointer_push(path, &key), cfg, redact, hits);
                map.insert(key, item);
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

/// Scans the payload and metadata; returns the hits and, if `redact`, the rewritten
/// message.
fn inspect(msg: &Message, cfg: &Config, redact: bool) -> (Vec<Hit>, Message) {
    let mut hits = Vec::new();
    let mut out = msg.clone();
    match serde_json::from_str::<Value>(&msg.payload) {
        Ok(mut v) => {
            let before = hits.len();
            walk(&mut v, "", cfg, redact, &mut hits);
            if redact && hits.len() > before {
                out.payload = v.to_string();
            }
        }
        Err(_) => {
            let found = scan(&msg.payload, &cfg.kinds);
            hits.extend(found.iter().map(|f| Hit {
                kind: f.kind,
                place: "payload".into(),
            }));
            if redact {
                out.payload = redact_text(&msg.payload, &found);
            }
        }
    }
    for (k, v) in &mut out.metadata {
        let in_key = scan(k, &cfg.kinds);
        hits.extend(in_key.iter().map(|f| Hit {
            kind: f.kind,
            place: "a metadata key".into(),
        }));
        if redact && !in_key.is_empty() {
            *k = redact_text(k, &in_key);
        }
        if cfg.exempt_metadata.iter().any(|e| e == k) {
            continue;
        }
        let in_value = scan(v, &cfg.kinds);
        hits.extend(in_value.iter().map(|f| Hit {
            kind: f.kind,
            place: format!("metadata `{k}`"),
        }));
        if redact && !in_value.is_empty() {
            *v = redact_text(v, &in_value);
        }
    }
    (hits, out)
}

// ---------------------------------------------------------------- the screen

/// Whether [`inspect`] could find anything: a conservative screen that reads the
/// payload bytes without building a JSON tree. `false` means `inspect` finds
/// nothing; `true` means "run it".
///
/// Why it is exact: every scanner treats `"` as a hard boundary (it is not a digit,
/// letter, separator or email character), so a JSON string's findings are found
/// again when the whole payload is scanned as text, where each string sits between
/// quotes; and a payload that is not JSON is scanned as text by `inspect` too. The
/// text differs from what `walk` scans in two places only, and both are scanned
/// again in `walk`'s form: strings with escapes (decoded, between quotes) and
/// numbers that `Number::to_string` may print differently (`9e9` is
/// `9000000000.0`).
///
/// The payload goes through [`quick::may_hold_pii`] first, a block pass that
/// looks only where some detector's shape fits; most payloads end there.
fn may_hold_pii(msg: &Message, cfg: &Config) -> bool {
    let kinds = &cfg.kinds;
    let b = msg.payload.as_bytes();
    (quick::may_hold_pii(b, kinds)
        && (any(b, kinds)
            || escaped_strings_may_hold_pii(b, kinds)
            || numbers_may_hold_pii(b, kinds)))
        || msg.metadata.iter().any(|(k, v)| {
            any(k.as_bytes(), kinds)
                || (!cfg.exempt_metadata.iter().any(|e| e == k) && any(v.as_bytes(), kinds))
        })
}

/// Whether `scan` finds anything in `b`.
fn any(b: &[u8], kinds: &[Kind]) -> bool {
    !scan_bytes(b, kinds).is_empty()
}

/// Whether a number token could read as PII in the form `walk` scans
/// (`Number::to_string`). Tokens are found without tracking strings: a "token"
/// inside a string is scanned once more, which costs a little and finds nothing
/// the text scan did not.
fn numbers_may_hold_pii(b: &[u8], kinds: &[Kind]) -> bool {
    let mut until = 0;
    loop {
        let p = next_digit(b, until);
        if p >= b.len() {
            return false;
        }
        let (end, hit) = number_token_may_hold_pii(b, p, kinds);
        if hit {
            return true;
        }
        until = end;
    }
}

/// A byte of a number token: digits, signs, `.` and exponent letters.
fn number_byte(c: u8) -> bool {
    c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E')
}

/// The number token (the maximal run of [`number_byte`]s) around the digit at
/// `p`: where it ends, and whether it could read as PII once printed by
/// `Number::to_string`.
fn number_token_may_hold_pii(b: &[u8], p: usize, kinds: &[Kind]) -> (usize, bool) {
    let mut start = p;
    while start > 0 && number_byte(b[start - 1]) {
        start -= 1;
    }
    let mut end = p;
    while end < b.len() && number_byte(b[end]) {
        end += 1;
    }
    let (mut digits, mut fraction, mut exponent) = (0, false, false);
    for &c in &b[start..end] {
        match c {
            b'.' => fraction = true,
            b'e' | b'E' => exponent = true,
            b'0'..=b'9' => digits += 1,
            _ => {}
        }
    }
    // An integer of up to 18 digits prints as written. Without an exponent, a
    // number of up to 7 digits prints with at most 7 (the shortest round trip
    // is no longer than the text), and nothing matches under 8 digits without
    // letters or `@`.
    if !exponent && (digits <= 7 || (!fraction && digits <= 18)) {
        return (end, false);
    }
    let Ok(text) = std::str::from_utf8(&b[start..end]) else {
        return (end, false);
    };
    let hit = serde_json::from_str::<serde_json::Number>(text)
        .is_ok_and(|n| any(n.to_string().as_bytes(), kinds));
    (end, hit)
}

/// Whether a string with escapes holds anything once decoded that the text scan
/// did not already see.
///
/// Most escapes cannot hide anything: `\"`, `\\` and `\/` decode to characters that
/// every scanner treats as a boundary, as the backslash already is; `\n`, `\t`,
/// `\r`, `\b` and `\f` decode to a boundary too, and their letter in the text only
/// differs when a letter follows it (`\nABCPE1234F` reads as the word `nABCPE1234F`
/// in the text; before a digit or a non-letter the lone letter starts no PAN or
/// IBAN, breaks no number and only lengthens an email's local part). So only
/// strings with a `\u` escape, or a letter escape followed by a letter, are decoded
/// and scanned again.
///
/// In valid JSON every `\` is in a string, whose opening quote is the last
/// unescaped `"` before it; a payload where that does not hold is not JSON, and the
/// text scan covered it. A malformed escape answers `true` (let `inspect` decide).
fn escaped_strings_may_hold_pii(b: &[u8], kinds: &[Kind]) -> bool {
    let escaped = |q: usize| b[..q].iter().rev().take_while(|&&c| c == b'\\').count() % 2 == 1;
    let mut decoded = Vec::new();
    // The next backslash to look at, and where the next string to decode may open.
    let (mut at, mut strings_from) = (0, 0);
    while let Some(backslash) = find_byte(b, at, b'\\') {
        if escape_at(b, backslash) == Escape::Harmless {
            at = backslash + 2;
            continue;
        }
        let Some(open) = (strings_from..backslash)
            .rev()
            .find(|&q| b[q] == b'"' && !escaped(q))
        else {
            return true;
        };
        decoded.clear();
        decoded.push(b'"');
        let Some(close) = decode_string(b, open + 1, &mut decoded) else {
            return true;
        };
        decoded.push(b'"');
        if any(&decoded, kinds) {
            return true;
        }
        (at, strings_from) = (close + 1, close + 1);
    }
    false
}

/// What the escape at `backslash` does to the text a scanner sees, decoded
/// against raw (see [`escaped_strings_may_hold_pii`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    /// Decodes to a boundary where the raw text has one too.
    Harmless,
    /// A letter escape (`\n` …) before a letter: decoded, the word after it
    /// starts one byte later than in the raw text, where its letter glues on.
    GluesLetter,
    /// A `\u` escape or a malformed one: only decoding tells.
    Opaque,
}

fn escape_at(b: &[u8], backslash: usize) -> Escape {
    match b.get(backslash + 1) {
        Some(b'"' | b'\\' | b'/') => Escape::Harmless,
        Some(b'n' | b't' | b'r' | b'b' | b'f') => {
            if b.get(backslash + 2).is_some_and(u8::is_ascii_alphabetic) {
                Escape::GluesLetter
            } else {
                Escape::Harmless
            }
        }
        _ => Escape::Opaque,
    }
}

/// Decodes the JSON string body starting at `i` into `out`; returns the index of
/// its closing quote, or `None` if an escape is malformed or the string never ends.
fn decode_string(b: &[u8], mut i: usize, out: &mut Vec<u8>) -> Option<usize> {
    loop {
        let next = i + b[i..].iter().position(|&c| c == b'"' || c == b'\\')?;
        out.extend_from_slice(&b[i..next]);
        if b[next] == b'"' {
            return Some(next);
        }
        let e = *b.get(next + 1)?;
        i = next + 2;
        let decoded = match e {
            b'"' | b'\\' | b'/' => e,
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let hi = hex4(b.get(i..i + 4)?)?;
                i += 4;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    if b.get(i..i + 2)? != b"\\u" {
                        return None;
                    }
                    let lo = hex4(b.get(i + 2..i + 6)?)?;
                    i += 6;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return None;
                    }
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                let ch = char::from_u32(code)?;
                out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                continue;
            }
            _ => return None,
        };
        out.push(decoded);
    }
}

fn hex4(h: &[u8]) -> Option<u32> {
    h.iter()
        .try_fold(0u32, |acc, &c| Some(acc * 16 + char::from(c).to_digit(16)?))
}

fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Inbound => "inbound",
        Stage::Hop => "hop",
        Stage::Outbound => "outbound",
    }
}

fn judge(msg: &Message, ctx: &GateContext, cfg: &Config) -> Verdict {
    let action = cfg.action(ctx.stage);
    if action == Action::Allow {
        return Verdict::Allow;
    }
    // Nearly every message holds no PII; the screen spares those the JSON tree.
    if !may_hold_pii(msg, cfg) {
        return Verdict::Allow;
    }
    let (hits, redacted) = inspect(msg, cfg, action == Action::Redact);
    if hits.is_empty() {
        return Verdict::Allow;
    }
    match action {
        Action::Redact => Verdict::Redact(redacted),
        _ => {
            let mut places: Vec<String> = Vec::new();
            for h in &hits {
                let p = format!("{} in {}", h.kind.describe(), h.place);
                if !places.contains(&p) {
                    places.push(p);
                }
            }
            let more = places.len().saturating_sub(3);
            places.truncate(3);
            let mut reason = format!(
                "pii: {} message on `{}` carries {}",
                stage_name(ctx.stage),
                msg.topic,
                places.join("; ")
            );
            if more > 0 {
                reason.push_str(&format!(" (and {more} more)"));
            }
            Verdict::Deny(reason)
        }
    }
}

/// The parsed `[config]`, read on this instance's first call and kept for its life.
/// Config is fixed for a loaded plugin and the same for every caller (a reload
/// makes new instances), so a pooled instance need not parse it per message. This
/// is the plugin's only module state; nothing from a message is kept.
fn cached_config() -> &'static Result<Config, String> {
    static CONFIG: OnceLock<Result<Config, String>> = OnceLock::new();
    CONFIG.get_or_init(|| Config::load(config::get))
}

struct Pii;

impl Policy for Pii {
    fn info() -> PolicyInfo {
        PolicyInfo {
            id: "pii".into(),
            name: "Personal data detection and redaction".into(),
            version: "0.1.0".into(),
        }
    }

    fn evaluate(msg: Message, ctx: GateContext) -> Verdict {
        match cached_config() {
            Ok(cfg) => judge(&msg, &ctx, cfg),
            Err(e) => Verdict::Deny(format!("pii: {e}")),
        }
    }
}

djinn_sdk::export_policy!(Pii);

#[cfg(test)]
mod reference;

#[cfg(test)]
mod tests {
    use super::*;
    use djinn_sdk::MessageExt;
    use std::collections::HashMap;

    fn ctx(stage: Stage) -> GateContext {
        GateContext {
            stage,
            recipient: None,
            recipient_risk: None,
        }
    }

    fn kinds_in(text: &str) -> Vec<&'static str> {
        scan(text, &Kind::ALL)
            .iter()
            .map(|f| f.kind.name())
            .collect()
    }

    fn deny_cfg() -> Config {
        Config {
            inbound: Action::Deny,
            hop: Action::Deny,
            outbound: Action::Deny,
            ..Config::default()
        }
    }

    #[test]
    fn checksums() {
        assert!(luhn(b"4111111111111111"));
        assert!(!luhn(b"4111111111111112"));
        assert!(verhoeff(b"2363"));
        assert!(!verhoeff(b"2364"));
        assert!(iban_valid(b"GB82WEST12345698765432"));
        assert!(iban_valid(b"DE89370400440532013000"));
        assert!(!iban_valid(b"GB82WEST12345698765433"));
    }

    #[test]
    fn finds_emails() {
        assert_eq!(
            kinds_in("mail alice.smith+tax@example.co.in now"),
            ["email"]
        );
        let t = "to: bob@bank.com.";
        let f = scan(t, &Kind::ALL);
        assert_eq!(&t[f[0].start..f[0].end], "bob@bank.com");
        assert!(kinds_in("user@localhost and @handle and a@b.c1").is_empty());
    }

    #[test]
    fn finds_cards_with_spaces_and_dashes() {
        assert_eq!(kinds_in("card 4111111111111111"), ["card"]);
        assert_eq!(kinds_in("card 4111 1111 1111 1111 exp 12/27"), ["card"]);
        assert_eq!(kinds_in("card 5500-0000-0000-0004"), ["card"]);
        assert_eq!(kinds_in("amex 3782 822463 10005"), ["card"]);
        // Spaced out digit by digit.
        assert_eq!(kinds_in("4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1"), ["card"]);
        // Glued to letters.
        assert_eq!(kinds_in("cardno4111111111111111x"), ["card"]);
    }

    #[test]
    fn luhn_invalid_numbers_and_ids_are_not_cards() {
        assert!(kinds_in("order 4111111111111112").is_empty());
        assert!(kinds_in("ref 1234567890123456").is_empty());
        // A date next to a card does not swallow it.
        let t = "paid on 2024-03-01 4111 1111 1111 1111";
        let f = scan(t, &Kind::ALL);
        assert_eq!(f.len(), 1);
        assert_eq!(&t[f[0].start..f[0].end], "4111 1111 1111 1111");
    }

    #[test]
    fn finds_phones() {
        assert_eq!(kinds_in("call +91 98765 43210"), ["phone"]);
        assert_eq!(kinds_in("call +14155552671"), ["phone"]);
        assert_eq!(kinds_in("call 9876543210"), ["phone"]);
        assert_eq!(kinds_in("call 09876543210"), ["phone"]);
        assert_eq!(kinds_in("call (415) 555-2671"), ["phone"]);
        assert_eq!(kinds_in("call 415-555-2671"), ["phone"]);
        assert_eq!(kinds_in("call 415.555.2671"), ["phone"]);
        assert_eq!(kinds_in("call 1-800-555-0199"), ["phone"]);
        let t = "ring (415) 555-2671 today";
        let f = scan(t, &Kind::ALL);
        assert_eq!(&t[f[0].start..f[0].end], "(415) 555-2671");
    }

    #[test]
    fn amounts_dates_and_ids_are_not_phones() {
        for t in [
            "I spent 1,250.00 at Amazon on 2024-03-01",
            "balance 12,34,567.89 INR",
            "2024-03-01T10:30:00Z",
            "amount 1250000.50",
            "epoch 1709251200",
            "ref 4155552671",
            "+1,250.00 credit",
            "12/03/2024 10:45",
        ] {
            assert!(kinds_in(t).is_empty(), "{t}: {:?}", kinds_in(t));
        }
    }

    #[test]
    fn finds_iban_pan_aadhaar_ssn() {
        assert_eq!(
            kinds_in("iban GB82 WEST 1234 5698 7654 32 please"),
            ["iban"]
        );
        assert_eq!(kinds_in("iban de89370400440532013000"), ["iban"]);
        assert_eq!(kinds_in("PAN ABCPE1234F."), ["pan"]);
        assert_eq!(kinds_in("aadhaar 2345 6789 0124"), ["aadhaar"]);
        assert_eq!(kinds_in("aadhaar 234567890124"), ["aadhaar"]);
        assert_eq!(kinds_in("ssn 123-45-6789"), ["ssn"]);
        assert_eq!(kinds_in("ssn 123 45 6789"), ["ssn"]);
    }

    #[test]
    fn near_misses_are_not_pii() {
        // Verhoeff fails.
        assert!(kinds_in("id 2345 6789 0123").is_empty());
        // Invalid SSN ranges.
        for t in [
            "000-12-3456",
            "666-12-3456",
            "912-12-3456",
            "123-00-4567",
            "123-45-0000",
        ] {
            assert!(kinds_in(t).is_empty(), "{t}");
        }
        // A PAN needs a holder-type letter and word boundaries.
        assert!(kinds_in("ABCDE1234F").is_empty());
        assert!(kinds_in("XABCPE1234F").is_empty());
        // mod-97 fails.
        assert!(kinds_in("GB82 WEST 1234 5698 7654 33").is_empty());
    }

    #[test]
    fn statement_csv_without_pii_passes() {
        let csv = "date,description,amount\n2024-03-01,AMAZON MKTP IN*2K4,-1250.00\n\
                   2024-03-02,SALARY ACME CORP,85000.00\n2024-03-05,UPI/SWIGGY/ref 420612345678,-349.50\n";
        let payload =
            serde_json::json!({"question": "Where did my money go?", "statement": {"csv": csv}});
        let m = Message::new("question", payload.to_string()).with_meta("user_id", "u-42");
        assert_eq!(judge(&m, &ctx(Stage::Inbound), &deny_cfg()), Verdict::Allow);
        let m = Message::new(
            "question",
            r#"{"question":"I spent 1,250.00 at Amazon on 2024-03-01, is that a lot?"}"#,
        );
        assert_eq!(judge(&m, &ctx(Stage::Inbound), &deny_cfg()), Verdict::Allow);
    }

    #[test]
    fn deny_names_the_place_not_the_value() {
        let payload = r#"{"statement":{"csv":"2024-03-01,card 4111 1111 1111 1111,-10.00"}}"#;
        let m = Message::new("question", payload);
        let Verdict::Deny(r) = judge(&m, &ctx(Stage::Inbound), &deny_cfg()) else {
            panic!("expected deny")
        };
        assert!(
            r.contains("payment card number in payload at /statement/csv"),
            "{r}"
        );
        assert!(!r.contains("4111"), "{r}");
    }

    #[test]
    fn redaction_keeps_json_valid() {
        let payload = r#"{"answer":"Mail alice@example.com or call +91 98765 43210","card":4111111111111111,"rows":["ok","ssn 123-45-6789"]}"#;
        let m = Message::new("answer", payload);
        let Verdict::Redact(out) = judge(&m, &ctx(Stage::Outbound), &Config::default()) else {
            panic!("expected redact")
        };
        let v: Value = serde_json::from_str(&out.payload).unwrap();
        assert_eq!(
            v["answer"],
            "Mail [REDACTED:email] or call [REDACTED:phone]"
        );
        assert_eq!(v["card"], "[REDACTED:card]");
        assert_eq!(v["rows"][1], "ssn [REDACTED:ssn]");
        assert_eq!(v["rows"][0], "ok");
    }

    #[test]
    fn json_escapes_do_not_hide_pii() {
        // "4111 1111 1111 1111" with the digits written as \u escapes.
        let payload = r#"{"q":"\u0034\u0031\u0031\u0031 1111 1111 1111"}"#;
        let m = Message::new("question", payload);
        assert!(matches!(
            judge(&m, &ctx(Stage::Inbound), &deny_cfg()),
            Verdict::Deny(r) if r.contains("card")
        ));
    }

    #[test]
    fn metadata_is_scanned_and_cannot_switch_the_policy_off() {
        // Genie regression: PII in metadata, and a `pii_acknowledged` flag.
        let m = Message::new("question", r#"{"question":"hi"}"#)
            .with_meta("pii_acknowledged", "true")
            .with_meta("note", "card 4111-1111-1111-1111");
        let Verdict::Deny(r) = judge(&m, &ctx(Stage::Hop), &deny_cfg()) else {
            panic!("expected deny")
        };
        assert!(r.contains("metadata `note`"), "{r}");

        let Verdict::Redact(out) = judge(&m, &ctx(Stage::Hop), &Config::default()) else {
            panic!("expected redact")
        };
        assert_eq!(out.meta("note"), Some("card [REDACTED:card]"));
        assert_eq!(out.payload, m.payload);
    }

    #[test]
    fn exempt_metadata_keys_are_not_scanned_but_others_are() {
        let m = Message::new("question", "{}").with_meta("user_id", "alice@example.com");
        assert_eq!(judge(&m, &ctx(Stage::Inbound), &deny_cfg()), Verdict::Allow);
        let m = m.with_meta("contact", "alice@example.com");
        assert!(matches!(
            judge(&m, &ctx(Stage::Inbound), &deny_cfg()),
            Verdict::Deny(_)
        ));
    }

    #[test]
    fn plain_text_payload_is_redacted_as_text() {
        let m = Message::new("answer", "PAN ABCPE1234F on file");
        let Verdict::Redact(out) = judge(&m, &ctx(Stage::Outbound), &Config::default()) else {
            panic!("expected redact")
        };
        assert_eq!(out.payload, "PAN [REDACTED:pan] on file");
    }

    #[test]
    fn allow_action_and_disabled_kinds() {
        let m = Message::new("answer", r#"{"a":"bob@example.com"}"#);
        let cfg = Config {
            outbound: Action::Allow,
            ..Config::default()
        };
        assert_eq!(judge(&m, &ctx(Stage::Outbound), &cfg), Verdict::Allow);
        let cfg = Config {
            kinds: vec![Kind::Card],
            ..deny_cfg()
        };
        assert_eq!(judge(&m, &ctx(Stage::Outbound), &cfg), Verdict::Allow);
    }

    #[test]
    fn config_is_parsed_and_bad_values_are_named() {
        let map: HashMap<&str, &str> = [("inbound", "deny"), ("kinds", "card, email")].into();
        let cfg = Config::load(|k| map.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(cfg.inbound, Action::Deny);
        assert_eq!(cfg.outbound, Action::Redact);
        assert_eq!(cfg.kinds, [Kind::Card, Kind::Email]);

        let err = Config::load(|k| (k == "outbound").then(|| "block".to_string())).unwrap_err();
        assert!(err.contains("`outbound`"), "{err}");
        let err =
            Config::load(|k| (k == "kinds").then(|| "card,passport".to_string())).unwrap_err();
        assert!(err.contains("`passport`"), "{err}");
    }

    /// A small deterministic generator (xorshift), so failures reproduce.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }

        /// Text made of fragments that form PII, near misses and boundaries.
        fn text(&mut self) -> String {
            const BITS: &[&str] = &[
                "4111",
                "1111",
                "5500",
                "0000",
                "0004",
                "3782",
                "822463",
                "10005",
                "2345",
                "6789",
                "0124",
                "0123",
                "123",
                "45",
                "6789",
                "98765",
                "43210",
                "9876543210",
                "415",
                "555",
                "2671",
                "1",
                "2",
                "9",
                "0",
                "91",
                "+",
                "(",
                ")",
                " ",
                " ",
                "  ",
                "-",
                "-",
                ".",
                ",",
                "/",
                "@",
                "a",
                "x",
                "bob",
                "example",
                "com",
                "co",
                "in",
                "ABCPE",
                "1234",
                "F",
                "GB82",
                "WEST",
                "1234",
                "5698",
                "7654",
                "32",
                "de89",
                "370400440532013000",
                "\n",
                "\t",
                "\"",
                "\\",
                "é",
                "ＩＧ",
                "_",
                "%",
                "2024-03-01",
                "-1250.00",
                "ref ",
                "UPI/",
            ];
            let n = 1 + self.below(24);
            (0..n).map(|_| self.pick(BITS)).collect()
        }

        /// A JSON number as text, some of which print differently when parsed.
        fn number(&mut self) -> String {
            match self.below(7) {
                0 => format!("{}", self.next() % 100_000),
                1 => format!("-{}", self.next() % 10_000_000_000_000_000),
                2 => format!("{}.{}", self.next() % 100_000_000_000, self.below(100)),
                3 => format!("{}e{}", 1 + self.below(9), self.below(22)),
                // An integer mantissa: 987654321e1 prints as 9876543210.0.
                6 => format!("{}e{}", self.next() % 100_000_000_000, self.below(4)),
                4 => format!(
                    "{}.{}e{}",
                    1 + self.below(9),
                    self.next() % 1_000_000_000,
                    self.below(20)
                ),
                _ => format!("{}{}", self.next(), self.next() % 1000),
            }
        }

        /// JSON text: objects, arrays, strings (escaped by serde or by hand), numbers.
        fn json(&mut self, depth: usize) -> String {
            match self.below(if depth > 2 { 3 } else { 5 }) {
                0 => serde_json::to_string(&self.text()).unwrap(),
                1 => {
                    // Hand-written escapes: \uXXXX for digits and letters, \n, \/.
                    let t = self.text();
                    let mut out = String::from("\"");
                    for c in t.chars() {
                        match c {
                            '"' => out.push_str("\\\""),
                            '\\' => out.push_str("\\\\"),
                            '\n' => out.push_str("\\n"),
                            '\t' => out.push_str("\\t"),
                            '/' => out.push_str("\\/"),
                            c if c.is_ascii_alphanumeric() && self.below(3) == 0 => {
                                out.push_str(&format!("\\u{:04x}", c as u32))
                            }
                            c => out.push(c),
                        }
                    }
                    out.push('"');
                    out
                }
                2 => self.number(),
                3 => {
                    let n = self.below(4);
                    let items: Vec<String> = (0..n).map(|_| self.json(depth + 1)).collect();
                    format!("[{}]", items.join(", "))
                }
                _ => {
                    let n = self.below(4);
                    let items: Vec<String> = (0..n)
                        .map(|_| {
                            let key = serde_json::to_string(&self.text()).unwrap();
                            format!("{key}: {}", self.json(depth + 1))
                        })
                        .collect();
                    format!("{{{}}}", items.join(","))
                }
            }
        }
    }

    #[test]
    fn the_one_pass_scanner_agrees_with_the_reference_scanners() {
        let mut g = Gen(0x9E37_79B9_7F4A_7C15);
        let mut with_findings = 0;
        for _ in 0..30_000 {
            let t = g.text();
            let ours = scan(&t, &Kind::ALL);
            assert_eq!(ours, reference::scan(&t, &Kind::ALL), "text {t:?}");
            with_findings += usize::from(!ours.is_empty());
            let some = [Kind::Card, Kind::Pan];
            assert_eq!(scan(&t, &some), reference::scan(&t, &some), "text {t:?}");
        }
        // The generator must actually produce PII, or agreement proves nothing.
        assert!(
            with_findings > 3_000,
            "only {with_findings} texts had findings"
        );
    }

    #[test]
    fn the_screen_never_passes_a_message_the_full_inspection_flags() {
        let mut g = Gen(0x2545_F491_4F6C_DD1D);
        let cfg = Config::default();
        let (mut flagged, mut screened_in) = (0, 0);
        for i in 0..20_000 {
            let payload = match i % 10 {
                // Not JSON: inspected as text.
                0 => g.text(),
                1 => format!("{} {}", g.json(0), g.text()),
                _ => g.json(0),
            };
            let mut m = Message::new("question", payload);
            if i % 7 == 0 {
                m = m.with_meta("note", g.text());
            }
            let screen = may_hold_pii(&m, &cfg);
            let (hits, _) = inspect(&m, &cfg, false);
            assert!(
                screen || hits.is_empty(),
                "the screen passed {:?} but inspect found {hits:?}",
                m.payload
            );
            flagged += usize::from(!hits.is_empty());
            screened_in += usize::from(screen);
        }
        assert!(flagged > 2_000, "only {flagged} payloads held PII");
        // The screen is useful only if it passes most clean payloads.
        assert!(
            screened_in < flagged + (20_000 - flagged) / 2,
            "the screen let {screened_in} through for {flagged} with PII"
        );
    }

    #[test]
    fn the_quick_screen_never_passes_a_payload_the_full_inspection_flags() {
        let mut g = Gen(0x5851_F42D_4C95_7F2D);
        let some = [Kind::Phone, Kind::Pan, Kind::Email];
        let (mut flagged, mut quick_in) = (0, 0);
        let total = 40_000;
        for i in 0..total {
            let payload = match i % 10 {
                0 => g.text(),
                1 => format!("{} {}", g.json(0), g.text()),
                // Long payloads, so places cross the 64-byte blocks.
                2 | 3 => {
                    let items: Vec<String> = (0..8).map(|_| g.json(1)).collect();
                    format!("[{}]", items.join(","))
                }
                _ => g.json(0),
            };
            // JSON whitespace in front moves everything against the blocks.
            let payload = format!("{}{payload}", " ".repeat(i % 70));
            let b = payload.as_bytes();
            let m = Message::new("question", payload.clone());
            for kinds in [&Kind::ALL[..], &some[..]] {
                let cfg = Config {
                    kinds: kinds.to_vec(),
                    ..Config::default()
                };
                let (hits, _) = inspect(&m, &cfg, false);
                let quick = quick::may_hold_pii(b, kinds);
                assert!(
                    quick || hits.is_empty(),
                    "the quick screen passed {payload:?} (kinds {kinds:?}) but inspect found {hits:?}"
                );
                if kinds.len() == Kind::ALL.len() {
                    flagged += usize::from(!hits.is_empty());
                    quick_in += usize::from(quick);
                }
            }
        }
        assert!(flagged > 4_000, "only {flagged} payloads held PII");
        // Useful only if it passes most clean payloads.
        assert!(
            quick_in < flagged + (total - flagged) / 2,
            "the quick screen let {quick_in} through for {flagged} with PII"
        );
    }

    #[test]
    fn escapes_and_number_forms_do_not_hide_pii_from_the_screen() {
        for payload in [
            // A PAN after an escaped newline: the raw text reads `nABCPE1234F`.
            r#"{"note":"x\nABCPE1234F"}"#,
            // An IBAN after an escaped tab, in a key.
            r#"{"x\tGB82WEST12345698765432":true}"#,
            // Digits as \u escapes, and an escaped slash inside an email.
            r#"{"q":"\u0034111 1111 1111 1111"}"#,
            r#"{"q":"bob\u0040example.com"}"#,
            // A phone number as a float with an exponent: walk sees 9876543210.0.
            r#"{"n":9.87654321e9}"#,
            // A card as a float: 4111111111111111.0.
            r#"{"n":4.111111111111111e15}"#,
            // A key that is PII.
            r#"{"4111 1111 1111 1111":1}"#,
        ] {
            let m = Message::new("question", payload);
            assert!(
                matches!(
                    judge(&m, &ctx(Stage::Inbound), &deny_cfg()),
                    Verdict::Deny(_)
                ),
                "{payload}"
            );
        }
    }
}
