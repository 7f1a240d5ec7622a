//! `required-metadata`: a message of a configured topic must carry the configured
//! metadata keys with non-blank values.
//!
//! `required` maps a topic to its keys; `"*"` applies to every topic (in addition to
//! the topic's own list). A blank value (empty or whitespace) counts as missing: an
//! empty `user_id` identifies nobody. The deny lists every missing key at once, so
//! the caller fixes the request in one round.

use std::sync::OnceLock;

use djinn_sdk::{GateContext, Message, MessageExt, Policy, PolicyInfo, Stage, Verdict, config};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
struct Config {
    required: Vec<(String, Vec<String>)>,
    stages: Vec<Stage>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            required: vec![("question".into(), vec!["user_id".into()])],
            stages: vec![Stage::Inbound, Stage::Hop, Stage::Outbound],
        }
    }
}

impl Config {
    fn load(get: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let mut cfg = Config::default();
        if let Some(text) = get("required") {
            let bad = || "config `required` must be a JSON object {topic: [key, ...]}".to_owned();
            let v: Value = serde_json::from_str(&text).map_err(|e| format!("{} ({e})", bad()))?;
            let map = v.as_object().ok_or_else(bad)?;
            cfg.required = map
                .iter()
                .map(|(topic, keys)| {
                    let keys = keys
                        .as_array()
                        .and_then(|a| {
                            a.iter()
                                .map(|k| k.as_str().map(|s| s.trim().to_owned()))
                                .collect::<Option<Vec<_>>>()
                        })
                        .filter(|ks| ks.iter().all(|k| !k.is_empty()))
                        .ok_or_else(|| {
                            format!(
                                "config `required` for topic `{topic}` must be a list of non-empty key names"
                            )
                        })?;
                    Ok((topic.clone(), keys))
                })
                .collect::<Result<_, String>>()?;
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
    let mut missing: Vec<&str> = Vec::new();
    // The topic's own keys first, then the ones every topic needs.
    let own = cfg.required.iter().filter(|(t, _)| *t == msg.topic);
    let all = cfg.required.iter().filter(|(t, _)| t == "*");
    for (_, keys) in own.chain(all) {
        for key in keys {
            let present = msg.meta(key).is_some_and(|v| !v.trim().is_empty());
            if !present && !missing.contains(&key.as_str()) {
                missing.push(key);
            }
        }
    }
    if missing.is_empty() {
        Verdict::Allow
    } else {
        Verdict::Deny(format!(
            "required-metadata: `{}` is missing {}",
            msg.topic,
            missing
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
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

struct RequiredMetadata;

impl Policy for RequiredMetadata {
    fn info() -> PolicyInfo {
        PolicyInfo {
            id: "required-metadata".into(),
            name: "Required metadata per topic".into(),
            version: "0.1.0".into(),
        }
    }

    fn evaluate(msg: Message, ctx: GateContext) -> Verdict {
        match cached_config() {
            Ok(cfg) => judge(&msg, &ctx, cfg),
            Err(e) => Verdict::Deny(format!("required-metadata: {e}")),
        }
    }
}

djinn_sdk::export_policy!(RequiredMetadata);

#[cfg(test)]
mod tests {
    use super::*;

    fn inbound() -> GateContext {
        GateContext {
            stage: Stage::Inbound,
            recipient: None,
            recipient_risk: None,
        }
    }

    fn cfg() -> Config {
        Config::load(|k| {
            (k == "required")
                .then(|| r#"{"question": ["user_id", "trace_id"], "*": ["tenant_id"]}"#.into())
        })
        .unwrap()
    }

    fn q() -> Message {
        Message::new(
            "question",
            r#"{"question":"I spent 1,250.00 at Amazon on 2024-03-01"}"#,
        )
    }

    #[test]
    fn all_present_passes() {
        let m = q()
            .with_meta("user_id", "u-1")
            .with_meta("trace_id", "t-1")
            .with_meta("tenant_id", "acme");
        assert_eq!(judge(&m, &inbound(), &cfg()), Verdict::Allow);
    }

    #[test]
    fn lists_every_missing_or_blank_key() {
        let m = q().with_meta("user_id", "   ");
        assert_eq!(
            judge(&m, &inbound(), &cfg()),
            Verdict::Deny(
                "required-metadata: `question` is missing `user_id`, `trace_id`, `tenant_id`"
                    .into()
            )
        );
    }

    #[test]
    fn wildcard_applies_to_other_topics_and_unlisted_pass() {
        let m = Message::new("loan.request", "{}");
        assert!(
            matches!(judge(&m, &inbound(), &cfg()), Verdict::Deny(r) if r.contains("`tenant_id`") && !r.contains("user_id"))
        );
        assert_eq!(judge(&m, &inbound(), &Config::default()), Verdict::Allow);
    }

    #[test]
    fn defaults_need_a_user_id_on_questions() {
        assert!(
            matches!(judge(&q(), &inbound(), &Config::default()), Verdict::Deny(r) if r.contains("`user_id`"))
        );
        assert_eq!(
            judge(
                &q().with_meta("user_id", "u-1"),
                &inbound(),
                &Config::default()
            ),
            Verdict::Allow
        );
    }

    #[test]
    fn stages() {
        let c = Config::load(|k| (k == "stages").then(|| "hop".into())).unwrap();
        assert_eq!(judge(&q(), &inbound(), &c), Verdict::Allow);
    }

    #[test]
    fn bad_config_is_named() {
        for (key, value) in [
            ("required", r#"{"question": "user_id"}"#),
            ("required", r#"{"question": [""]}"#),
            ("required", "nope"),
            ("stages", "sideways"),
        ] {
            let err = Config::load(|k| (k == key).then(|| value.to_owned())).unwrap_err();
            assert!(err.contains(&format!("`{key}`")), "{err}");
        }
    }
}
