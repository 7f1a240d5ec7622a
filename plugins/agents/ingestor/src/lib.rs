//! Parses a bank statement CSV into transactions (`statement.ingest` → `transactions.raw`).
//!
//! Money is parsed from its decimal text straight into integer minor units: a float
//! never touches an amount (Genie parsed amounts as floats and rounded). Bad rows are
//! reported with their physical line number and skipped, so one typo does not lose a
//! whole statement; a statement with no good row at all is an `invalid-input` error.
//!
//! Fuel: the common shapes (a row without quotes, `85000.00`, `2024-07-01`) take fast
//! paths that borrow from the CSV text instead of allocating; anything else falls back
//! to the general code, which stays the definition and which the tests compare the
//! fast paths with (`reference.rs` keeps the code as it was before them).

mod raw_payload;
#[cfg(test)]
mod reference;
mod scan;

use std::borrow::Cow;

use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError};
use serde::Serialize;

/// One parsed statement row.
///
/// Fields are in the order they are printed: sorted by key, as a
/// `serde_json::Value` map prints them, which is how this payload was first built.
/// The text fields borrow from the CSV whenever they appear there verbatim (fuel: a
/// `String` per field was ~3 allocations a row, each a few hundred wasm instructions).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transaction<'a> {
    /// Minor units; debits are negative.
    pub amount_cents: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<Cow<'a, str>>,
    /// `YYYY-MM-DD`.
    pub date: Cow<'a, str>,
    pub description: Cow<'a, str>,
    /// 1-based physical line in the CSV text.
    pub line: usize,
    /// `credit` or `debit`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// A row that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowError {
    pub line: usize,
    pub message: String,
}

/// The outcome of parsing a whole statement.
#[derive(Debug, Default, PartialEq)]
pub struct Parsed<'a> {
    pub transactions: Vec<Transaction<'a>>,
    pub errors: Vec<RowError>,
}

/// Column positions found in the header.
struct Columns {
    date: usize,
    description: usize,
    amount: usize,
    kind: usize,
    category: Option<usize>,
    width: usize,
}

/// Splits one CSV line into fields (RFC 4180 quoting: `"a, b"`, `""` for a quote).
/// Quoted fields may not span lines.
pub fn split_fields(line: &str) -> Result<Vec<Cow<'_, str>>, String> {
    let mut fields = Vec::new();
    split_fields_into(line, &mut fields)?;
    Ok(fields)
}

/// [`split_fields`] into a vector the caller reuses from row to row (fuel: one `Vec`
/// allocation a row saved).
fn split_fields_into<'a>(line: &'a str, fields: &mut Vec<Cow<'a, str>>) -> Result<(), String> {
    fields.clear();
    if split_unquoted_fields(line, fields) {
        return Ok(());
    }
    fields.clear();
    split_quoted_fields(line, fields)
}

/// The fields of a line with no quote in it: the trimmed pieces between commas,
/// borrowed from the line, which is exactly what [`split_quoted_fields`] yields for
/// such a line. `false` (and some fields pushed) when the line has a quote.
///
/// Fuel: almost every row has no quote; a word-at-a-time search here costs a fraction
/// of `str::split`, and of the general splitter's `String` per field.
fn split_unquoted_fields<'a>(line: &'a str, fields: &mut Vec<Cow<'a, str>>) -> bool {
    let mut start = 0;
    for i in scan::positions(line.as_bytes(), [b',', b'"']) {
        if line.as_bytes()[i] == b'"' {
            return false;
        }
        // `start` is 0 or just after a comma and `i` is at one: both char boundaries.
        fields.push(Cow::Borrowed(trim(&line[start..i])));
        start = i + 1;
    }
    fields.push(Cow::Borrowed(trim(&line[start..])));
    true
}

