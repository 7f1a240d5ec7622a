//! The scanners as they were before the one-pass rewrite, kept (test-only) as the
//! oracle the rewrite is checked against on generated text.

#![allow(dead_code)]

use super::{Finding, Kind, iban_valid, luhn, ssn_valid, verhoeff};

fn is_alnum(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

fn scan_emails(b: &[u8], out: &mut Vec<Finding>) {
    let local = |c: u8| is_alnum(c) || b"._%+-".contains(&c);
    let domain = |c: u8| is_alnum(c) || c == b'.' || c == b'-';
    for at in (0..b.len()).filter(|&i| b[i] == b'@') {
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
            continue;
        }
        let dom = &b[at + 1..e];
        let mut labels = dom.split(|&c| c == b'.');
        let tld_ok = dom
            .rsplit(|&c| c == b'.')
            .next()
            .is_some_and(|t| t.len() >= 2 && t.iter().all(u8::is_ascii_alphabetic));
        if dom.contains(&b'.') && tld_ok && labels.all(|l| !l.is_empty()) {
            out.push(Finding {
                kind: Kind::Email,
                start: s,
                end: e,
            });
        }
    }
}

fn scan_pans(b: &[u8], out: &mut Vec<Finding>) {
    if b.len() < 10 {
        return;
    }
    for i in 0..=b.len() - 10 {
        if (i > 0 && is_alnum(b[i - 1])) || (i + 10 < b.len() && is_alnum(b[i + 10])) {
            continue;
        }
        let w = &b[i..i + 10];
        // The fourth letter is the holder type (person, company, HUF, firm, ...).
        if w[..5].iter().all(u8::is_ascii_alphabetic)
            && w[5..9].iter().all(u8::is_ascii_digit)
            && w[9].is_ascii_alphabetic()
            && b"PCHFATBLJG".contains(&w[3].to_ascii_uppercase())
        {
            out.push(Finding {
                kind: Kind::Pan,
                start: i,
                end: i + 10,
            });
        }
    }
}

fn scan_ibans(b: &[u8], out: &mut Vec<Finding>) {
    let mut i = 0;
    while i + 4 <= b.len() {
        let starts = (i == 0 || !is_alnum(b[i - 1]))
            && b[i].is_ascii_alphabetic()
            && b[i + 1].is_ascii_alphabetic()
            && b[i + 2].is_ascii_digit()
            && b[i + 3].is_ascii_digit();
        if !starts {
            i += 1;
            continue;
        }
        // Collect alphanumerics, allowing single spaces between groups; remember
        // where each group ends, since an IBAN ends at the end of a group.
        let mut chars = Vec::with_capacity(34);
        let mut ends = Vec::new();
        let mut k = i;
        loop {
            while k < b.len() && is_alnum(b[k]) && chars.len() <= 34 {
                chars.push(b[k]);
                k += 1;
            }
            if chars.len() > 34 {
                break;
            }
            ends.push((chars.len(), k));
            if k + 1 < b.len() && b[k] == b' ' && is_alnum(b[k + 1]) {
                k += 1;
            } else {
                break;
            }
        }
        let found = ends
            .iter()
            .rev()
            .find(|(n, _)| iban_valid(&chars[..*n]))
            .map(|&(_, end)| end);
        match found {
            Some(end) => {
                out.push(Finding {
                    kind: Kind::Iban,
                    start: i,
                    end,
                });
                i = end;
            }
            None => i += 1,
        }
    }
}

/// A run of digits broken only by short separators, e.g. `+91 98765-43210` or
/// `(415) 555-2671`.
struct NumberRun {
    /// Starts with `+` (E.164) or `(` (a US area code).
    plus: bool,
    paren: bool,
    lead: usize,
    /// Byte ranges of the digit groups.
    groups: Vec<(usize, usize)>,
}

fn is_sep(c: u8) -> bool {
    matches!(c, b' ' | b'-' | b'.' | b'(' | b')')
}

fn number_runs(b: &[u8]) -> Vec<NumberRun> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let plus = i > 0 && b[i - 1] == b'+';
        let paren = i > 0 && b[i - 1] == b'(';
        let lead = if plus || paren { i - 1 } else { i };
        let mut groups = Vec::new();
        loop {
            let s = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            groups.push((s, i));
            let mut k = i;
            while k < b.len() && k - i < 2 && is_sep(b[k]) {
                k += 1;
            }
            if k > i && k < b.len() && b[k].is_ascii_digit() {
                i = k;
            } else {
                break;
            }
        }
        runs.push(NumberRun {
            plus,
            paren,
            lead,
            groups,
        });
    }
    runs
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
    // Cheap exit before any allocation: this runs for every number in a statement,
    // and nothing here is shorter than 9 digits (8 with a leading `+`).
    let n: usize = g.iter().map(|&(s, e)| e - s).sum();
    if n < 8 || (n == 8 && !plus) || n > 19 {
        return None;
    }
    let digits: Vec<u8> = g
        .iter()
        .flat_map(|&(s, e)| b[s..e].iter().copied())
        .collect();
    let lens: Vec<usize> = g.iter().map(|&(s, e)| e - s).collect();
    let seps: Vec<&[u8]> = g.windows(2).map(|w| &b[w[0].1..w[1].0]).collect();
    let on = |k: Kind| kinds.contains(&k);

    if on(Kind::Card)
        && !plus
        && !paren
        && (13..=19).contains(&n)
        && uniform_seps(&seps, b" -")
        && (b'2'..=b'6').contains(&digits[0])
        && luhn(&digits)
    {
        return Some(Kind::Card);
    }
    if on(Kind::Aadhaar)
        && !plus
        && !paren
        && n == 12
        && (lens == [12] || (lens == [4, 4, 4] && uniform_seps(&seps, b" -")))
        && digits[0] >= b'2'
        && verhoeff(&digits)
    {
        return Some(Kind::Aadhaar);
    }
    if on(Kind::Ssn)
        && !plus
        && !paren
        && lens == [3, 2, 4]
        && uniform_seps(&seps, b" -")
        && ssn_valid(&digits)
    {
        return Some(Kind::Ssn);
    }
    if on(Kind::Phone) && phone(&digits, &lens, &seps, plus, paren) {
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

fn scan_numbers(b: &[u8], kinds: &[Kind], out: &mut Vec<Finding>) {
    for run in number_runs(b) {
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
                .find_map(|j| classify(b, &run, i, j, kinds).map(|k| (j, k)));
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
}

/// Every piece of PII of the enabled `kinds` in `text`, in order, not overlapping.
pub(super) fn scan(text: &str, kinds: &[Kind]) -> Vec<Finding> {
    let b = text.as_bytes();
    let mut found = Vec::new();
    if kinds.contains(&Kind::Email) {
        scan_emails(b, &mut found);
    }
    if kinds.contains(&Kind::Iban) {
        scan_ibans(b, &mut found);
    }
    if kinds.contains(&Kind::Pan) {
        scan_pans(b, &mut found);
    }
    scan_numbers(b, kinds, &mut found);
    found.sort_by_key(|f| (f.start, usize::MAX - f.end));
    let mut out: Vec<Finding> = Vec::with_capacity(found.len());
    for f in found {
        if out.last().is_none_or(|l| f.start >= l.end) {
            out.push(f);
        }
    }
    out
}
