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
//! Why JSON is parsed first: scanning the decoded strings catches PII hidden behind
//! JSON escapes (`\u0034\u0031…`), and redacting inside decoded strings keeps the
//! payload valid JSON.

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
fn scan(text: &str, kinds: &[Kind]) -> Vec<Finding> {
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
        match Config::load(config::get) {
            Ok(cfg) => judge(&msg, &ctx, &cfg),
            Err(e) => Verdict::Deny(format!("pii: {e}")),
        }
    }
}

djinn_sdk::export_policy!(Pii);

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
}