/// `str::trim`, answered without decoding UTF-8 when the text is empty or starts and
/// ends with a visible ASCII character, as almost every field does (fuel: `trim`
/// decodes a char at each end, ~50 wasm instructions a call).
fn trim(text: &str) -> &str {
    match (text.as_bytes().first(), text.as_bytes().last()) {
        (None, _) => text,
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

/// The general splitter: the definition of [`split_fields`], used for any line with a
/// quote in it.
fn split_quoted_fields(line: &str, fields: &mut Vec<Cow<'_, str>>) -> Result<(), String> {
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut in_quotes = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
        } else {
            match c {
                '"' if field.trim().is_empty() && !was_quoted => {
                    field.clear();
                    in_quotes = true;
                    was_quoted = true;
                }
                '"' => return Err("stray quote inside an unquoted field".into()),
                ',' => {
                    fields.push(finish(&field, was_quoted));
                    field.clear();
                    was_quoted = false;
                }
                c if was_quoted && !c.is_whitespace() => {
                    return Err("text after a closing quote".into());
                }
                c => field.push(c),
            }
        }
    }
    if in_quotes {
        return Err("unterminated quoted field (quoted fields may not span lines)".into());
    }
    fields.push(finish(&field, was_quoted));
    Ok(())
}

fn finish(field: &str, quoted: bool) -> Cow<'static, str> {
    Cow::Owned(if quoted {
        field.to_owned()
    } else {
        field.trim().to_owned()
    })
}

fn find_columns(header: &[Cow<'_, str>]) -> Result<Columns, String> {
    let names: Vec<String> = header
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let pos = |n: &str| names.iter().position(|h| h == n);
    let missing: Vec<&str> = ["date", "description", "amount", "type"]
        .into_iter()
        .filter(|n| pos(n).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "line 1: the header lacks column(s) {} (found: {}); required: date, description, amount, type; optional: category",
            missing.join(", "),
            names.join(", ")
        ));
    }
    let (Some(date), Some(description), Some(amount), Some(kind)) =
        (pos("date"), pos("description"), pos("amount"), pos("type"))
    else {
        return Err("line 1: header columns missing".into());
    };
    Ok(Columns {
        date,
        description,
        amount,
        kind,
        category: pos("category"),
        width: names.len(),
    })
}

/// Parses a decimal amount (`1234.5`, `1,234.50`, `₹ 99`, `-20`) into minor units
/// without floating point. At most two decimal places.
pub fn parse_amount(text: &str) -> Result<i64, String> {
    let mut s = text.trim();
    for prefix in ["₹", "INR", "Rs.", "Rs"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest.trim();
        }
    }
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest.trim()),
        None => (false, s.strip_prefix('+').unwrap_or(s).trim()),
    };
    let cleaned: String = s.chars().filter(|c| *c != ',').collect();
    if cleaned.is_empty() {
        return Err("amount is empty".into());
    }
    let (whole, frac) = match cleaned.split_once('.') {
        Some((w, f)) => (w, f),
        None => (cleaned.as_str(), ""),
    };
    let digits = |p: &str| p.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() && frac.is_empty() || !digits(whole) || !digits(frac) {
        return Err(format!("amount `{}` is not a number", text.trim()));
    }
    if frac.len() > 2 {
        return Err(format!(
            "amount `{}` has more than 2 decimal places",
            text.trim()
        ));
    }
    let whole_v: i64 = if whole.is_empty() {
        0
    } else {
        whole
            .parse()
            .map_err(|_| format!("amount `{}` is too large", text.trim()))?
    };
    let frac_v: i64 = format!("{frac:0<2}").parse().unwrap_or(0);
    let cents = whole_v
        .checked_mul(100)
        .and_then(|v| v.checked_add(frac_v))
        .ok_or_else(|| format!("amount `{}` is too large", text.trim()))?;
    Ok(if negative { -cents } else { cents })
}

fn is_leap(y: u32) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

/// Accepts `YYYY-MM-DD`, `YYYY/MM/DD`, `DD-MM-YYYY` and `DD/MM/YYYY`; returns `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<String, String> {
    let t = text.trim();
    let parts: Vec<&str> = t.split(['-', '/']).collect();
    let bad = || format!("date `{t}` is not YYYY-MM-DD (or DD/MM/YYYY)");
    if parts.len() != 3
        || !parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(bad());
    }
    let (y, m, d) = if parts[0].len() == 4 {
        (parts[0], parts[1], parts[2])
    } else if parts[2].len() == 4 {
        (parts[2], parts[1], parts[0])
    } else {
        return Err(bad());
    };
    let (y, m, d): (u32, u32, u32) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => return Err(format!("date `{t}` has month {m}")),
    };
    if d == 0 || d > days || !(1900..=2200).contains(&y) {
        return Err(format!("date `{t}` does not exist"));
    }
    Ok(format!("{y:04}-{m:02}-{d:02}"))
}

