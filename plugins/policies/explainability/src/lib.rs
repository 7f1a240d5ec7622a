//! `explainability`: a recommendation must say why (`rationale`) and on what basis
//! (`evidence`) before it travels on.
//!
//! For each configured topic (default `recommendations.result`) the JSON payload
//! needs a non-empty string `rationale` and a non-empty array or object `evidence`,
//! either on every item of the array at `items_field` (default `recommendations`)
//! or, when that field is absent, at the top level. Genie checked only a rationale;
//! a rationale with nothing behind it is not an explanation, so evidence is required
//! too.
//!
//! Risk: the policy sees the risk of the *recipient*, not of the sender. A high-risk
//! recipient (an agent that acts on a recommendation) can be made to need more
//! evidence per item (`high_risk_min_evidence`); by default it needs the same.

use std::sync::OnceLock;

use djinn_sdk::{GateContext, Message, Policy, PolicyInfo, RiskLevel, Verdict, config};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
struct Config {
    topics: Vec<String>,
    items_field: String,
    rationale_field: String,
    evidence_field: String,
    min_rationale_chars: usize,
    high_risk_min_evidence: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            topics: vec!["recommendations.result".into()],
            items_field: "recommendations".into(),
            rationale_field: "rationale".into(),
            evidence_field: "evidence".into(),
            min_rationale_chars: 1,
            high_risk_min_evidence: 1,
        }
    }
}

impl Config {
    fn load(get: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let mut cfg = Config::default();
        if let Some(v) = get("topics") {
            cfg.topics = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        for (key, slot) in [
            ("items_field", &mut cfg.items_field),
            ("rationale_field", &mut cfg.rationale_field),
            ("evidence_field", &mut cfg.evidence_field),
        ] {
            if let Some(v) = get(key) {
                let v = v.trim();
                if v.is_empty() {
                    return Err(format!("config `{key}` must name a field"));
                }
                *slot = v.to_owned();
            }
        }
        for (key, slot) in [
            ("min_rationale_chars", &mut cfg.min_rationale_chars),
            ("high_risk_min_evidence", &mut cfg.high_risk_min_evidence),
        ] {
            if let Some(v) = get(key) {
                *slot = v.trim().parse().map_err(|_| {
                    format!("config `{key}` must be a non-negative integer, not `{v}`")
                })?;
            }
        }
        Ok(cfg)
    }
}

/// What is wrong with one explained unit (the payload or one item), if anything.
fn missing(unit: &Value, cfg: &Config, min_evidence: usize) -> Option<String> {
    let Some(obj) = unit.as_object() else {
        return Some("is not an object".into());
    };
    let r = &cfg.rationale_field;
    match obj.get(r) {
        None => return Some(format!("has no `{r}`")),
        Some(Value::String(s)) if s.trim().chars().count() >= cfg.min_rationale_chars.max(1) => {}
        Some(Value::String(_)) => {
            return Some(format!(
                "has a `{r}` shorter than {} characters",
                cfg.min_rationale_chars.max(1)
            ));
        }
        Some(_) => return Some(format!("has a `{r}` that is not a string")),
    }
    let e = &cfg.evidence_field;
    let count = match obj.get(e) {
        None => return Some(format!("has no `{e}`")),
        Some(Value::Array(a)) => a.len(),
        Some(Value::Object(o)) => o.len(),
        Some(_) => return Some(format!("has an `{e}` that is not an array or object")),
    };
    if count == 0 {
        return Some(format!("has an empty `{e}`"));
    }
    if count < min_evidence {
        return Some(format!(
            "has {count} `{e}` entries; a high-risk recipient needs {min_evidence}"
        ));
    }
    None
}

fn judge(msg: &Message, ctx: &GateContext, cfg: &Config) -> Verdict {
    if !cfg.topics.contains(&msg.topic) {
        return Verdict::Allow;
    }
    let deny = |why: String| Verdict::Deny(format!("explainability: `{}` {why}", msg.topic));
    let payload: Value = match serde_json::from_str(&msg.payload) {
        Ok(v) => v,
        Err(e) => return deny(format!("payload is not JSON ({e})")),
    };
    let min_evidence = if ctx.recipient_risk == Some(RiskLevel::High) {
        cfg.high_risk_min_evidence.max(1)
    } else {
        1
    };
    match payload.get(&cfg.items_field) {
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(why) = missing(item, cfg, min_evidence) {
                    return deny(format!(
                        "item {i} (/{}/{i}) {why}",
                        cfg.items_field.replace('~', "~0").replace('/', "~1")
                    ));
                }
            }
            Verdict::Allow
        }
        Some(_) => deny(format!("field `{}` is not an array", cfg.items_field)),
        None => match missing(&payload, cfg, min_evidence) {
            Some(why) => deny(format!("payload {why}")),
            None => Verdict::Allow,
        },
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

struct Explainability;

impl Policy for Explainability {
    fn info() -> PolicyInfo {
        PolicyInfo {
            id: "explainability".into(),
            name: "Recommendations carry a rationale and evidence".into(),
            version: "0.1.0".into(),
        }
    }

    fn evaluate(msg: Message, ctx: GateContext) -> Verdict {
        match cached_config() {
            Ok(cfg) => judge(&msg, &ctx, cfg),
            Err(e) => Verdict::Deny(format!("explainability: {e}")),
        }
    }
}

djinn_sdk::export_policy!(Explainability);

#[cfg(test)]
mod tests {
    use super::*;
    use djinn_sdk::{MessageExt, Stage};
    use serde_json::json;

