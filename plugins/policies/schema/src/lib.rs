//! `schema`: checks each message's JSON payload against the JSON Schema configured
//! for its topic, and names the JSON pointer of the first violation.
//!
//! A hand-written subset of JSON Schema (draft 2020-12 semantics for these keywords):
//! `type` (incl. `integer`, or a list of types), `properties`, `required`,
//! `additionalProperties` (bool or schema), `items`, `enum`, `const`, `minimum`,
//! `maximum`, `exclusiveMinimum`, `exclusiveMaximum`, `minLength`, `maxLength`
//! (counted in characters), `minItems`, `maxItems`; `true`/`false` schemas; and the
//! annotations `title`, `description`, `default`, `examples`, `$schema`, `$id`,
//! `$comment`.
//!
//! Why unknown keywords are a config error: a schema that says `"pattern"` or
//! `"oneOf"` and is silently not enforced looks safe and is not. The policy refuses
//! such a schema at evaluation time (fail closed) and the deny names the keyword.
//!
//! Topics without a schema are allowed: payload shapes are owned by the agents, and
//! the operator opts a topic in by adding its schema.

use std::sync::OnceLock;

use djinn_sdk::{GateContext, Message, Policy, PolicyInfo, Stage, Verdict, config};
use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Type {
    Object,
    Array,
    String,
    Number,
    Integer,
    Boolean,
    Null,
}

impl Type {
    fn parse(s: &str) -> Option<Type> {
        Some(match s {
            "object" => Type::Object,
            "array" => Type::Array,
            "string" => Type::String,
            "number" => Type::Number,
            "integer" => Type::Integer,
            "boolean" => Type::Boolean,
            "null" => Type::Null,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Type::Object => "object",
            Type::Array => "array",
            Type::String => "string",
            Type::Number => "number",
            Type::Integer => "integer",
            Type::Boolean => "boolean",
            Type::Null => "null",
        }
    }

    fn accepts(self, v: &Value) -> bool {
        match self {
            Type::Object => v.is_object(),
            Type::Array => v.is_array(),
            Type::String => v.is_string(),
            Type::Number => v.is_number(),
            Type::Integer => {
                v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            Type::Boolean => v.is_boolean(),
            Type::Null => v.is_null(),
        }
    }
}

/// What a JSON value is, for messages.
fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A compiled schema.
#[derive(Clone, Debug, Default, PartialEq)]
struct Schema {
    /// `false` schema: nothing is valid.
    never: bool,
    types: Option<Vec<Type>>,
    properties: Vec<(String, Schema)>,
    required: Vec<String>,
    /// `None`: any extra property; `Some(never)`: none allowed.
    additional: Option<Box<Schema>>,
    items: Option<Box<Schema>>,
    enumeration: Option<Vec<Value>>,
    constant: Option<Value>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: Option<f64>,
    exclusive_maximum: Option<f64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    min_items: Option<u64>,
    max_items: Option<u64>,
}

const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "default",
    "examples",
    "$schema",
    "$id",
    "$comment",
];

fn pointer_push(path: &str, token: &str) -> String {
    format!("{path}/{}", token.replace('~', "~0").replace('/', "~1"))
}

fn show(path: &str) -> &str {
    if path.is_empty() { "(root)" } else { path }
}

impl Schema {
    /// Compiles `v`; `at` is where it sits in the config, for errors.
    fn compile(v: &Value, at: &str) -> Result<Schema, String> {
        let obj = match v {
            Value::Bool(true) => return Ok(Schema::default()),
            Value::Bool(false) => {
                return Ok(Schema {
                    never: true,
                    ..Schema::default()
                });
            }
            Value::Object(o) => o,
            other => {
                return Err(format!(
                    "schema at {at} must be an object or a boolean, not {}",
                    kind_of(other)
                ));
            }
        };
        let mut s = Schema::default();
        for (key, val) in obj {
            let here = pointer_push(at, key);
            let bad = |what: &str| format!("schema keyword at {here} must be {what}");
            let count = |v: &Value| v.as_u64().ok_or_else(|| bad("a non-negative integer"));
            let num = |v: &Value| v.as_f64().ok_or_else(|| bad("a number"));
            match key.as_str() {
                "type" => {
                    let names: Vec<&Value> = match val {
                        Value::Array(a) => a.iter().collect(),
                        one => vec![one],
                    };
                    let types = names
                        .into_iter()
                        .map(|n| n.as_str().and_then(Type::parse))
                        .collect::<Option<Vec<Type>>>()
                        .ok_or_else(|| bad("a type name or a list of type names"))?;
                    s.types = Some(types);
                }
                "properties" => {
                    let props = val.as_object().ok_or_else(|| bad("an object"))?;
                    for (name, sub) in props {
                        s.properties.push((
                            name.clone(),
                            Schema::compile(sub, &pointer_push(&here, name))?,
                        ));
                    }
                }
                "required" => {
                    s.required = val
                        .as_array()
                        .and_then(|a| {
                            a.iter()
                                .map(|n| n.as_str().map(str::to_owned))
                                .collect::<Option<Vec<_>>>()
                        })
                        .ok_or_else(|| bad("a list of property names"))?;
                }
                "additionalProperties" => {
                    s.additional = match val {
                        Value::Bool(true) => None,
                        other => Some(Box::new(Schema::compile(other, &here)?)),
                    };
                }
                "items" => s.items = Some(Box::new(Schema::compile(val, &here)?)),
                "enum" => {
                    s.enumeration = Some(val.as_array().ok_or_else(|| bad("a list"))?.clone())
                }
                "const" => s.constant = Some(val.clone()),
                "minimum" => s.minimum = Some(num(val)?),
                "maximum" => s.maximum = Some(num(val)?),
                "exclusiveMinimum" => s.exclusive_minimum = Some(num(val)?),
                "exclusiveMaximum" => s.exclusive_maximum = Some(num(val)?),
                "minLength" => s.min_length = Some(count(val)?),
                "maxLength" => s.max_length = Some(count(val)?),
                "minItems" => s.min_items = Some(count(val)?),
                "maxItems" => s.max_items = Some(count(val)?),
                k if ANNOTATIONS.contains(&k) => {}
                other => {
                    return Err(format!(
                        "schema at {} uses `{other}`, which this policy does not implement; \
                         remove it or express the rule with the supported keywords",
                        show(at)
                    ));
                }
            }
        }
        Ok(s)
    }

