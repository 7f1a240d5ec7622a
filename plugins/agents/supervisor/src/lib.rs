//! Routes a question into the pipeline and the gathered analysis on to the reporter.
//!
//! The supervisor is stateless. Genie's supervisor kept a per-trace session map
//! behind a mutex, never evicted, to join four results; here the bus joins the
//! analysis branches (`djinn-gather`) and hands this agent one `analysis.gathered`
//! message. A question the pipeline cannot serve gets an `answer` that says what
//! input is needed, instead of silence and a client timeout.

mod canonical;

use std::fmt;
use std::ops::Range;

use djinn_sdk::json::Skip;
use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};

use canonical::Reader;

/// Specialist tasks reachable with `context.task`; each maps to `<task>.request`.
pub const TASKS: &[&str] = &["loan", "var", "lcr", "motor-insurance", "kyc"];

/// What the supervisor decided to send, as (topic, payload).
pub type Routed = (String, Value);

/// The `answer` payload that explains what input the pipeline needs.
pub fn needs_input(reason: &str) -> Value {
    let text = format!(
        "{reason}\n\nI can help in two ways:\n\
         1. Analyse a bank statement: send {{\"question\": ..., \"statement\": {{\"csv\": \"date,description,amount,type[,category]\\n...\"}}}}.\n\
         2. Run a calculation: send {{\"question\": ..., \"context\": {{\"task\": <one of {}>, \"params\": {{...}}}}}} (see docs/agents.md for each task's params).",
        TASKS.join(", ")
    );
    json!({
        "text": text,
        "report": {
            "kind": "needs_input",
            "reason": reason,
            "supported_tasks": TASKS,
            "statement_columns": {"required": ["date", "description", "amount", "type"], "optional": ["category"]},
        },
        "failed_branches": [],
    })
}

/// Decides what an inbound `question` becomes. A statement wins over a task.
pub fn route_question(payload: &Value) -> Result<Routed, String> {
    if !payload.is_object() {
        return Err("a question payload must be a JSON object".into());
    }
    let question = match payload.get("question") {
        Some(Value::String(q)) => q.clone(),
        None | Some(Value::Null) => String::new(),
        Some(_) => return Err("`question` must be a string".into()),
    };
    if let Some(statement) = payload.get("statement").filter(|s| !s.is_null()) {
        let csv = statement
            .get("csv")
            .and_then(Value::as_str)
            .ok_or("`statement` must be an object with a string `csv`")?;
        if csv.trim().is_empty() {
            return Ok(("answer".into(), needs_input("The statement CSV is empty.")));
        }
        return Ok((
            "statement.ingest".into(),
            json!({"csv": csv, "question": question}),
        ));
    }
    let context = payload.get("context").filter(|c| !c.is_null());
    if let Some(context) = context {
        if !context.is_object() {
            return Err("`context` must be an object".into());
        }
        if let Some(task) = context.get("task").filter(|t| !t.is_null()) {
            let task = task.as_str().ok_or("`context.task` must be a string")?;
            if !TASKS.contains(&task) {
                return Ok((
                    "answer".into(),
                    needs_input(&format!("I do not know the task `{task}`.")),
                ));
            }
            let params = context.get("params").cloned().unwrap_or_else(|| json!({}));
            if !params.is_object() {
                return Err(format!(
                    "`context.params` for task `{task}` must be an object"
                ));
            }
            return Ok((format!("{task}.request"), params));
        }
    }
    Ok((
        "answer".into(),
        needs_input(
            "Your question came without a statement or a task, so there is nothing to analyse.",
        ),
    ))
}

/// Turns the gathered analysis into a `report.request`.
pub fn route_gathered(mut payload: Value) -> Result<Routed, String> {
    let origin = payload
        .get("origin")
        .filter(|o| o.is_object())
        .ok_or("analysis.gathered needs an object `origin`")?;
    if !payload.get("results").is_some_and(Value::is_array) {
        return Err("analysis.gathered needs an array `results`".into());
    }
    let question = origin.get("question").cloned().unwrap_or(Value::Null);
    // The reporter writes from the analysis figures and the branch results; the
    // transaction list the branches needed stops here (it is most of the bytes
    // every policy would read again on this hop).
    if let Some(origin) = payload.get_mut("origin").and_then(Value::as_object_mut) {
        origin.remove("transactions");
    }
    Ok((
        "report.request".into(),
        json!({"question": question, "gathered": payload}),
    ))
}