/// The common amount form, `85000.00`: digits with at most two decimals, nothing else.
/// `None` for anything else, which [`parse_amount`] then decides (fuel: it builds a
/// `String` and calls `format!` for every amount).
fn plain_amount(text: &str) -> Option<i64> {
    // Bytes, not `split_once('.')`: its `str` searcher cost more than the whole parse.
    let bytes = text.as_bytes();
    let (whole, decimals) = match bytes.iter().position(|&b| b == b'.') {
        Some(point) => (&bytes[..point], &bytes[point + 1..]),
        None => (bytes, &[][..]),
    };
    // 15 digits cannot overflow once multiplied by 100.
    if whole.is_empty() || whole.len() > 15 || decimals.len() > 2 {
        return None;
    }
    let mut cents: i64 = 0;
    for &b in whole {
        cents = cents * 10 + i64::from(ascii_digit(b)?);
    }
    for &b in decimals {
        cents = cents * 10 + i64::from(ascii_digit(b)?);
    }
    let scale = match decimals.len() {
        0 => 100,
        1 => 10,
        _ => 1,
    };
    Some(cents * scale)
}

fn ascii_digit(b: u8) -> Option<u8> {
    b.is_ascii_digit().then(|| b - b'0')
}

/// The common date form, a valid `YYYY-MM-DD`, which is already what [`parse_date`]
/// would print, so it is returned as is. `None` for anything else, which
/// [`parse_date`] then decides (fuel: it collects a `Vec` and calls `format!`).
fn iso_date(text: &str) -> Option<&str> {
    let t = trim(text);
    let &[y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] = t.as_bytes() else {
        return None;
    };
    let digit = |b: u8| ascii_digit(b).map(u32::from);
    let y = digit(y1)? * 1000 + digit(y2)? * 100 + digit(y3)? * 10 + digit(y4)?;
    let m = digit(m1)? * 10 + digit(m2)?;
    let d = digit(d1)? * 10 + digit(d2)?;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => return None,
    };
    (d != 0 && d <= days && (1900..=2200).contains(&y)).then_some(t)
}

/// `field` trimmed, still borrowed from the CSV text when the field is.
fn trimmed<'a>(field: &Cow<'a, str>) -> Cow<'a, str> {
    match field {
        Cow::Borrowed(text) => Cow::Borrowed(trim(text)),
        Cow::Owned(text) => Cow::Owned(trim(text).to_owned()),
    }
}

fn parse_row<'a>(
    line: usize,
    fields: &[Cow<'a, str>],
    cols: &Columns,
) -> Result<Transaction<'a>, String> {
    if fields.len() != cols.width {
        return Err(format!(
            "expected {} fields as in the header, found {}",
            cols.width,
            fields.len()
        ));
    }
    let date = match &fields[cols.date] {
        Cow::Borrowed(text) => match iso_date(text) {
            Some(date) => Cow::Borrowed(date),
            None => Cow::Owned(parse_date(text)?),
        },
        Cow::Owned(text) => Cow::Owned(parse_date(text)?),
    };
    let description = trimmed(&fields[cols.description]);
    if description.is_empty() {
        return Err("description is empty".into());
    }
    let amount_text = &fields[cols.amount];
    let amount = match plain_amount(trim(amount_text)) {
        Some(cents) => cents,
        None => parse_amount(amount_text)?,
    };
    // Compared without lowercasing: the same answer as `to_ascii_lowercase` and then
    // `==`, without a `String` a row.
    let kind_text = trim(&fields[cols.kind]);
    let kind = if ["credit", "cr"]
        .iter()
        .any(|k| kind_text.eq_ignore_ascii_case(k))
    {
        "credit"
    } else if ["debit", "dr"]
        .iter()
        .any(|k| kind_text.eq_ignore_ascii_case(k))
    {
        "debit"
    } else {
        return Err(format!(
            "type `{}` is neither credit nor debit",
            kind_text.to_ascii_lowercase()
        ));
    };
    // The amount column may be unsigned (the usual case) or already signed for debits.
    let amount_cents = match (kind, amount < 0) {
        ("credit", true) => return Err("a credit with a negative amount".into()),
        ("credit", false) => amount,
        _ => -amount.abs(),
    };
    if amount_cents == 0 {
        return Err("amount is zero".into());
    }
    let category = cols
        .category
        .map(|i| trimmed(&fields[i]))
        .filter(|c| !c.is_empty())
        .map(|c| {
            // Most categories are written in lower case already: keep those borrowed.
            if c.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(c.to_ascii_lowercase())
            } else {
                c
            }
        });
    Ok(Transaction {
        line,
        date,
        description,
        amount_cents,
        kind,
        category,
    })
}

