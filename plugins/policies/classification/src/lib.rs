//! `classification`: on a hop, a message may reach an agent only if its
//! classification (public < internal < pii < secret) is within that agent's ceiling.
//!
//! The message's class is its `classification` metadata; missing means `internal`,
//! and a value this policy does not know counts as `secret` (fail closed: a typo must
//! not open the door). Ceilings come from `ceilings` (per agent id), else
//! `default_ceiling`; a recipient declaring risk = high without an explicit ceiling
//! gets `high_risk_ceiling` instead, when that is set and lower.
//!
//! Why the default ceiling is `pii`: Genie set documents to `pii` and the default
//! ceiling to `internal`, so every default question was denied at its first hop.
//! Agents in this pipeline read the user's own statement, which is personal data;
//! `secret` still needs an explicit ceiling.

use std::sync::OnceLock;

use djinn_sdk::{
    GateContext, Message, MessageExt, Policy, PolicyInfo, RiskLevel, Stage, Verdict, config,
};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Public,
    Internal,
    Pii,
    Secret,
}

impl Class {
    fn parse(s: &str) -> Option<Class> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "public" => Class::Public,
            "internal" => Class::Internal,
            "pii" => Class::Pii,
            "secret" => Class::Secret,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Class::Public => "public",
            Class::Internal => "internal",
            Class::Pii => "pii",
            Class::Secret => "secret",
        }
    }

    /// The message's class: missing is internal, anything unknown is secret.
    fn of(msg: &Message) -> Class {
        match msg.meta("classification") {
            None => Class::Internal,
            Some(v) if v.trim().is_empty() => Class::Internal,
            Some(v) => Class::parse(v).unwrap_or(Class::Secret),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Config {
    ceilings: Vec<(String, Class)>,
    default_ceiling: Class,
    high_risk_ceiling: Option<Class>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ceilings: Vec::new(),
            default_ceiling: Class::Pii,
            high_risk_ceiling: None,
        }
    }
}

fn class_key(key: &str, v: &str) -> Result<Class, String> {
    Class::parse(v)
        .ok_or_else(|| format!("config `{key}` must be public, internal, pii or secret, not `{v}`"))
}

impl Config {
    fn load(get: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let mut cfg = Config::default();
        if let Some(text) = get("ceilings") {
            let bad = || "config `ceilings` must be a JSON object {agent_id: class}".to_owned();
            let v: Value = serde_json::from_str(&text).map_err(|e| format!("{} ({e})", bad()))?;
            let map = v.as_object().ok_or_else(bad)?;
            for (agent, class) in map {
                let class = class
                    .as_str()
                    .and_then(Class::parse)
                    .ok_or_else(|| {
                        format!(
                            "config `ceilings` for agent `{agent}` must be public, internal, pii or secret"
                        )
                    })?;
                cfg.ceilings.push((agent.clone(), class));
            }
        }
        if let Some(v) = get("default_ceiling") {
            cfg.default_ceiling = class_key("default_ceiling", &v)?;
        }
        if let Some(v) = get("high_risk_ceiling")
            && !v.trim().is_empty()
        {
            cfg.high_risk_ceiling = Some(class_key("high_risk_ceiling", &v)?);
        }
        Ok(cfg)
    }

    /// The ceiling for the recipient, and where it came from (for the reason).
    fn ceiling(&self, ctx: &GateContext) -> (Class, &'static str) {
        if let Some(agent) = &ctx.recipient
            && let Some((_, c)) = self.ceilings.iter().find(|(a, _)| a == agent)
        {
            return (*c, "its ceiling");
        }
        match self.high_risk_ceiling {
            Some(h) if ctx.recipient_risk == Some(RiskLevel::High) && h < self.default_ceiling => {
                (h, "the high-risk ceiling")
            }
            _ => (self.default_ceiling, "the default ceiling"),
        }
    }
}

fn judge(msg: &Message, ctx: &GateContext, cfg: &Config) -> Verdict {
    if ctx.stage != Stage::Hop {
        return Verdict::Allow;
    }
    let class = Class::of(msg);
    let (ceiling, source) = cfg.ceiling(ctx);
    if class <= ceiling {
        return Verdict::Allow;
    }
    let label = match msg.meta("classification") {
        Some(v) if Class::parse(v).is_none() && !v.trim().is_empty() => {
            "an unknown classification (treated as secret)".to_owned()
        }
        _ => format!("classification `{}`", class.name()),
    };
    let to = ctx.recipient.as_deref().unwrap_or("(broadcast)");
    Verdict::Deny(format!(
        "classification: `{}` has {label}, above {source} `{}` of recipient `{to}`",
        msg.topic,
        ceiling.name()
    ))
}

/// The parsed `[config]`, read on this instance's first call and kept for its life.
/// Config is fixed for a loaded plugin and the same for every caller (a reload
/// makes new instances), so a pooled instance need not parse it per message. This
/// is the plugin's only module state; nothing from a message is kept.
fn cached_config() -> &'static Result<Config, String> {
    static CONFIG: OnceLock<Result<Config, String>> = OnceLock::new();
    CONFIG.get_or_init(|| Config::load(config::get))
}

struct Classification;

impl Policy for Classification {
    fn info() -> PolicyInfo {
        PolicyInfo {
            id: "classification".into(),
            name: "Classification ceiling per recipient".into(),
            version: "0.1.0".into(),
        }
    }

