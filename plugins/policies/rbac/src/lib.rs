//! `rbac`: a message type may be sent only by a caller holding one of the roles
//! configured for it.
//!
//! `roles` maps a topic to the roles allowed to send it (`"*"` covers every topic
//! not listed); the caller's roles come from the `user_roles` metadata
//! (comma-separated, compared case-insensitively). Topics with no entry and no
//! `"*"` pass. An empty list means nobody (but an admin, with `admin_bypass`).
//!
//! Checked on inbound by default: that is where the caller's request enters. Hops
//! can be added (`stages`) so a message an agent emits on a protected topic on a
//! user's behalf is held to the same roles.

use std::sync::OnceLock;

use djinn_sdk::{GateContext, Message, MessageExt, Policy, PolicyInfo, Stage, Verdict, config};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
struct Config {
    /// topic → allowed roles (lowercase).
    roles: Vec<(String, Vec<String>)>,
    admin_bypass: bool,
    admin_role: String,
    stages: Vec<Stage>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            roles: vec![(
                "question".into(),
                vec!["user".into(), "advisor".into(), "admin".into()],
            )],
            admin_bypass: true,
            admin_role: "admin".into(),
            stages: vec![Stage::Inbound],
        }
    }
}

fn parse_stages(v: &str) -> Result<Vec<Stage>, String> {
    v.split(',')
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
        .collect()
}

impl Config {
    fn load(get: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let mut cfg = Config::default();
        if let Some(text) = get("roles") {
            let bad = || {
                "config `roles` must be a JSON object {topic: [role, ...]}, \
                 e.g. {\"question\": [\"user\", \"advisor\"]}"
                    .to_owned()
            };
            let v: Value = serde_json::from_str(&text).map_err(|e| format!("{} ({e})", bad()))?;
            let map = v.as_object().ok_or_else(bad)?;
            cfg.roles = map
                .iter()
                .map(|(topic, roles)| {
                    let roles = roles
                        .as_array()
                        .and_then(|a| {
                            a.iter()
                                .map(|r| r.as_str().map(|s| s.trim().to_lowercase()))
                                .collect::<Option<Vec<_>>>()
                        })
                        .ok_or_else(|| {
                            format!("config `roles` for topic `{topic}` must be a list of strings")
                        })?;
                    Ok((topic.clone(), roles))
                })
                .collect::<Result<_, String>>()?;
        }
        if let Some(v) = get("admin_bypass") {
            cfg.admin_bypass = match v.trim() {
                "true" => true,
                "false" => false,
                other => {
                    return Err(format!(
                        "config `admin_bypass` must be true or false, not `{other}`"
                    ));
                }
            };
        }
        if let Some(v) = get("admin_role") {
            cfg.admin_role = v.trim().to_lowercase();
            if cfg.admin_role.is_empty() {
                return Err("config `admin_role` must not be empty".into());
            }
        }
        if let Some(v) = get("stages") {
            cfg.stages = parse_stages(&v)?;
        }
        Ok(cfg)
    }

    fn allowed(&self, topic: &str) -> Option<&[String]> {
        let find = |t: &str| self.roles.iter().find(|(k, _)| k == t);
        find(topic).or_else(|| find("*")).map(|(_, r)| r.as_slice())
    }
}

fn judge(msg: &Message, ctx: &GateContext, cfg: &Config) -> Verdict {
    if !cfg.stages.contains(&ctx.stage) {
        return Verdict::Allow;
    }
    let Some(allowed) = cfg.allowed(&msg.topic) else {
        return Verdict::Allow;
    };
    let held: Vec<String> = msg
        .meta("user_roles")
        .unwrap_or("")
        .split(',')
        .map(|r| r.trim().to_lowercase())
        .filter(|r| !r.is_empty())
        .collect();
    if cfg.admin_bypass && held.contains(&cfg.admin_role) {
        return Verdict::Allow;
    }
    if held.iter().any(|r| allowed.contains(r)) {
        return Verdict::Allow;
    }
    let needs = if allowed.is_empty() {
        "is closed to every role".to_owned()
    } else {
        format!("needs one of [{}]", allowed.join(", "))
    };
    let has = if held.is_empty() {
        "the message has no `user_roles`".to_owned()
    } else {
        format!("the caller has [{}]", held.join(", "))
    };
    Verdict::Deny(format!("rbac: `{}` {needs}; {has}", msg.topic))
}

/// The parsed `[config]`, read on this instance's first call and kept for its life.
/// Config is fixed for a loaded plugin and the same for every caller (a reload
/// makes new instances), so a pooled instance need not parse it per message. This
/// is the plugin's only module state; nothing from a message is kept.
fn cached_config() -> &'static Result<Config, String> {
    static CONFIG: OnceLock<Result<Config, String>> = OnceLock::new();
    CONFIG.get_or_init(|| Config::load(config::get))
}

struct Rbac;

impl Policy for Rbac {
    fn info() -> PolicyInfo {
        PolicyInfo {
            id: "rbac".into(),
            name: "Roles per message type".into(),
            version: "0.1.0".into(),
        }
    }

