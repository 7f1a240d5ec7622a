//! The statement parser and printer as they were before the fuel work, verbatim but
//! for the amount and date parsers, which are still the crate's own: the oracle the
//! tests compare the fast paths with. Test-only; do not "fix" it, since its whole
//! point is to stay the old behaviour.

#![allow(dead_code)]

use serde::Serialize;

// The amount and date parsers are the fast paths' own fallbacks, unchanged by the
// fuel work, so the oracle uses them rather than a second copy.
use crate::{parse_amount, parse_date};

/// One parsed statement row.
///
/// Fields are in the order they are printed: sorted by key, as a
/// `serde_json::Value` map prints them, which is how this payload was first built.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transaction {
    /// Minor units; debits are negative.
    pub amount_cents: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// `YYYY-MM-DD`.
    pub date: String,
    pub description: String,
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
pub struct Parsed {
    pub transactions: Vec<Transaction>,
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
pub fn split_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
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
    Ok(fields)
}

fn finish(field: &str, quoted: bool) -> String {
    if quoted {
        field.to_owned()
    } else {
        field.trim().to_owned()
    }
}

fn find_columns(header: &[String]) -> Result<Columns, String> {
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

fn parse_row(line: usize, fields: &[String], cols: &Columns) -> Result<Transaction, String> {
    if fields.len() != cols.width {
        return Err(format!(
            "expected {} fields as in the header, found {}",
            cols.width,
            fields.len()
        ));
    }
    let date = parse_date(&fields[cols.date])?;
    let description = fields[cols.description].trim().to_owned();
    if description.is_empty() {
        return Err("description is empty".into());
    }
    let amount = parse_amount(&fields[cols.amount])?;
    let kind = match fields[cols.kind].trim().to_ascii_lowercase().as_str() {
        "credit" | "cr" => "credit",
        "debit" | "dr" => "debit",
        other => return Err(format!("type `{other}` is neither credit nor debit")),
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
        .map(|i| fields[i].trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty());
    Ok(Transaction {
        line,
        date,
        description,
        amount_cents,
        kind,
        category,
    })
}

/// Parses a whole statement. `Err` only when nothing usable is left: no header, no
/// data rows, or every data row bad.
pub fn parse_statement(csv: &str) -> Result<Parsed, String> {
    let mut lines = csv
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_start_matches('\u{feff}')))
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((header_line, header)) = lines.next() else {
        return Err("the statement is empty; expected a CSV header `date,description,amount,type[,category]`".into());
    };
    let header = split_fields(header).map_err(|e| format!("line {header_line}: {e}"))?;
    let cols = find_columns(&header)?;
    let mut out = Parsed::default();
    for (line, text) in lines {
        let row = split_fields(text).and_then(|f| parse_row(line, &f, &cols));
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

/// The `transactions.raw` payload, printed straight from the parsed rows (keys in
/// sorted order, as a `serde_json::Value` prints them) rather than through a tree.
#[derive(Serialize)]
struct RawPayload<'a> {
    errors: &'a [RowError],
    question: &'a serde_json::Value,
    transactions: &'a [Transaction],
}

/// The `transactions.raw` payload (JSON text) for a `statement.ingest` payload.
pub fn ingest(payload: &serde_json::Value) -> Result<String, String> {
    let csv = payload["csv"]
        .as_str()
        .ok_or("statement.ingest needs a string `csv`")?;
    let question = payload.get("question").unwrap_or(&serde_json::Value::Null);
    let parsed = parse_statement(csv)?;
    serde_json::to_string(&RawPayload {
        errors: &parsed.errors,
        question,
        transactions: &parsed.transactions,
    })
    .map_err(|e| format!("printing transactions.raw: {e}"))
}