/// [`route_question`] for a question with a statement, as canonical text: the
/// `statement.ingest` payload copied from spans of `text`. `None` for anything
/// else (a task, no statement, a blank or malformed one, text not canonical),
/// which [`route_question`] decides.
pub fn ingest_request_canonical(text: &str) -> Option<String> {
    let mut r = Reader::new(text);
    let (mut question, mut csv) = (None, None);
    r.object(|r, key, _| {
        match key {
            b"question" => question = Some(r.value_text()?),
            // not an object, or no `csv`: an error or no statement, for the Value path
            b"statement" => csv = Some(statement_csv(r)?),
            _ => {
                r.value()?;
            }
        }
        Some(())
    })?;
    r.end()?;
    let question = match question {
        None | Some("null") => r#""""#,
        Some(q) if q.starts_with('"') => q,
        Some(_) => return None,
    };
    let csv = csv.filter(|csv| csv.starts_with('"'))?;
    // `csv.trim().is_empty()` needs the string unescaped; a first character that
    // is visible ASCII (not the closing quote, not an escape) settles it.
    let first = *csv.as_bytes().get(1)?;
    if !first.is_ascii_graphic() || matches!(first, b'"' | b'\\') {
        return None;
    }
    let mut out = String::with_capacity(csv.len() + question.len() + 20);
    out.push_str(r#"{"csv":"#);
    out.push_str(csv);
    out.push_str(r#","question":"#);
    out.push_str(question);
    out.push('}');
    Some(out)
}

/// The text of `statement.csv`, any JSON value; `None` if there is none.
fn statement_csv<'a>(r: &mut Reader<'a>) -> Option<&'a str> {
    let mut csv = None;
    r.object(|r, key, _| {
        let value = r.value_text()?;
        if key == b"csv" {
            csv = Some(value);
        }
        Some(())
    })?;
    csv
}

/// [`route_gathered`] for canonical text: the `report.request` payload copied
/// from spans of `text`, leaving out `origin.transactions`. `None` when the text
/// is not canonical or not the shape [`route_gathered`] accepts, which then
/// decides.
pub fn report_request_canonical(text: &str) -> Option<String> {
    let mut r = Reader::new(text);
    let (mut origin, mut results) = (None, false);
    r.object(|r, key, _| {
        match key {
            b"origin" => origin = Some(OriginSpans::read(r)?),
            b"results" => {
                results = r.peek() == Some(b'[');
                r.value()?;
            }
            _ => {
                r.value()?;
            }
        }
        Some(())
    })?;
    r.end()?;
    let origin = origin.filter(|_| results)?;
    let question = match origin.question {
        Some(question) => text.get(question)?,
        None => "null",
    };
    let mut out = String::with_capacity(text.len() + question.len() + 32);
    out.push_str(r#"{"gathered":"#);
    // `{`, the members before `origin`, and its key
    out.push_str(text.get(..origin.whole.start)?);
    match origin.transactions {
        None => out.push_str(text.get(origin.whole.clone())?),
        Some(transactions) => {
            // `{a,` + transactions + `,b}`: the members before it end with a
            // comma and the ones after start with one; keep one between them.
            let before = text.get(origin.whole.start + 1..transactions.start)?;
            let after = text.get(transactions.end..origin.whole.end - 1)?;
            out.push('{');
            match before.strip_suffix(',') {
                Some(before) => {
                    out.push_str(before);
                    out.push_str(after);
                }
                None => out.push_str(after.strip_prefix(',').unwrap_or(after)),
            }
            out.push('}');
        }
    }
    // the members after `origin`, and the closing `}`
    out.push_str(text.get(origin.whole.end..)?);
    out.push_str(r#","question":"#);
    out.push_str(question);
    out.push('}');
    Some(out)
}

/// Where `origin`, its `transactions` member (key and value) and its
/// `question` value lie in the text.
struct OriginSpans {
    whole: Range<usize>,
    transactions: Option<Range<usize>>,
    question: Option<Range<usize>>,
}

impl OriginSpans {
    /// Reads `origin`; `None` also when it is not an object, an error that
    /// [`route_gathered`] words.
    fn read(r: &mut Reader) -> Option<OriginSpans> {
        let start = r.pos();
        let (mut transactions, mut question) = (None, None);
        r.object(|r, key, member_start| {
            let value_start = r.pos();
            r.value()?;
            match key {
                b"transactions" => transactions = Some(member_start..r.pos()),
                b"question" => question = Some(value_start..r.pos()),
                _ => {}
            }
            Some(())
        })?;
        Some(OriginSpans {
            whole: start..r.pos(),
            transactions,
            question,
        })
    }
}

/// `analysis.gathered` read into a `Value` except `origin.transactions`, which is
/// checked as strictly as a `Value` would read it and dropped while parsing, not
/// built and then removed by [`route_gathered`]: it is about half the bytes. Any
/// payload that is not an object with an object `origin` fails here and is read
/// as a plain `Value`, so the behaviour and the errors stay those of that path.
struct Gathered(Value);

impl<'de> Deserialize<'de> for Gathered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Gathered, D::Error> {
        struct GatheredVisitor;
        impl<'de> Visitor<'de> for GatheredVisitor {
            type Value = Gathered;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an analysis.gathered object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Gathered, A::Error> {
                let mut out = Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value = if key == "origin" {
                        map.next_value::<Origin>()?.0
                    } else {
                        map.next_value::<Value>()?
                    };
                    out.insert(key, value);
                }
                Ok(Gathered(Value::Object(out)))
            }
        }
        d.deserialize_map(GatheredVisitor)
    }
}

