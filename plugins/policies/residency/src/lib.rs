//! `residency`: data whose `region` metadata is outside the home region (and the
//! allowed regions) may not be processed here, unless it is public.
//!
//! The class comes from `classification` metadata as in the `classification`
//! policy: missing is `internal`, unknown is `secret`. Internal, pii and secret data
//! from a foreign region is denied; public data passes when
//! `allow_cross_border_public` is true.
//!
//! A message without `region` is treated as home-region data by default
//! (`missing_region = "home"`): the ingress that accepts the question is in the home
//! region, and data an agent derives keeps the question's metadata. Set
//! `missing_region = "deny"` where every message must declare its region.

use std::sync::OnceLock;

use djinn_sdk::{GateContext, Message, MessageExt, Policy, PolicyInfo, Verdict, config};

#[derive(Clone, Debug, PartialEq)]
struct Config {
    home_region: String,
    allowed_regions: Vec<String>,
    allow_cross_border_public: bool,
    missing_is_home: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            home_region: "in".into(),
            allowed_regions: vec!["on-prem".into()],
            allow_cross_border_public: true,
            missing_is_home: true,
        }
    }
}

fn norm(region: &str) -> String {
    region.trim().to_ascii_lowercase()
}

fn flag(key: &str, v: &str) -> Result<bool, String> {
    match v.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!(
            "config `{key}` must be true or false, not `{other}`"
        )),
    }
}

impl Config {
    fn load(get: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let mut cfg = Config::default();
        if let Some(v) = get("home_region") {
            cfg.home_region = norm(&v);
            if cfg.home_region.is_empty() {
                return Err("config `home_region` must not be empty".into());
            }
        }
        if let Some(v) = get("allowed_regions") {
            cfg.allowed_regions = v.split(',').map(norm).filter(|r| !r.is_empty()).collect();
        }
        if let Some(v) = get("allow_cross_border_public") {
            cfg.allow_cross_border_public = flag("allow_cross_border_public", &v)?;
        }
        if let Some(v) = get("missing_region") {
            cfg.missing_is_home = match v.trim() {
                "home" => true,
                "deny" => false,
                other => {
                    return Err(format!(
                        "config `missing_region` must be home or deny, not `{other}`"
                    ));
                }
            };
        }
        Ok(cfg)
    }
}

/// Whether the message's classification is `public` (missing or unknown is not).
fn is_public(msg: &Message) -> bool {
    msg.meta("classification")
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("public"))
}

fn judge(msg: &Message, _ctx: &GateContext, cfg: &Config) -> Verdict {
    let region = match msg.meta("region").map(norm) {
        Some(r) if !r.is_empty() => r,
        _ if cfg.missing_is_home => return Verdict::Allow,
        _ => {
            return Verdict::Deny(format!(
                "residency: `{}` has no `region` metadata and `missing_region` is deny",
                msg.topic
            ));
        }
    };
    if region == cfg.home_region || cfg.allowed_regions.contains(&region) {
        return Verdict::Allow;
    }
    if cfg.allow_cross_border_public && is_public(msg) {
        return Verdict::Allow;
    }
    let class = msg
        .meta("classification")
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "internal".into());
    Verdict::Deny(format!(
        "residency: `{}` carries `{class}` data from region `{region}`, outside home `{}`{}",
        msg.topic,
        cfg.home_region,
        if cfg.allowed_regions.is_empty() {
            String::new()
        } else {
            format!(" and allowed [{}]", cfg.allowed_regions.join(", "))
        }
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

struct Residency;

impl Policy for Residency {
    fn info() -> PolicyInfo {
        PolicyInfo {
            id: "residency".into(),
            name: "Data residency".into(),
            version: "0.1.0".into(),
        }
    }

    fn evaluate(msg: Message, ctx: GateContext) -> Verdict {
        match cached_config() {
            Ok(cfg) => judge(&msg, &ctx, cfg),
            Err(e) => Verdict::Deny(format!("residency: {e}")),
        }
    }
}

djinn_sdk::export_policy!(Residency);

#[cfg(test)]
mod tests {
    use super::*;
    use djinn_sdk::Stage;

    fn ctx() -> GateContext {
        GateContext {
            stage: Stage::Hop,
            recipient: Some("analyzer".into()),
            recipient_risk: None,
        }
    }

    fn msg(region: Option<&str>, class: Option<&str>) -> Message {
        let mut m = Message::new(
            "question",
            r#"{"question":"I spent 1,250.00 at Amazon on 2024-03-01"}"#,
        );
        if let Some(r) = region {
            m = m.with_meta("region", r);
        }
        if let Some(c) = class {
            m = m.with_meta("classification", c);
        }
        m
    }

    #[test]
    fn home_and_allowed_regions_pass() {
        let c = Config::default();
        assert_eq!(
            judge(&msg(Some("in"), Some("pii")), &ctx(), &c),
            Verdict::Allow
        );
        assert_eq!(
            judge(&msg(Some(" IN "), Some("secret")), &ctx(), &c),
            Verdict::Allow
        );
        assert_eq!(
            judge(&msg(Some("on-prem"), Some("pii")), &ctx(), &c),
            Verdict::Allow
        );
        let c = Config::load(|k| (k == "allowed_regions").then(|| "eu, on-prem".into())).unwrap();
        assert_eq!(
            judge(&msg(Some("eu"), Some("pii")), &ctx(), &c),
            Verdict::Allow
        );
    }

    #[test]
    fn foreign_non_public_data_is_denied() {
        let c = Config::default();
        let Verdict::Deny(r) = judge(&msg(Some("us"), Some("pii")), &ctx(), &c) else {
            panic!()
        };
        assert_eq!(
            r,
            "residency: `question` carries `pii` data from region `us`, outside home `in` and allowed [on-prem]"
        );
        // Missing classification is internal, which is not public.
        assert!(
            matches!(judge(&msg(Some("eu"), None), &ctx(), &c), Verdict::Deny(r) if r.contains("`internal`"))
        );
        // Unknown classification is not public either.
        assert!(matches!(
            judge(&msg(Some("eu"), Some("publik")), &ctx(), &c),
            Verdict::Deny(_)
        ));
    }

    #[test]
    fn public_data_may_cross_borders_if_configured() {
        let c = Config::default();
        assert_eq!(
            judge(&msg(Some("us"), Some("Public")), &ctx(), &c),
            Verdict::Allow
        );
        let c = Config {
            allow_cross_border_public: false,
            ..c
        };
        assert!(matches!(
            judge(&msg(Some("us"), Some("public")), &ctx(), &c),
            Verdict::Deny(_)
        ));
    }

    #[test]
    fn missing_region() {
        let c = Config::default();
        assert_eq!(
            judge(&msg(None, Some("secret")), &ctx(), &c),
            Verdict::Allow
        );
        assert_eq!(
            judge(&msg(Some("  "), Some("secret")), &ctx(), &c),
            Verdict::Allow
        );
        let c = Config::load(|k| (k == "missing_region").then(|| "deny".into())).unwrap();
        assert!(
            matches!(judge(&msg(None, None), &ctx(), &c), Verdict::Deny(r) if r.contains("no `region`"))
        );
    }

    #[test]
    fn bad_config_is_named() {
        for (key, value) in [
            ("home_region", " "),
            ("allow_cross_border_public", "1"),
            ("missing_region", "allow"),
        ] {
            let err = Config::load(|k| (k == key).then(|| value.to_owned())).unwrap_err();
            assert!(err.contains(&format!("`{key}`")), "{err}");
        }
    }
}