    /// The first violation in `v`, as `<pointer>: <problem>`.
    fn check(&self, v: &Value, path: &str) -> Result<(), String> {
        let fail = |problem: String| Err(format!("{}: {problem}", show(path)));
        if self.never {
            return fail("no value is allowed here".into());
        }
        if let Some(types) = &self.types
            && !types.iter().any(|t| t.accepts(v))
        {
            let want: Vec<&str> = types.iter().map(|t| t.name()).collect();
            return fail(format!(
                "expected {}, got {}",
                want.join(" or "),
                kind_of(v)
            ));
        }
        if let Some(c) = &self.constant
            && v != c
        {
            return fail(format!("expected the constant {c}"));
        }
        if let Some(options) = &self.enumeration
            && !options.contains(v)
        {
            let shown: Vec<String> = options.iter().take(8).map(Value::to_string).collect();
            return fail(format!("expected one of {}", shown.join(", ")));
        }
        match v {
            Value::Number(n) => {
                let x = n.as_f64().unwrap_or(f64::NAN);
                if let Some(m) = self.minimum
                    && x < m
                {
                    return fail(format!("{n} is below the minimum {m}"));
                }
                if let Some(m) = self.maximum
                    && x > m
                {
                    return fail(format!("{n} is above the maximum {m}"));
                }
                if let Some(m) = self.exclusive_minimum
                    && x <= m
                {
                    return fail(format!("{n} must be greater than {m}"));
                }
                if let Some(m) = self.exclusive_maximum
                    && x >= m
                {
                    return fail(format!("{n} must be less than {m}"));
                }
            }
            Value::String(s) => {
                let len = s.chars().count() as u64;
                if let Some(m) = self.min_length
                    && len < m
                {
                    return fail(format!("string of {len} characters is shorter than {m}"));
                }
                if let Some(m) = self.max_length
                    && len > m
                {
                    return fail(format!("string of {len} characters is longer than {m}"));
                }
            }
            Value::Array(items) => {
                let n = items.len() as u64;
                if let Some(m) = self.min_items
                    && n < m
                {
                    return fail(format!("{n} items, fewer than {m}"));
                }
                if let Some(m) = self.max_items
                    && n > m
                {
                    return fail(format!("{n} items, more than {m}"));
                }
                if let Some(item) = &self.items {
                    for (i, x) in items.iter().enumerate() {
                        item.check(x, &pointer_push(path, &i.to_string()))?;
                    }
                }
            }
            Value::Object(map) => self.check_object(map, path)?,
            Value::Null | Value::Bool(_) => {}
        }
        Ok(())
    }