/// The analysis object without its `transactions`.
struct Origin(Value);

impl<'de> Deserialize<'de> for Origin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Origin, D::Error> {
        struct OriginVisitor;
        impl<'de> Visitor<'de> for OriginVisitor {
            type Value = Origin;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an analysis object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Origin, A::Error> {
                let mut out = Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "transactions" {
                        map.next_value::<Skip>()?;
                    } else {
                        out.insert(key, map.next_value::<Value>()?);
                    }
                }
                Ok(Origin(Value::Object(out)))
            }
        }
        d.deserialize_map(OriginVisitor)
    }
}

struct Supervisor;

impl Agent for Supervisor {
    fn info() -> AgentInfo {
        AgentInfo::new("supervisor", "Financial supervisor")
            .subscribes(["question", "analysis.gathered"])
            .capabilities(["route"])
    }

    fn handle(msg: Message) -> Result<Vec<Message>, PluginError> {
        // fuel: the pipeline's own messages are canonical and are copied span by
        // span, for a fraction of the fuel of reading and printing a `Value`
        let (topic, out) = match route_canonical(&msg) {
            Some(routed) => routed,
            None => route(&msg)?,
        };
        let mut reply = msg.reply(&topic, out);
        reply.metadata.retain(|(k, _)| k != "djinn-gather");
        Ok(vec![reply])
    }
}

/// What `msg` becomes, as (topic, payload text), read through `Value`s: the
/// definition the canonical fast path must agree with.
fn route(msg: &Message) -> Result<(String, String), PluginError> {
    let routed = match msg.topic.as_str() {
        "question" => route_question(&msg.json()?),
        "analysis.gathered" => match serde_json::from_str::<Gathered>(&msg.payload) {
            Ok(Gathered(payload)) => route_gathered(payload),
            Err(_) => route_gathered(msg.json()?),
        },
        other => {
            msg.json()?;
            Err(format!("supervisor does not handle topic `{other}`"))
        }
    };
    let (topic, out) = routed.map_err(PluginError::InvalidInput)?;
    Ok((topic, out.to_string()))
}