    fn evaluate(msg: Message, ctx: GateContext) -> Verdict {
        match cached_config() {
            Ok(cfg) => judge(&msg, &ctx, cfg),
            Err(e) => Verdict::Deny(format!("rbac: {e}")),
        }
    }
}

djinn_sdk::export_policy!(Rbac);

#[cfg(test)]
mod tests {
    use super::*;

    fn at(stage: Stage) -> GateContext {
        GateContext {
            stage,
            recipient: None,
            recipient_risk: None,
        }
    }

    fn q(roles: Option<&str>) -> Message {
        let m = Message::new(
            "question",
            r#"{"question":"I spent 1,250.00 at Amazon on 2024-03-01"}"#,
        );
        match roles {
            Some(r) => m.with_meta("user_roles", r),
            None => m,
        }
    }

    fn cfg(roles: &str) -> Config {
        Config::load(|k| (k == "roles").then(|| roles.to_owned())).unwrap()
    }

    #[test]
    fn a_matching_role_passes() {
        let c = Config::default();
        assert_eq!(
            judge(&q(Some("user")), &at(Stage::Inbound), &c),
            Verdict::Allow
        );
        assert_eq!(
            judge(&q(Some("guest, advisor")), &at(Stage::Inbound), &c),
            Verdict::Allow
        );
        // Case and spacing do not matter.
        assert_eq!(
            judge(&q(Some("  USER ")), &at(Stage::Inbound), &c),
            Verdict::Allow
        );
    }

    #[test]
    fn missing_or_wrong_roles_are_denied() {
        let c = Config::default();
        let Verdict::Deny(r) = judge(&q(Some("guest")), &at(Stage::Inbound), &c) else {
            panic!()
        };
        assert_eq!(
            r,
            "rbac: `question` needs one of [user, advisor, admin]; the caller has [guest]"
        );
        let Verdict::Deny(r) = judge(&q(None), &at(Stage::Inbound), &c) else {
            panic!()
        };
        assert!(r.contains("no `user_roles`"), "{r}");
        // A role that merely contains an allowed one is not that role.
        assert!(matches!(
            judge(&q(Some("superuser,users")), &at(Stage::Inbound), &c),
            Verdict::Deny(_)
        ));
        assert!(matches!(
            judge(&q(Some(",,")), &at(Stage::Inbound), &c),
            Verdict::Deny(_)
        ));
    }

    #[test]
    fn admin_bypass() {
        let c = cfg(r#"{"report.request": ["advisor"]}"#);
        let m = Message::new("report.request", "{}").with_meta("user_roles", "admin");
        assert_eq!(judge(&m, &at(Stage::Inbound), &c), Verdict::Allow);
        let c = Config {
            admin_bypass: false,
            ..c
        };
        assert!(matches!(
            judge(&m, &at(Stage::Inbound), &c),
            Verdict::Deny(_)
        ));
    }

    #[test]
    fn wildcard_unlisted_topics_and_empty_lists() {
        let c = cfg(r#"{"question": ["user"], "*": ["advisor"], "kyc.request": []}"#);
        let m = |t: &str, r: &str| Message::new(t, "{}").with_meta("user_roles", r);
        assert_eq!(
            judge(&m("question", "user"), &at(Stage::Inbound), &c),
            Verdict::Allow
        );
        assert!(matches!(
            judge(&m("loan.request", "user"), &at(Stage::Inbound), &c),
            Verdict::Deny(_)
        ));
        assert_eq!(
            judge(&m("loan.request", "advisor"), &at(Stage::Inbound), &c),
            Verdict::Allow
        );
        let Verdict::Deny(r) = judge(&m("kyc.request", "advisor"), &at(Stage::Inbound), &c) else {
            panic!()
        };
        assert!(r.contains("closed to every role"), "{r}");
        // Without "*", unlisted topics pass.
        let c = cfg(r#"{"question": ["user"]}"#);
        assert_eq!(
            judge(&m("loan.request", "guest"), &at(Stage::Inbound), &c),
            Verdict::Allow
        );
    }

    #[test]
    fn stages() {
        let c = Config::default();
        assert_eq!(judge(&q(None), &at(Stage::Hop), &c), Verdict::Allow);
        let c = Config::load(|k| (k == "stages").then(|| "inbound,hop".into())).unwrap();
        assert!(matches!(
            judge(&q(None), &at(Stage::Hop), &c),
            Verdict::Deny(_)
        ));
    }

    #[test]
    fn bad_config_is_named() {
        for (key, value) in [
            ("roles", "{\"question\": \"user\"}"),
            ("roles", "[\"user\"]"),
            ("roles", "not json"),
            ("admin_bypass", "yes"),
            ("stages", "everywhere"),
        ] {
            let err = Config::load(|k| (k == key).then(|| value.to_owned())).unwrap_err();
            assert!(err.contains(&format!("`{key}`")), "{err}");
        }
    }
}
