//! Routes a question into the pipeline and the gathered analysis on to the reporter.
//!
//! The supervisor is stateless. Genie's supervisor kept a per-trace session map
//! behind a mutex, never evicted, to join four results; here the bus joins the
//! analysis branches (`djinn-gather`) and hands this agent one `analysis.gathered`
//! message. A question the pipeline cannot serve gets an `answer` that says what
//! input is needed, instead of silence and a client timeout.

use std::fmt;

use djinn_sdk::json::Skip;
use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};

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
        let mut reply = msg.reply(&topic, out.to_string());
        reply.metadata.retain(|(k, _)| k != "djinn-gather");
        Ok(vec![reply])
    }
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
}