/// [`route`] for the pipeline's own messages in canonical form (see
/// [`canonical`]); `None` hands the message to [`route`].
fn route_canonical(msg: &Message) -> Option<(String, String)> {
    let (topic, out) = match msg.topic.as_str() {
        "question" => ("statement.ingest", ingest_request_canonical(&msg.payload)?),
        "analysis.gathered" => ("report.request", report_request_canonical(&msg.payload)?),
        _ => return None,
    };
    Some((topic.to_owned(), out))
}

djinn_sdk::export_agent!(Supervisor);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_goes_to_the_ingestor() {
        let (t, p) = route_question(&json!({"question": "how am I doing", "statement": {"csv": "date,description,amount,type\n"}, "context": {"task": "loan"}})).unwrap();
        assert_eq!(t, "statement.ingest");
        assert_eq!(p["question"], "how am I doing");
        assert!(p["csv"].as_str().unwrap().starts_with("date"));
    }

    #[test]
    fn a_task_goes_to_its_specialist_with_params() {
        for task in TASKS {
            let (t, p) = route_question(
                &json!({"question": "x", "context": {"task": task, "params": {"a": 1}}}),
            )
            .unwrap();
            assert_eq!(t, format!("{task}.request"));
            assert_eq!(p, json!({"a": 1}));
        }
        assert!(route_question(&json!({"context": {"task": "loan", "params": [1]}})).is_err());
    }

    #[test]
    fn nothing_to_do_is_an_answer_that_says_what_is_needed() {
        for p in [
            json!({"question": "hi"}),
            json!({"question": "hi", "context": {"task": "astrology"}}),
            json!({"statement": {"csv": "  "}}),
        ] {
            let (t, a) = route_question(&p).unwrap();
            assert_eq!(t, "answer");
            assert!(a["text"].as_str().unwrap().contains("statement"));
            assert_eq!(a["report"]["kind"], "needs_input");
            assert_eq!(a["failed_branches"], json!([]));
        }
    }

    #[test]
    fn malformed_questions_are_invalid_input() {
        assert!(route_question(&json!("hi")).is_err());
        assert!(route_question(&json!({"question": 3})).is_err());
        assert!(route_question(&json!({"statement": {"csv": 3}})).is_err());
        assert!(route_question(&json!({"context": {"task": 7}})).is_err());
    }

    #[test]
    fn gathered_becomes_a_report_request() {
        let g = json!({"origin": {"question": "q", "income_cents": 1}, "results": [], "failed": [{"agent": "forecaster", "reason": "trap"}]});
        let (t, p) = route_gathered(g).unwrap();
        assert_eq!(t, "report.request");
        assert_eq!(p["question"], "q");
        assert_eq!(p["gathered"]["failed"][0]["agent"], "forecaster");
        assert_eq!(p["gathered"]["origin"]["income_cents"], 1);

        let g = json!({"origin": {"question": "q", "transactions": [{"line": 2}]}, "results": []});
        let (_, p) = route_gathered(g).unwrap();
        assert!(p["gathered"]["origin"].get("transactions").is_none());
        assert!(route_gathered(json!({"results": []})).is_err());
    }

    /// `analysis.gathered` read without its transaction list routes exactly as the
    /// whole `Value` does.
    fn same_as_value_path(text: &str) -> Option<String> {
        let Gathered(fast) = serde_json::from_str::<Gathered>(text).ok()?;
        let value = serde_json::from_str::<Value>(text).unwrap();
        let (t, fast) = route_gathered(fast).unwrap();
        assert_eq!((t, fast.to_string()), {
            let (t, v) = route_gathered(value).unwrap();
            (t, v.to_string())
        });
        Some(fast.to_string())
    }

    #[test]
    fn gathered_without_transactions_routes_the_same() {
        let tx = json!({"amount_cents": -1, "category": "c", "date": "2024-01-01", "line": 2, "merchant": "Café 🚀"});
        let g = json!({"origin": {"question": "q", "income_cents": 1, "transactions": [tx, tx]},
            "results": [{"agent": "forecaster", "topic": "forecast.result", "payload": {"a": [1, 2.5, null]}}],
            "failed": []});
        let out = same_as_value_path(&g.to_string()).expect("the pipeline's shape");
        assert!(out.contains(r#""income_cents":1"#) && !out.contains("transactions"));
        // duplicate keys: the last one wins, as in a Value; every `transactions` goes
        let dup = r#"{"origin":{"transactions":[1],"question":"a","question":"b","transactions":[2]},"results":[],"results":[3]}"#;
        assert!(same_as_value_path(dup).is_some());
        // not an object origin, or what a Value rejects: the Value path decides
        for text in [
            r#"{"origin":[1],"results":[]}"#,
            r#"{"origin":{"transactions":[1e400]},"results":[]}"#,
            r#"{"origin":{"transactions":["\ud800"]},"results":[]}"#,
            r#"[{"origin":{}}]"#,
        ] {
            assert!(serde_json::from_str::<Gathered>(text).is_err(), "{text}");
        }
    }

    /// Routes `text` on `topic` both ways. When the canonical path answers, its
    /// reply must be the `Value` path's, byte for byte (and the `Value` path must
    /// not have refused the text); returns whether it answered.
    fn fast_agrees(topic: &str, text: &str) -> bool {
        let msg = Message::new(topic, text);
        let general = route(&msg);
        match route_canonical(&msg) {
            Some(fast) => {
                assert_eq!(Ok(fast), general, "{topic}: {text}");
                true
            }
            None => false,
        }
    }

    const GATHERED: &str = include_str!("../testdata/analysis-gathered.json");

    fn question_with_statement() -> String {
        let csv = include_str!("../../../../examples/statement.csv");
        json!({"question": "How am I doing?", "statement": {"csv": csv}}).to_string()
    }

    #[test]
    fn the_pipelines_gathered_message_is_copied_not_parsed() {
        // the bus prints it from a `Value`, so it is canonical
        let value: Value = serde_json::from_str(GATHERED).unwrap();
        assert_eq!(value.to_string(), GATHERED);
        assert!(fast_agrees("analysis.gathered", GATHERED));
        let out = report_request_canonical(GATHERED).unwrap();
        assert!(!out.contains("\"transactions\"") && out.contains("\"income_cents\""));
    }

    #[test]
    fn the_pipelines_question_is_copied_not_parsed() {
        let text = question_with_statement();
        assert!(fast_agrees("question", &text));
        let out = ingest_request_canonical(&text).unwrap();
        assert!(out.starts_with(r#"{"csv":"date,description"#), "{out}");
    }

    /// Gathered messages that differ from a canonical one in a single place.
    fn gathered_with(origin_member: &str) -> String {
        format!(
            r#"{{"failed":[],"origin":{{"question":"q",{origin_member},"transactions":[{{"line":2}}]}},"results":[]}}"#
        )
    }

    #[test]
    fn gathered_text_that_would_print_differently_takes_the_value_path() {
        let cases: &[(&str, bool)] = &[
            // strings: escapes exactly as serde_json writes them, raw UTF-8
            ("\"r\":\"Café 🚀 \u{2028}\"", true),
            (r#""r":"Caf\u00e9""#, false),
            (r#""r":"a\"b\\c\nd\te\rf\bg\fh\u0001\u001f""#, true),
            ("\"r\":\"\u{7f}\"", true),
            (r#""r":"\u007f""#, false),
            (r#""r":"\u001F""#, false),
            (r#""r":"\u0008""#, false),
            (r#""r":"\u000a""#, false),
            (r#""r":"a\/b""#, false),
            (r#""r":"\ud83d\ude80""#, false),
            (r#""r":"\ud800""#, false),
            (r#""r":"\x""#, false),
            // numbers: integers that stay integers, floats that print back
            (
                r#""r":[0,-1,18446744073709551615,-9223372036854775808]"#,
                true,
            ),
            (r#""r":18446744073709551616"#, false),
            (r#""r":-9223372036854775809"#, false),
            (r#""r":-0"#, false),
            (r#""r":01"#, false),
            (r#""r":[1.0,0.1,-0.0,33037.5,1e+100,1.5e-7]"#, true),
            (r#""r":1e2"#, false),
            (r#""r":1E100"#, false),
            (r#""r":1e100"#, false),
            (r#""r":1.50"#, false),
            (r#""r":100.0e0"#, false),
            (r#""r":1e400"#, false),
            (r#""r":1."#, false),
            (r#""r":.5"#, false),
            (r#""r":-"#, false),
            // literals and containers
            (r#""r":[true,false,null,{},[],{"a":{"b":[]}}]"#, true),
            (r#""r":tru"#, false),
            (r#""r":nulls"#, false),
            (r#""r":[1,]"#, false),
            (r#""r":{"a":1,}"#, false),
            // keys: strictly increasing bytes, no escapes
            (r#""r":{"a":1,"ab":2,"b":3,"é":4}"#, true),
            (r#""r":{"b":1,"a":2}"#, false),
            (r#""r":{"a":1,"a":2}"#, false),
            (r#""r":{"a\n":1}"#, false),
            (r#""r":{"a":1, "b":2}"#, false),
        ];
        for (member, hits) in cases {
            let text = gathered_with(member);
            assert_eq!(fast_agrees("analysis.gathered", &text), *hits, "{text}");
        }
        // whitespace anywhere, trailing text, unsorted or duplicate top-level keys
        for text in [
            r#" {"origin":{},"results":[]}"#,
            r#"{"origin":{},"results":[]} "#,
            "{\"origin\":{},\n\"results\":[]}",
            r#"{"origin":{},"results":[]}x"#,
            r#"{"results":[],"origin":{}}"#,
            r#"{"origin":{},"origin":{},"results":[]}"#,
            r#"{"origin":{"transactions":[],"question":"q"},"results":[]}"#,
        ] {
            assert!(!fast_agrees("analysis.gathered", text), "{text}");
        }
    }

    #[test]
    fn gathered_nesting_stops_short_of_serde_jsons_limit() {
        let nested = |depth: usize| {
            let inner = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            format!(r#"{{"origin":{{"r":{inner}}},"results":[]}}"#)
        };
        assert!(fast_agrees("analysis.gathered", &nested(90)));
        for depth in [120, 130, 1000] {
            assert!(!fast_agrees("analysis.gathered", &nested(depth)), "{depth}");
        }
    }

    #[test]
    fn gathered_drops_transactions_wherever_they_are() {
        for text in [
            r#"{"origin":{"transactions":[1]},"results":[]}"#,
            r#"{"origin":{"question":"q","transactions":[1]},"results":[]}"#,
            r#"{"origin":{"transactions":[1],"z":2},"results":[]}"#,
            r#"{"origin":{"a":1,"transactions":{"x":[1,2]},"z":[3]},"results":[]}"#,
            r#"{"origin":{"a":1,"question":null},"results":[{"agent":"x","payload":{},"topic":"t"}]}"#,
            r#"{"origin":{"question":{"text":"q"}},"results":[]}"#,
            r#"{"origin":{},"results":[]}"#,
            // only `origin.transactions` goes
            r#"{"a":{"transactions":1},"failed":[],"origin":{"b":{"transactions":2}},"results":[],"transactions":3}"#,
        ] {
            assert!(fast_agrees("analysis.gathered", text), "{text}");
        }
    }

    #[test]
    fn gathered_of_the_wrong_shape_is_refused_by_the_value_path() {
        for text in [
            r#"{"results":[]}"#,
            r#"{"origin":[],"results":[]}"#,
            r#"{"origin":null,"results":[]}"#,
            r#"{"origin":{}}"#,
            r#"{"origin":{},"results":{}}"#,
            r#"[{"origin":{},"results":[]}]"#,
            "",
            "{",
        ] {
            assert!(!fast_agrees("analysis.gathered", text), "{text}");
            assert!(route(&Message::new("analysis.gathered", text)).is_err());
        }
    }

    #[test]
    fn questions_other_than_a_plain_statement_take_the_value_path() {
        let cases: &[(&str, bool)] = &[
            (r#"{"question":"q","statement":{"csv":"date\n1"}}"#, true),
            (r#"{"statement":{"csv":"d"}}"#, true),
            (r#"{"question":null,"statement":{"csv":"d"}}"#, true),
            (
                r#"{"context":{"task":"loan"},"question":"q","statement":{"csv":"d","x":1}}"#,
                true,
            ),
            (
                r#"{"question":"q","statement":{"csv":"d"},"z":[1.5]}"#,
                true,
            ),
            (r#"{"question":"Caf\u00e9","statement":{"csv":"d"}}"#, false),
            (r#"{"question":3,"statement":{"csv":"d"}}"#, false),
            (r#"{"question":"q","statement":{"csv":3}}"#, false),
            (r#"{"question":"q","statement":{"csv":""}}"#, false),
            (r#"{"question":"q","statement":{"csv":"  "}}"#, false),
            (r#"{"question":"q","statement":{"csv":"\n"}}"#, false),
            (r#"{"question":"q","statement":{"csv":"\"a\""}}"#, false),
            (r#"{"question":"q","statement":{"csv":" d"}}"#, false),
            (r#"{"question":"q","statement":{}}"#, false),
            (r#"{"question":"q","statement":null}"#, false),
            (r#"{"question":"q","statement":[]}"#, false),
            (r#"{"question":"q"}"#, false),
            (
                r#"{"context":{"task":"loan","params":{"a":1}},"question":"q"}"#,
                false,
            ),
            (r#"{"statement":{"csv":"d"},"question":"q"}"#, false),
            (r#"{"question":"q","statement":{"csv":"d"}} "#, false),
            (r#""just text""#, false),
        ];
        for (text, hits) in cases {
            assert_eq!(fast_agrees("question", text), *hits, "{text}");
        }
    }

    /// A xorshift generator: the edits are random but the same on every run.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// Random edits of canonical messages: whatever the fast path still accepts,
    /// it must route exactly as the `Value` path does.
    #[test]
    fn edited_messages_route_the_same_both_ways() {
        const PIECES: &[&str] = &[
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"",
            "\\",
            "\\u00",
            "\\n",
            "0",
            "1",
            "-",
            ".",
            "e",
            "E",
            "+",
            " ",
            "\n",
            "a",
            "é",
            "🚀",
            "true",
            "null",
            "1.5",
            "-0",
            "\"transactions\":",
            "\"origin\":",
            "\"question\":",
            "\"results\":",
            "\"statement\":",
            "\"csv\":",
        ];
        let seeds = [
            ("analysis.gathered", GATHERED.to_owned()),
            (
                "analysis.gathered",
                r#"{"failed":[{"agent":"f","reason":"t\n\"é\""}],"origin":{"a":[1.5,-2,0.25],"question":"q","transactions":[{"line":2,"merchant":"Café"}],"z":{"b":null}},"results":[{"agent":"x","payload":{"n":1e+100},"topic":"t"}]}"#.to_owned(),
            ),
            ("question", question_with_statement()),
            (
                "question",
                r#"{"context":{"task":"loan"},"question":"q\u0001","statement":{"csv":"d,e\n1,2.5\n","x":[1.5]}}"#.to_owned(),
            ),
        ];
        let mut rng = Rng(0x5eed_cafe_f00d_d00d);
        let (mut hits, mut misses) = (0, 0);
        for (topic, seed) in &seeds {
            // a few positions on a big seed hit everything; more on the small ones
            let rounds = if seed.len() > 1000 { 300 } else { 3000 };
            for _ in 0..rounds {
                let mut text = seed.clone();
                for _ in 0..1 + rng.below(2) {
                    let mut at = rng.below(text.len() + 1);
                    while !text.is_char_boundary(at) {
                        at -= 1;
                    }
                    match rng.below(3) {
                        0 => text.insert_str(at, PIECES[rng.below(PIECES.len())]),
                        1 => {
                            let mut end = (at + 1 + rng.below(4)).min(text.len());
                            while !text.is_char_boundary(end) {
                                end += 1;
                            }
                            text.replace_range(at..end, "");
                        }
                        _ => text.replace_range(at..at, &seed[..rng.below(8).min(seed.len())]),
                    }
                }
                if fast_agrees(topic, &text) {
                    hits += 1;
                } else {
                    misses += 1;
                }
            }
        }
        // both paths were exercised
        assert!(hits > 100 && misses > 100, "{hits} hits, {misses} misses");
    }
}