    fn hop(risk: RiskLevel) -> GateContext {
        GateContext {
            stage: Stage::Hop,
            recipient: Some("reporter".into()),
            recipient_risk: Some(risk),
        }
    }

    fn recs(v: Value) -> Message {
        Message::new("recommendations.result", v.to_string())
    }

    fn reason(v: Verdict) -> String {
        match v {
            Verdict::Deny(r) => r,
            other => panic!("expected deny, got {other:?}"),
        }
    }

    #[test]
    fn explained_recommendations_pass() {
        let m = recs(json!({"recommendations": [
            {"title": "Cut dining out", "rationale": "Dining was 32% of spend in March, up from 18%.",
             "evidence": [{"date": "2024-03-01", "merchant": "Swiggy", "amount": 1250.00}]},
            {"title": "Cancel unused subscription", "rationale": "No usage since January.",
             "evidence": {"merchant": "Netflix", "months": 3}}
        ]}));
        assert_eq!(
            judge(&m, &hop(RiskLevel::Low), &Config::default()),
            Verdict::Allow
        );
        // Empty list: nothing to explain.
        assert_eq!(
            judge(
                &recs(json!({"recommendations": []})),
                &hop(RiskLevel::Low),
                &Config::default()
            ),
            Verdict::Allow
        );
        // Top-level form.
        let m = recs(
            json!({"rationale": "Spending exceeds income.", "evidence": ["2024-03 net -5,000"]}),
        );
        assert_eq!(
            judge(&m, &hop(RiskLevel::Low), &Config::default()),
            Verdict::Allow
        );
    }

    #[test]
    fn deny_names_item_and_field() {
        let cfg = Config::default();
        let m = recs(json!({"recommendations": [
            {"rationale": "ok", "evidence": [1]},
            {"rationale": "ok"},
        ]}));
        let r = reason(judge(&m, &hop(RiskLevel::Low), &cfg));
        assert!(
            r.contains("item 1 (/recommendations/1) has no `evidence`"),
            "{r}"
        );

        let m = recs(json!({"recommendations": [{"rationale": "   ", "evidence": [1]}]}));
        assert!(reason(judge(&m, &hop(RiskLevel::Low), &cfg)).contains("item 0"));
        let m = recs(json!({"recommendations": [{"rationale": "ok", "evidence": []}]}));
        assert!(reason(judge(&m, &hop(RiskLevel::Low), &cfg)).contains("empty `evidence`"));
        let m = recs(json!({"recommendations": [{"rationale": 5, "evidence": [1]}]}));
        assert!(reason(judge(&m, &hop(RiskLevel::Low), &cfg)).contains("not a string"));
        let m = recs(json!({"recommendations": [{"rationale": "ok", "evidence": "trust me"}]}));
        assert!(reason(judge(&m, &hop(RiskLevel::Low), &cfg)).contains("not an array or object"));
        let m = recs(json!({"recommendations": ["buy gold"]}));
        assert!(
            reason(judge(&m, &hop(RiskLevel::Low), &cfg))
                .contains("item 0 (/recommendations/0) is not an object")
        );
        let m = recs(json!({"recommendations": {"a": 1}}));
        assert!(reason(judge(&m, &hop(RiskLevel::Low), &cfg)).contains("not an array"));
        let m = recs(json!({"summary": "buy gold"}));
        assert!(
            reason(judge(&m, &hop(RiskLevel::Low), &cfg)).contains("payload has no `rationale`")
        );
        let m = Message::new("recommendations.result", "buy gold");
        assert!(reason(judge(&m, &hop(RiskLevel::Low), &cfg)).contains("not JSON"));
    }

    #[test]
    fn other_topics_pass() {
        let m = Message::new("analysis.result", r#"{"recommendations":[{"x":1}]}"#);
        assert_eq!(
            judge(&m, &hop(RiskLevel::High), &Config::default()),
            Verdict::Allow
        );
    }

    #[test]
    fn high_risk_recipients_can_need_more_evidence() {
        let cfg = Config {
            high_risk_min_evidence: 2,
            ..Config::default()
        };
        let m = recs(json!({"recommendations": [{"rationale": "ok", "evidence": [1]}]}));
        assert_eq!(judge(&m, &hop(RiskLevel::Medium), &cfg), Verdict::Allow);
        assert!(
            reason(judge(&m, &hop(RiskLevel::High), &cfg)).contains("high-risk recipient needs 2")
        );
    }

    #[test]
    fn config() {
        let cfg = Config::load(|k| match k {
            "topics" => Some("advice.result, plan.result".into()),
            "items_field" => Some("items".into()),
            "min_rationale_chars" => Some("20".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(cfg.topics, ["advice.result", "plan.result"]);
        let m = Message::new(
            "plan.result",
            json!({"items": [{"rationale": "too short", "evidence": [1]}]}).to_string(),
        );
        assert!(reason(judge(&m, &hop(RiskLevel::Low), &cfg)).contains("shorter than 20"));

        let err =
            Config::load(|k| (k == "high_risk_min_evidence").then(|| "two".into())).unwrap_err();
        assert!(err.contains("`high_risk_min_evidence`"), "{err}");
        let err = Config::load(|k| (k == "evidence_field").then(|| " ".into())).unwrap_err();
        assert!(err.contains("`evidence_field`"), "{err}");
    }
}