    fn evaluate(msg: Message, ctx: GateContext) -> Verdict {
        match cached_config() {
            Ok(cfg) => judge(&msg, &ctx, cfg),
            Err(e) => Verdict::Deny(format!("classification: {e}")),
        }
    }
}

djinn_sdk::export_policy!(Classification);

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(to: &str, risk: RiskLevel) -> GateContext {
        GateContext {
            stage: Stage::Hop,
            recipient: Some(to.into()),
            recipient_risk: Some(risk),
        }
    }

    fn msg(class: Option<&str>) -> Message {
        let m = Message::new(
            "statement.ingest",
            r#"{"csv":"2024-03-01,AMAZON,-1250.00"}"#,
        );
        match class {
            Some(c) => m.with_meta("classification", c),
            None => m,
        }
    }

    fn cfg() -> Config {
        Config::load(|k| match k {
            "ceilings" => {
                Some(r#"{"analyzer": "pii", "web-search": "public", "vault": "secret"}"#.into())
            }
            "default_ceiling" => Some("internal".into()),
            "high_risk_ceiling" => Some("public".into()),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn within_ceiling_passes() {
        let c = cfg();
        assert_eq!(
            judge(&msg(Some("pii")), &hop("analyzer", RiskLevel::Low), &c),
            Verdict::Allow
        );
        assert_eq!(
            judge(&msg(Some("secret")), &hop("vault", RiskLevel::High), &c),
            Verdict::Allow
        );
        assert_eq!(
            judge(
                &msg(Some("public")),
                &hop("web-search", RiskLevel::High),
                &c
            ),
            Verdict::Allow
        );
        // Missing classification is internal.
        assert_eq!(
            judge(&msg(None), &hop("other", RiskLevel::Low), &c),
            Verdict::Allow
        );
    }

    #[test]
    fn above_ceiling_is_denied() {
        let c = cfg();
        let Verdict::Deny(r) = judge(&msg(Some("pii")), &hop("web-search", RiskLevel::Low), &c)
        else {
            panic!()
        };
        assert_eq!(
            r,
            "classification: `statement.ingest` has classification `pii`, above its ceiling `public` of recipient `web-search`"
        );
        assert!(matches!(
            judge(
                &msg(Some("internal")),
                &hop("web-search", RiskLevel::Low),
                &c
            ),
            Verdict::Deny(_)
        ));
        assert!(matches!(
            judge(&msg(Some("pii")), &hop("other", RiskLevel::Low), &c),
            Verdict::Deny(_)
        ));
    }

    #[test]
    fn unknown_classes_are_secret_and_case_is_ignored() {
        let c = cfg();
        let Verdict::Deny(r) = judge(
            &msg(Some("confidential")),
            &hop("analyzer", RiskLevel::Low),
            &c,
        ) else {
            panic!()
        };
        assert!(
            r.contains("unknown classification (treated as secret)"),
            "{r}"
        );
        assert_eq!(
            judge(
                &msg(Some("confidential")),
                &hop("vault", RiskLevel::Low),
                &c
            ),
            Verdict::Allow
        );
        assert_eq!(
            judge(&msg(Some(" PII ")), &hop("analyzer", RiskLevel::Low), &c),
            Verdict::Allow
        );
    }

    #[test]
    fn high_risk_recipients_get_the_lower_ceiling_unless_listed() {
        let c = cfg();
        let Verdict::Deny(r) = judge(&msg(None), &hop("other", RiskLevel::High), &c) else {
            panic!()
        };
        assert!(r.contains("the high-risk ceiling `public`"), "{r}");
        assert_eq!(
            judge(&msg(Some("pii")), &hop("analyzer", RiskLevel::High), &c),
            Verdict::Allow
        );
        // A high-risk ceiling above the default does not raise it.
        let c = Config {
            high_risk_ceiling: Some(Class::Secret),
            ..cfg()
        };
        assert!(matches!(
            judge(&msg(Some("pii")), &hop("other", RiskLevel::High), &c),
            Verdict::Deny(_)
        ));
    }

    #[test]
    fn defaults_let_the_pipeline_carry_pii_but_not_secrets() {
        let c = Config::default();
        assert_eq!(
            judge(&msg(Some("pii")), &hop("analyzer", RiskLevel::Medium), &c),
            Verdict::Allow
        );
        assert!(matches!(
            judge(&msg(Some("secret")), &hop("analyzer", RiskLevel::Low), &c),
            Verdict::Deny(_)
        ));
    }

    #[test]
    fn only_hops_are_judged() {
        let c = cfg();
        for stage in [Stage::Inbound, Stage::Outbound] {
            let ctx = GateContext {
                stage,
                recipient: None,
                recipient_risk: None,
            };
            assert_eq!(judge(&msg(Some("secret")), &ctx, &c), Verdict::Allow);
        }
        // A hop with no recipient uses the default ceiling.
        let ctx = GateContext {
            stage: Stage::Hop,
            recipient: None,
            recipient_risk: None,
        };
        assert!(
            matches!(judge(&msg(Some("pii")), &ctx, &c), Verdict::Deny(r) if r.contains("(broadcast)"))
        );
    }

    #[test]
    fn bad_config_is_named() {
        for (key, value) in [
            ("ceilings", r#"{"analyzer": "top-secret"}"#),
            ("ceilings", "[]"),
            ("default_ceiling", "restricted"),
            ("high_risk_ceiling", "low"),
        ] {
            let err = Config::load(|k| (k == key).then(|| value.to_owned())).unwrap_err();
            assert!(err.contains(&format!("`{key}`")), "{err}");
        }
    }
}