    fn check_object(&self, map: &Map<String, Value>, path: &str) -> Result<(), String> {
        for name in &self.required {
            if !map.contains_key(name) {
                return Err(format!(
                    "{}: missing required property",
                    pointer_push(path, name)
                ));
            }
        }
        for (name, value) in map {
            let here = pointer_push(path, name);
            match self.properties.iter().find(|(n, _)| n == name) {
                Some((_, sub)) => sub.check(value, &here)?,
                None => {
                    if let Some(extra) = &self.additional {
                        if extra.never {
                            return Err(format!("{here}: property is not allowed"));
                        }
                        extra.check(value, &here)?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Config {
    schemas: Vec<(String, Schema)>,
    stages: Vec<Stage>,
}

impl Config {
    fn load(get: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let mut cfg = Config {
            schemas: Vec::new(),
            stages: vec![Stage::Inbound, Stage::Hop, Stage::Outbound],
        };
        if let Some(text) = get("schemas") {
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| format!("config `schemas` is not JSON: {e}"))?;
            let topics = v
                .as_object()
                .ok_or("config `schemas` must be a JSON object {topic: schema}")?;
            for (topic, schema) in topics {
                let compiled = Schema::compile(schema, "")
                    .map_err(|e| format!("config `schemas` for topic `{topic}`: {e}"))?;
                cfg.schemas.push((topic.clone(), compiled));
            }
        }
        if let Some(v) = get("stages") {
            cfg.stages = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| match s {
                    "inbound" => Ok(Stage::Inbound),
                    "hop" => Ok(Stage::Hop),
                    "outbound" => Ok(Stage::Outbound),
                    other => Err(format!(
                        "config `stages` names unknown stage `{other}` (use inbound, hop, outbound)"
                    )),
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(cfg)
    }
}

fn judge(msg: &Message, ctx: &GateContext, cfg: &Config) -> Verdict {
    if !cfg.stages.contains(&ctx.stage) {
        return Verdict::Allow;
    }
    let Some((_, schema)) = cfg.schemas.iter().find(|(t, _)| *t == msg.topic) else {
        return Verdict::Allow;
    };
    let value: Value = match serde_json::from_str(&msg.payload) {
        Ok(v) => v,
        Err(e) => {
            return Verdict::Deny(format!(
                "schema: payload of `{}` is not JSON ({e})",
                msg.topic
            ));
        }
    };
    match schema.check(&value, "") {
        Ok(()) => Verdict::Allow,
        Err(problem) => Verdict::Deny(format!("schema: `{}` {problem}", msg.topic)),
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

struct SchemaPolicy;

impl Policy for SchemaPolicy {
    fn info() -> PolicyInfo {
        PolicyInfo {
            id: "schema".into(),
            name: "JSON Schema per topic".into(),
            version: "0.1.0".into(),
        }
    }

    fn evaluate(msg: Message, ctx: GateContext) -> Verdict {
        match cached_config() {
            Ok(cfg) => judge(&msg, &ctx, cfg),
            Err(e) => Verdict::Deny(format!("schema: {e}")),
        }
    }
}

djinn_sdk::export_policy!(SchemaPolicy);

#[cfg(test)]
mod tests {
    use super::*;
    use djinn_sdk::MessageExt;
    use serde_json::json;

    /// The default in djinn.toml.
    const QUESTION: &str = r#"{"question": {"type": "object", "required": ["question"], "properties": {"question": {"type": "string", "minLength": 1, "maxLength": 4000}, "statement": {"type": "object", "required": ["csv"], "properties": {"csv": {"type": "string"}}}, "context": {"type": "object"}}}}"#;

    fn cfg(schemas: &str) -> Config {
        Config::load(|k| (k == "schemas").then(|| schemas.to_owned())).unwrap()
    }

    fn check(schema: Value, v: Value) -> Result<(), String> {
        Schema::compile(&schema, "").unwrap().check(&v, "")
    }

    fn inbound() -> GateContext {
        GateContext {
            stage: Stage::Inbound,
            recipient: None,
            recipient_risk: None,
        }
    }

    fn deny_reason(v: Verdict) -> String {
        match v {
            Verdict::Deny(r) => r,
            other => panic!("expected deny, got {other:?}"),
        }
    }

    #[test]
    fn default_question_schema() {
        let c = cfg(QUESTION);
        let ok = Message::new(
            "question",
            json!({"question": "I spent 1,250.00 at Amazon on 2024-03-01, is that a lot?",
                   "statement": {"csv": "date,desc,amount\n2024-03-01,AMAZON,-1250.00"},
                   "context": {"currency": "INR"}})
            .to_string(),
        );
        assert_eq!(judge(&ok, &inbound(), &c), Verdict::Allow);

        let r = deny_reason(judge(
            &Message::new("question", r#"{"q":"hi"}"#),
            &inbound(),
            &c,
        ));
        assert!(r.contains("/question: missing required property"), "{r}");
        let r = deny_reason(judge(
            &Message::new("question", r#"{"question":42}"#),
            &inbound(),
            &c,
        ));
        assert!(r.contains("/question: expected string, got integer"), "{r}");
        let long = json!({"question": "x".repeat(4001)}).to_string();
        let r = deny_reason(judge(&Message::new("question", long), &inbound(), &c));
        assert!(
            r.contains("/question: string of 4001 characters is longer than 4000"),
            "{r}"
        );
        let r = deny_reason(judge(
            &Message::new("question", r#"{"question":"hi","statement":{"rows":[]}}"#),
            &inbound(),
            &c,
        ));
        assert!(r.contains("/statement/csv: missing"), "{r}");
        let r = deny_reason(judge(&Message::new("question", "not json"), &inbound(), &c));
        assert!(r.contains("not JSON"), "{r}");
    }

    #[test]
    fn topics_without_a_schema_pass() {
        let m = Message::new("analysis.result", "anything, even not JSON");
        assert_eq!(judge(&m, &inbound(), &cfg(QUESTION)), Verdict::Allow);
    }

    #[test]
    fn nested_pointer_in_arrays() {
        let schema = json!({"type": "object", "properties": {"transactions": {"type": "array",
            "items": {"type": "object", "required": ["amount_cents"],
                      "properties": {"amount_cents": {"type": "integer"}}}}}});
        let v = json!({"transactions": [{"amount_cents": 1}, {"amount_cents": 2}, {"amount_cents": -3},
                                        {"amount_cents": "12.50"}]});
        assert_eq!(
            check(schema.clone(), v).unwrap_err(),
            "/transactions/3/amount_cents: expected integer, got string"
        );
        // 2.0 counts as an integer, 2.5 does not.
        assert!(
            check(
                schema.clone(),
                json!({"transactions": [{"amount_cents": 2.0}]})
            )
            .is_ok()
        );
        assert!(check(schema, json!({"transactions": [{"amount_cents": 2.5}]})).is_err());
    }

    #[test]
    fn keywords() {
        let s = json!({"type": "object", "additionalProperties": false,
        "properties": {
            "kind": {"enum": ["buy", "sell"]},
            "v": {"const": 1},
            "n": {"type": "number", "minimum": 0, "maximum": 10, "exclusiveMaximum": 10},
            "tags": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string", "minLength": 2}},
            "note": {"type": ["string", "null"]}
        }});
        assert!(
            check(
                s.clone(),
                json!({"kind": "buy", "v": 1, "n": 9.5, "tags": ["ab"], "note": null})
            )
            .is_ok()
        );
        let e = |v| check(s.clone(), v).unwrap_err();
        assert_eq!(e(json!({"extra": 1})), "/extra: property is not allowed");
        assert!(e(json!({"kind": "hold"})).starts_with("/kind: expected one of \"buy\", \"sell\""));
        assert!(e(json!({"v": 2})).starts_with("/v: expected the constant 1"));
        assert!(e(json!({"n": -1})).contains("below the minimum"));
        assert!(e(json!({"n": 10})).contains("less than 10"));
        assert!(e(json!({"tags": []})).contains("fewer than 1"));
        assert!(e(json!({"tags": ["ab", "cd", "ef"]})).contains("more than 2"));
        assert_eq!(
            e(json!({"tags": ["a"]})),
            "/tags/0: string of 1 characters is shorter than 2"
        );
        assert_eq!(
            e(json!({"note": 3})),
            "/note: expected string or null, got integer"
        );
        // Pointer escaping of `/` and `~` in property names.
        let s = json!({"properties": {"a/b~c": {"type": "string"}}});
        assert_eq!(
            check(s, json!({"a/b~c": 1})).unwrap_err(),
            "/a~1b~0c: expected string, got integer"
        );
        // Root type errors and boolean schemas.
        assert_eq!(
            check(json!({"type": "object"}), json!([1])).unwrap_err(),
            "(root): expected object, got array"
        );
        assert!(check(json!(true), json!(1)).is_ok());
        assert!(
            check(
                json!({"additionalProperties": {"type": "integer"}}),
                json!({"x": "no"})
            )
            .is_err()
        );
    }

    #[test]
    fn unsupported_or_malformed_schemas_fail_closed() {
        let err = Config::load(|k| {
            (k == "schemas")
                .then(|| r#"{"answer": {"properties": {"a": {"pattern": "^x"}}}}"#.into())
        })
        .unwrap_err();
        assert!(
            err.contains("`answer`") && err.contains("`pattern`") && err.contains("/properties/a"),
            "{err}"
        );
        let err = Config::load(|k| (k == "schemas").then(|| "{not json".into())).unwrap_err();
        assert!(err.contains("`schemas` is not JSON"), "{err}");
        let err = Config::load(|k| (k == "schemas").then(|| r#"{"q": {"type": "strin"}}"#.into()))
            .unwrap_err();
        assert!(err.contains("/type"), "{err}");
        let err = Config::load(|k| (k == "schemas").then(|| r#"{"q": {"minLength": -1}}"#.into()))
            .unwrap_err();
        assert!(err.contains("/minLength"), "{err}");
        let err = Config::load(|k| (k == "stages").then(|| "in".into())).unwrap_err();
        assert!(err.contains("`stages`"), "{err}");
    }

    #[test]
    fn stages_limit_where_it_runs() {
        let c = Config {
            stages: vec![Stage::Hop],
            ..cfg(QUESTION)
        };
        let bad = Message::new("question", "{}");
        assert_eq!(judge(&bad, &inbound(), &c), Verdict::Allow);
        let hop = GateContext {
            stage: Stage::Hop,
            recipient: Some("analyzer".into()),
            recipient_risk: None,
        };
        assert!(matches!(judge(&bad, &hop, &c), Verdict::Deny(_)));
    }
}
