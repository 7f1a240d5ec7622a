//! Parses a bank statement CSV into transactions (`statement.ingest` → `transactions.raw`).
//!
//! Money is parsed from its decimal text straight into integer minor units: a float
//! never touches an amount (Genie parsed amounts as floats and rounded). Bad rows are
//! reported with their physical line number and skipped, so one typo does not lose a
//! whole statement; a statement with no good row at all is an `invalid-input` error.

use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError};
use serde::Serialize;

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