/// The non-blank lines of a statement with their 1-based physical line numbers, each
/// without its leading byte-order marks: `csv.lines().enumerate()`, then
/// `trim_start_matches('\u{feff}')`, then blank lines skipped, with line ends found a
/// word at a time (fuel: those `str` iterators cost ~10 wasm instructions a byte of
/// the statement).
struct StatementLines<'a> {
    csv: &'a str,
    newlines: scan::Positions<'a, 1>,
    /// Where the next line starts.
    start: usize,
    /// The physical number of the line last read.
    number: usize,
}

impl<'a> StatementLines<'a> {
    fn new(csv: &'a str) -> Self {
        StatementLines {
            csv,
            newlines: scan::positions(csv.as_bytes(), [b'\n']),
            start: 0,
            number: 0,
        }
    }
}

impl<'a> Iterator for StatementLines<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<(usize, &'a str)> {
        while self.start < self.csv.len() {
            self.number += 1;
            // As `str::lines`: split after each `\n`, drop it and a `\r` before it; the
            // last line may lack the `\n`, and nothing follows a final `\n`.
            let line = match self.newlines.next() {
                Some(end) => {
                    let line = &self.csv[self.start..end];
                    self.start = end + 1;
                    line.strip_suffix('\r').unwrap_or(line)
                }
                None => {
                    let line = &self.csv[self.start..];
                    self.start = self.csv.len();
                    line
                }
            };
            let line = line.trim_start_matches('\u{feff}');
            if !trim(line).is_empty() {
                return Some((self.number, line));
            }
        }
        None
    }
}

/// Parses a whole statement. `Err` only when nothing usable is left: no header, no
/// data rows, or every data row bad.
pub fn parse_statement(csv: &str) -> Result<Parsed<'_>, String> {
    let mut lines = StatementLines::new(csv);
    let Some((header_line, header)) = lines.next() else {
        return Err("the statement is empty; expected a CSV header `date,description,amount,type[,category]`".into());
    };
    let header = split_fields(header).map_err(|e| format!("line {header_line}: {e}"))?;
    let cols = find_columns(&header)?;
    let mut out = Parsed::default();
    let mut fields = Vec::with_capacity(cols.width);
    for (line, text) in lines {
        let row =
            split_fields_into(text, &mut fields).and_then(|()| parse_row(line, &fields, &cols));
        match row {
            Ok(t) => out.transactions.push(t),
            Err(message) => out.errors.push(RowError { line, message }),
        }
    }
    if out.transactions.is_empty() {
        if out.errors.is_empty() {
            return Err("the statement has a header but no data rows".into());
        }
        let shown: Vec<String> = out
            .errors
            .iter()
            .take(5)
            .map(|e| format!("line {}: {}", e.line, e.message))
            .collect();
        return Err(format!(
            "no valid rows ({} bad): {}",
            out.errors.len(),
            shown.join("; ")
        ));
    }
    Ok(out)
}

/// The `transactions.raw` payload (JSON text) for a `statement.ingest` payload.
pub fn ingest(payload: &serde_json::Value) -> Result<String, String> {
    let csv = payload["csv"]
        .as_str()
        .ok_or("statement.ingest needs a string `csv`")?;
    let question = payload.get("question").unwrap_or(&serde_json::Value::Null);
    let parsed = parse_statement(csv)?;
    raw_payload::print(&parsed.errors, question, &parsed.transactions)
        .map_err(|e| format!("printing transactions.raw: {e}"))
}

struct Ingestor;

impl Agent for Ingestor {
    fn info() -> AgentInfo {
        AgentInfo::new("ingestor", "Statement ingestor")
            .subscribes(["statement.ingest"])
            .capabilities(["csv-ingest"])
    }

    fn handle(msg: Message) -> Result<Vec<Message>, PluginError> {
        let out = ingest(&msg.json()?).map_err(PluginError::InvalidInput)?;
        let mut reply = msg.reply("transactions.raw", out);
        reply.metadata.retain(|(k, _)| k != "djinn-gather");
        Ok(vec![reply])
    }
}

djinn_sdk::export_agent!(Ingestor);

#[cfg(test)]
mod tests {
    use super::*;

    /// A small xorshift generator, so the generated cases are the same on every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        /// Half the time one of the first three items (the common, valid shapes).
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            let n = if self.next().is_multiple_of(2) {
                3.min(items.len())
            } else {
                items.len()
            };
            items[self.below(n)]
        }

        fn text(&mut self, alphabet: &[&str], max_len: usize) -> String {
            (0..self.below(max_len + 1))
                .map(|_| alphabet[self.below(alphabet.len())])
                .collect()
        }
    }

    const DATES: &[&str] = &[
        "2024-07-01",
        "2024-02-29",
        "2024-12-31",
        "2023-02-29",
        "2024-13-01",
        "2024-00-10",
        "2024-04-31",
        "2024-07-00",
        "1899-12-31",
        "1900-01-01",
        "2200-12-31",
        "2201-01-01",
        "2100-02-29",
        "2000-02-29",
        "05/03/2024",
        "2024/3/5",
        "31-12-2024",
        " 2024-07-01 ",
        "\u{a0}2024-07-01",
        "2024-07-1",
        "\u{ff12}024-07-01",
        "yesterday",
        "",
        "2024-07-01x",
        "+024-07-01",
        "2024\u{2212}07\u{2212}01",
        "2024-07/01",
        "20240-7-01",
        "2024--07-1",
    ];
    const DESCRIPTIONS: &[&str] = &[
        "SWIGGY",
        "NETFLIX.COM 4829",
        "UPI/BIGBASKET/418523657812",
        "",
        "  ",
        "Café \"Q\"",
        "a\\b",
        "tab\there",
        "\u{3000}wide\u{3000}",
        "ünïcödé ₹",
        "😀",
        "x\u{1}y",
        " lead",
        "trail ",
        "\u{feff}bom",
        "a, b",
        "q\"",
    ];
    const AMOUNTS: &[&str] = &[
        "85000.00",
        "649",
        "2350.4",
        "0.1",
        ".5",
        "5.",
        "0",
        "0.00",
        "-20.05",
        "+5",
        "1,299.50",
        "₹ 99",
        "Rs.100",
        "Rs 7",
        "INR 5",
        "12.345",
        "abc",
        "",
        "99999999999999999999",
        "999999999999999",
        "999999999999999.99",
        "9999999999999999",
        "1.2.3",
        " 42 ",
        "4 2",
        "\u{663}",
        "1e3",
        "-0",
        "00012.30",
        ".",
        "-",
        "1,2.3,4",
        "92233720368547758.07",
        "\u{a0}7.5",
    ];
    const TYPES: &[&str] = &[
        "debit",
        "credit",
        "DR",
        "Cr",
        " Debit ",
        "sideways",
        "",
        "DEB\u{130}T",
        "débit",
        "\u{a0}dr",
    ];
    const CATEGORIES: &[&str] = &[
        "",
        "rent",
        "Rent",
        "FOOD",
        " food ",
        "ÄB",
        "\u{a0}",
        "Groceries & Co",
        "x\ty",
    ];
    const HEADERS: &[&str] = &[
        "date,description,amount,type,category",
        "date,description,amount,type",
        "Type,AMOUNT,Description,Date,Category",
        " date , description,amount,type",
        "date,amount",
        "\u{feff}date,description,amount,type,category",
        "\"date\",description,amount,type",
        "date,description,amount,type,category,extra",
        "date,description,amount,type,\"cat\"egory",
    ];

    /// One generated field, sometimes quoted (with the quirks of the quoting rules:
    /// spaces around the quotes, a stray or unterminated quote).
    fn field(rng: &mut Rng, text: &str) -> String {
        match rng.below(12) {
            0 => format!("\"{}\"", text.replace('"', "\"\"")),
            1 => format!("  \"{}\" \t", text.replace('"', "\"\"")),
            2 => format!("\"{text}"),
            3 => format!("{text}\"x"),
            _ if text.contains('"') && rng.below(2) == 0 => {
                format!("\"{}\"", text.replace('"', "\"\""))
            }
            _ => text.to_owned(),
        }
    }

    fn statement(rng: &mut Rng) -> String {
        let header = rng.pick(HEADERS);
        let mut csv = String::new();
        if rng.below(4) == 0 {
            csv.push_str(["\n", "  \r\n", "\u{feff}\n"][rng.below(3)]);
        }
        csv.push_str(header);
        let names: Vec<String> = reference::split_fields(header)
            .unwrap_or_default()
            .iter()
            .map(|n| n.trim().to_ascii_lowercase())
            .collect();
        for _ in 0..rng.below(20) {
            csv.push_str(["\n", "\n", "\r\n", "\n\n", "\n \t\n", "\n\u{feff}"][rng.below(6)]);
            let mut width = names.len();
            match rng.below(10) {
                0 => width += 1,
                1 => width = width.saturating_sub(1),
                _ => {}
            }
            let row: Vec<String> = (0..width)
                .map(|i| {
                    let text = match names.get(i).map(String::as_str) {
                        Some("date") => rng.pick(DATES),
                        Some("description") => rng.pick(DESCRIPTIONS),
                        Some("amount") => rng.pick(AMOUNTS),
                        Some("type") => rng.pick(TYPES),
                        Some("category") => rng.pick(CATEGORIES),
                        _ => "x",
                    };
                    field(rng, text)
                })
                .collect();
            csv.push_str(&row.join(","));
        }
        if rng.below(2) == 0 {
            csv.push_str(["\n", "\r\n", "\r", " "][rng.below(4)]);
        }
        csv
    }

    /// The whole reply (text or error) against the code as it was before the fast
    /// paths, on generated statements full of edge cases.
    #[test]
    fn ingest_matches_the_reference_on_generated_statements() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let questions = [
            serde_json::json!("How am I doing?"),
            serde_json::Value::Null,
            serde_json::json!({"nested": [1, "x\n"]}),
        ];
        let (mut accepted, mut rejected, mut transactions) = (0, 0, 0);
        for round in 0..3000 {
            let csv = statement(&mut rng);
            let payload = serde_json::json!({"csv": csv, "question": questions[round % 3]});
            let ours = ingest(&payload);
            assert_eq!(ours, reference::ingest(&payload), "csv: {csv:?}");
            match ours {
                Ok(text) => {
                    accepted += 1;
                    transactions += text.matches("\"amount_cents\"").count();
                }
                Err(_) => rejected += 1,
            }
        }
        // The generator must reach both outcomes and plenty of rows, or the test proves
        // little.
        assert!(accepted > 1000 && rejected > 1000, "{accepted} {rejected}");
        assert!(transactions > 2500, "{transactions}");
    }

    #[test]
    fn ingest_matches_the_reference_on_the_sample_and_odd_payloads() {
        let sample = include_str!("../../../../examples/statement.csv");
        let quoted = format!(
            "{}\n2024-05-09,\"Café \"\"Q\"\", \\ tab\tx\",1,debit,\n",
            sample.trim_end()
        );
        let payloads = [
            serde_json::json!({"csv": sample, "question": "How am I doing?"}),
            serde_json::json!({"csv": quoted}),
            serde_json::json!({"csv": sample.replace('\n', "\r\n"), "question": null}),
            serde_json::json!({"csv": "", "question": "x"}),
            serde_json::json!({"csv": 5}),
            serde_json::json!({"question": "x"}),
            serde_json::json!(["csv"]),
            serde_json::json!("csv"),
            serde_json::Value::Null,
        ];
        for payload in &payloads {
            assert_eq!(ingest(payload), reference::ingest(payload), "{payload}");
        }
    }

    #[test]
    fn unquoted_lines_split_as_the_general_splitter_does() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let alphabet = [
            ",", ",", " ", "\t", "a", "é", "\u{a0}", "\u{3000}", "\r", "\u{2028}", "\u{85}",
            "\u{1c}", "\"", "\\",
        ];
        let mut unquoted = 0;
        for _ in 0..20_000 {
            let line = rng.text(&alphabet, 24);
            unquoted += usize::from(!line.contains('"'));
            let ours = split_fields(&line).map(|f| f.into_iter().map(Cow::into_owned).collect());
            assert_eq!(ours, reference::split_fields(&line), "{line:?}");
        }
        assert!(unquoted > 5000, "{unquoted}");
    }

    #[test]
    fn trim_is_str_trim() {
        let mut rng = Rng(7);
        let alphabet = [
            "a", " ", "\t", "\u{a0}", "\u{3000}", "é", "!", "~", "\u{7f}", "\u{1f}",
        ];
        for _ in 0..10_000 {
            let text = rng.text(&alphabet, 6);
            assert_eq!(trim(&text), text.trim(), "{text:?}");
        }
    }

    #[test]
    fn statement_lines_are_those_of_str_lines() {
        let mut rng = Rng(11);
        let alphabet = [
            "\n", "\n", "\r", "\r\n", " ", "a", ",", "\u{feff}", "\u{a0}", "é",
        ];
        for _ in 0..20_000 {
            let csv = rng.text(&alphabet, 20);
            let expected: Vec<(usize, &str)> = csv
                .lines()
                .enumerate()
                .map(|(i, l)| (i + 1, l.trim_start_matches('\u{feff}')))
                .filter(|(_, l)| !l.trim().is_empty())
                .collect();
            assert_eq!(
                StatementLines::new(&csv).collect::<Vec<_>>(),
                expected,
                "{csv:?}"
            );
        }
    }

    #[test]
    fn plain_amounts_agree_with_parse_amount() {
        let mut rng = Rng(13);
        let alphabet = ["0", "1", "5", "9", ".", ",", "-", " ", "a"];
        let generated: Vec<String> = (0..20_000).map(|_| rng.text(&alphabet, 22)).collect();
        let mut hits = 0;
        for text in AMOUNTS
            .iter()
            .copied()
            .chain(generated.iter().map(String::as_str))
        {
            if let Some(cents) = plain_amount(trim(text)) {
                hits += 1;
                assert_eq!(parse_amount(text), Ok(cents), "{text:?}");
            }
        }
        assert!(hits > 1000, "{hits}");
        assert_eq!(plain_amount("85000.00"), Some(8_500_000));
        assert_eq!(plain_amount("2350.4"), Some(235_040));
        assert_eq!(plain_amount("649"), Some(64_900));
        assert_eq!(
            plain_amount("999999999999999.99"),
            Some(99_999_999_999_999_999)
        );
    }

    #[test]
    fn iso_dates_agree_with_parse_date() {
        for y in [
            0, 1899, 1900, 1999, 2000, 2023, 2024, 2100, 2200, 2201, 9999,
        ] {
            for m in 0..=13 {
                for d in 0..=32 {
                    for text in [
                        format!("{y:04}-{m:02}-{d:02}"),
                        format!(" {y:04}-{m:02}-{d:02}\t"),
                    ] {
                        let general = parse_date(&text).ok();
                        match iso_date(&text) {
                            Some(date) => assert_eq!(Some(date), general.as_deref(), "{text}"),
                            None => assert_eq!(general, None, "{text}"),
                        }
                    }
                }
            }
        }
        for text in DATES {
            if let Some(date) = iso_date(text) {
                assert_eq!(parse_date(text).as_deref(), Ok(date), "{text:?}");
            }
        }
    }

    #[test]
    fn quoted_fields_keep_commas_and_quotes() {
        let f = split_fields(r#"2024-01-02,"AMAZON, ""PRIME""", 1,299.00 ,debit"#).unwrap();
        assert_eq!(
            f,
            vec!["2024-01-02", "AMAZON, \"PRIME\"", "1", "299.00", "debit"]
        );
        let f = split_fields(r#"2024-01-02,"AMAZON, PRIME","1,299.00",debit"#).unwrap();
        assert_eq!(f[2], "1,299.00");
        assert!(split_fields(r#"a,"b"#).is_err());
        assert!(split_fields(r#"a,b"c"#).is_err());
    }

    #[test]
    fn amounts_are_exact_minor_units() {
        assert_eq!(parse_amount("1,299.5"), Ok(129_950));
        assert_eq!(parse_amount("₹ 99"), Ok(9_900));
        assert_eq!(parse_amount("-20.05"), Ok(-2_005));
        assert_eq!(parse_amount(".5"), Ok(50));
        assert_eq!(parse_amount("0.1"), Ok(10));
        assert!(parse_amount("12.345").is_err());
        assert!(parse_amount("abc").is_err());
        assert!(parse_amount("").is_err());
        assert!(parse_amount("99999999999999999999").is_err());
    }

    #[test]
    fn dates_are_validated_and_normalised() {
        assert_eq!(parse_date("2024-02-29"), Ok("2024-02-29".into()));
        assert_eq!(parse_date("05/03/2024"), Ok("2024-03-05".into()));
        assert!(parse_date("2023-02-29").is_err());
        assert!(parse_date("2024-13-01").is_err());
        assert!(parse_date("yesterday").is_err());
    }

    #[test]
    fn header_in_any_order_and_case_with_optional_category() {
        let csv = "Type,AMOUNT,Description,Date,Category\ndebit,\"1,000.00\",\"RENT, MAY\",2024-05-01,Rent\ncredit,50000,SALARY ACME,2024-05-01,\n";
        let p = parse_statement(csv).unwrap();
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(p.transactions[0].amount_cents, -100_000);
        assert_eq!(p.transactions[0].description, "RENT, MAY");
        assert_eq!(p.transactions[0].category.as_deref(), Some("rent"));
        assert_eq!(p.transactions[0].line, 2);
        assert_eq!(p.transactions[1].amount_cents, 5_000_000);
        assert_eq!(p.transactions[1].kind, "credit");
        assert_eq!(p.transactions[1].category, None);
    }

    #[test]
    fn bad_rows_are_reported_by_line_and_skipped() {
        let csv = "date,description,amount,type\n2024-05-01,SWIGGY,250,debit\n\n2024-05-32,ZOMATO,300,debit\n2024-05-03,UBER,abc,debit\n2024-05-04,OLA,100,sideways\n2024-05-05,TOO,1,debit,extra\n2024-05-06,NETFLIX,649,debit\n";
        let p = parse_statement(csv).unwrap();
        assert_eq!(p.transactions.len(), 2);
        let lines: Vec<usize> = p.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![4, 5, 6, 7]);
        assert!(p.errors[0].message.contains("2024-05-32"));
        assert!(p.errors[3].message.contains("expected 4 fields"));
        assert_eq!(p.transactions[1].line, 8);
    }

    #[test]
    fn all_rows_bad_or_missing_header_is_an_error() {
        let e =
            parse_statement("date,description,amount,type\n2024-05-01,X,abc,debit\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        let e = parse_statement("date,amount\n2024-05-01,1\n").unwrap_err();
        assert!(e.contains("description") && e.contains("type"), "{e}");
        assert!(parse_statement("").is_err());
        assert!(parse_statement("date,description,amount,type\n").is_err());
    }

    #[test]
    fn ingest_payload_shape() {
        let text = ingest(&serde_json::json!({"csv": "date,description,amount,type\n2024-05-01,SWIGGY,250,debit\n2024-05-02,X,?,debit", "question": "how am I doing?"})).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["transactions"][0]["amount_cents"], -25_000);
        assert_eq!(v["transactions"][0]["type"], "debit");
        assert!(v["transactions"][0].get("category").is_none());
        assert_eq!(v["errors"][0]["line"], 3);
        assert_eq!(v["question"], "how am I doing?");
        assert!(ingest(&serde_json::json!({"question": "x"})).is_err());
    }

    /// The payload is printed as the `serde_json::json!` tree it was once built as
    /// printed it: same keys, same sorted order, same bytes.
    #[test]
    fn payload_bytes_are_those_of_the_json_tree() {
        let csv = format!(
            "{}\n2024-05-09,\"Café \"\"Q\"\", \\ tab\tx\",1,debit,\n",
            include_str!("../../../../examples/statement.csv").trim_end()
        );
        for question in [
            serde_json::json!("How am I doing?"),
            serde_json::Value::Null,
            serde_json::json!({"nested": [1, "x"]}),
        ] {
            let text = ingest(&serde_json::json!({"csv": csv, "question": question})).unwrap();
            let parsed = parse_statement(&csv).unwrap();
            assert!(parsed.transactions.iter().any(|t| t.category.is_some()));
            let tree = serde_json::json!({
                "transactions": parsed.transactions,
                "errors": parsed.errors,
                "question": question,
            });
            assert_eq!(text, tree.to_string());
        }
        let text = ingest(&serde_json::json!({"csv": csv})).unwrap();
        assert!(text.contains(r#""question":null"#), "{text}");
        assert!(
            text.contains(r#""description":"Café \"Q\", \\ tab\tx""#),
            "{text}"
        );
    }

    #[test]
    fn example_statement_parses_with_one_bad_row() {
        let csv = include_str!("../../../../examples/statement.csv");
        let p = parse_statement(csv).unwrap();
        assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
        assert!(p.transactions.len() > 40);
    }
}
