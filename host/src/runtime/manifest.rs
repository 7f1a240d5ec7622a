//! Plugin manifests (`djinn.toml`): what a plugin is, what it may use, and its limits.
//!
//! Parsing is strict (`deny_unknown_fields`): a misspelt grant must be an error,
//! never a silently missing permission or a silently ignored limit.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A plugin's id: 1–64 characters of `a-z`, `0-9`, `-` and `_`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PluginId(String);

impl PluginId {
    pub fn new(id: impl Into<String>) -> Result<Self, ManifestError> {
        let id = id.into();
        let ok = (1..=64).contains(&id.len())
            && id.starts_with(|c: char| c.is_ascii_lowercase())
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if ok {
            Ok(Self(id))
        } else {
            Err(ManifestError::Invalid(format!(
                "id `{id}` must be 1-64 characters of a-z, 0-9, '-' or '_', starting with a letter"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PluginId {
    type Error = ManifestError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<PluginId> for String {
    fn from(id: PluginId) -> String {
        id.0
    }
}

impl fmt::Display for PluginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a plugin is an agent (handles messages) or a policy (judges them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    Agent,
    Policy,
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PluginKind::Agent => "agent",
            PluginKind::Policy => "policy",
        })
    }
}

/// The parsed `djinn.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub id: PluginId,
    pub kind: PluginKind,
    /// Free text for operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub grants: Grants,
    #[serde(default)]
    pub limits: Limits,
    /// Values the plugin reads with `config.get`; numbers and booleans are given as their text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, ConfigValue>,
    /// Policies only: which messages the gate asks this policy about (`[[scope]]`
    /// tables, any one of which may match). Empty: every message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<ScopeRule>,
}

/// One `[[scope]]` table of a policy: a message matches when every key given here
/// matches (a key left out matches anything). The gate does not call a policy on a
/// message no rule matches; the message passes it, and the audit record of the
/// gate lists the policy under `out_of_scope`.
///
/// Why the host filters: a policy that only cares about one topic or stage would
/// otherwise be called on every message to answer "allow", and those calls were
/// half of a question's policy calls (docs/performance.md). Kubernetes admission
/// webhooks are scoped the same way (`rules` in the webhook configuration).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeRule {
    /// `inbound`, `hop`, `outbound`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<String>>,
    /// Exact topic names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topics: Option<Vec<String>>,
    /// `low`, `medium`, `high`: the risk the recipient agent declares. Only a hop
    /// to an agent has a recipient; other messages never match a rule with this key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_risk: Option<Vec<String>>,
}

impl ScopeRule {
    /// Whether a message at `stage` (its name) on `topic` to a recipient of
    /// `risk` (its name, if there is a recipient) matches this rule.
    pub fn matches(&self, stage: &str, topic: &str, risk: Option<&str>) -> bool {
        let has = |list: &Option<Vec<String>>, v: &str| {
            list.as_ref().is_none_or(|l| l.iter().any(|x| x == v))
        };
        has(&self.stages, stage)
            && has(&self.topics, topic)
            && match (&self.recipient_risk, risk) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(l), Some(r)) => l.iter().any(|x| x == r),
            }
    }
}

/// A config value as written in TOML; the plugin always sees text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConfigValue {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl fmt::Display for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::String(s) => f.write_str(s),
            ConfigValue::Integer(i) => write!(f, "{i}"),
            ConfigValue::Float(x) => write!(f, "{x}"),
            ConfigValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// Capabilities beyond the baseline (`log`, `config`), each denied unless present.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmGrant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv: Option<KvGrant>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmGrant {
    /// Model names or patterns with `*` (e.g. `gpt-4o*`). The first entry without
    /// a `*` is the default when a request names no model.
    pub models: Vec<String>,
    /// The most tokens one call may ask for (`max-tokens`); also the default.
    #[serde(default = "default_max_tokens_per_call")]
    pub max_tokens_per_call: u32,
    /// Input plus output tokens per UTC day; `None` leaves only the host's limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_token_budget: Option<u64>,
}

fn default_max_tokens_per_call() -> u32 {
    1024
}

impl LlmGrant {
    /// Whether `model` matches one of the granted names or patterns.
    pub fn allows(&self, model: &str) -> bool {
        self.models.iter().any(|p| glob_match(p, model))
    }

    /// The model used when a request names none.
    pub fn default_model(&self) -> Option<&str> {
        self.models
            .iter()
            .find(|m| !m.contains('*'))
            .map(String::as_str)
    }
}

/// `*` matches any run of characters; everything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvGrant {
    /// Bytes of keys plus values the plugin's namespace may hold.
    pub max_bytes: u64,
}

/// Per-call limits. Unset values take the host's defaults; every value must stay
/// within the host's ceilings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Fuel (roughly, wasm instructions) per call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Wall-clock deadline per call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Linear memory cap per instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    /// Total bytes of payload and metadata one reply may carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<u64>,
    /// Messages one reply may carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_messages: Option<u32>,
    /// Idle pre-instantiated instances kept between calls; 0 (the default) gives
    /// every call a fresh instance. A pooled instance keeps its guest memory from
    /// one call (and so one question) to the next: see `runtime::pool`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<u32>,
}

/// Limits with every value filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveLimits {
    pub fuel: u64,
    pub timeout_ms: u64,
    pub memory_mib: u64,
    pub max_output_bytes: u64,
    pub max_messages: u32,
    /// Idle instances kept for reuse (0 = a fresh instance per call). Omitted in a
    /// host config table it is 0, so a `ceilings` table written without it
    /// disables pooling: reuse is an opt-in the operator must allow explicitly.
    #[serde(default)]
    pub pool: u32,
}

impl EffectiveLimits {
    /// Fills `limits` from `defaults` and checks each value against `ceilings`.
    pub fn resolve(
        limits: &Limits,
        defaults: &EffectiveLimits,
        ceilings: &EffectiveLimits,
    ) -> Result<Self, ManifestError> {
        fn pick<T: PartialOrd + Copy + Default + fmt::Display>(
            name: &str,
            value: Option<T>,
            default: T,
            ceiling: T,
        ) -> Result<T, ManifestError> {
            let v = value.unwrap_or(default);
            if v <= T::default() {
                return Err(ManifestError::Invalid(format!(
                    "limits.{name} must be greater than 0"
                )));
            }
            if v > ceiling {
                return Err(ManifestError::Invalid(format!(
                    "limits.{name} = {v} exceeds the host ceiling of {ceiling}"
                )));
            }
            Ok(v)
        }
        Ok(Self {
            fuel: pick("fuel", limits.fuel, defaults.fuel, ceilings.fuel)?,
            timeout_ms: pick(
                "timeout_ms",
                limits.timeout_ms,
                defaults.timeout_ms,
                ceilings.timeout_ms,
            )?,
            memory_mib: pick(
                "memory_mib",
                limits.memory_mib,
                defaults.memory_mib,
                ceilings.memory_mib,
            )?,
            max_output_bytes: pick(
                "max_output_bytes",
                limits.max_output_bytes,
                defaults.max_output_bytes,
                ceilings.max_output_bytes,
            )?,
            max_messages: pick(
                "max_messages",
                limits.max_messages,
                defaults.max_messages,
                ceilings.max_messages,
            )?,
            pool: {
                // Unlike the others, 0 is meaningful here: no pool.
                let v = limits.pool.unwrap_or(defaults.pool);
                if v > ceilings.pool {
                    return Err(ManifestError::Invalid(format!(
                        "limits.pool = {v} exceeds the host ceiling of {}",
                        ceilings.pool
                    )));
                }
                v
            },
        })
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid TOML for djinn: {0}")]
    Parse(String),
    #[error("manifest is invalid: {0}")]
    Invalid(String),
}

impl Manifest {
    /// Parses and checks a manifest; see [`Manifest::validate`].
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|e| ManifestError::Parse(e.to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Checks what serde cannot: grants that fit the kind, sane values.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let id = &self.id;
        if self.kind == PluginKind::Policy {
            for (name, granted) in [
                ("llm", self.grants.llm.is_some()),
                ("kv", self.grants.kv.is_some()),
            ] {
                if granted {
                    return Err(ManifestError::Invalid(format!(
                        "plugin `{id}` is a policy; policies cannot be granted `{name}` \
                         (the policy world imports only log and config)"
                    )));
                }
            }
        }
        if let Some(llm) = &self.grants.llm {
            if llm.models.is_empty() || llm.models.iter().any(|m| m.trim().is_empty()) {
                return Err(ManifestError::Invalid(format!(
                    "plugin `{id}`: grants.llm.models must list at least one model name or pattern"
                )));
            }
            if llm.max_tokens_per_call == 0 {
                return Err(ManifestError::Invalid(format!(
                    "plugin `{id}`: grants.llm.max_tokens_per_call must be greater than 0"
                )));
            }
            if llm.daily_token_budget == Some(0) {
                return Err(ManifestError::Invalid(format!(
                    "plugin `{id}`: grants.llm.daily_token_budget must be greater than 0 \
                     (remove [grants.llm] to deny the capability)"
                )));
            }
        }
        if !self.scope.is_empty() && self.kind != PluginKind::Policy {
            return Err(ManifestError::Invalid(format!(
                "plugin `{id}` is an agent; [[scope]] is for policies (an agent's \
                 messages are chosen by its subscriptions)"
            )));
        }
        for (i, rule) in self.scope.iter().enumerate() {
            let n = i + 1;
            for (key, list, allowed) in [
                (
                    "stages",
                    &rule.stages,
                    Some(&["inbound", "hop", "outbound"][..]),
                ),
                ("topics", &rule.topics, None),
                (
                    "recipient_risk",
                    &rule.recipient_risk,
                    Some(&["low", "medium", "high"][..]),
                ),
            ] {
                let Some(list) = list else { continue };
                if list.is_empty() {
                    return Err(ManifestError::Invalid(format!(
                        "plugin `{id}`: scope rule {n} has an empty `{key}`, which matches \
                         nothing; leave the key out to match any"
                    )));
                }
                for v in list {
                    let known = allowed.is_none_or(|a| a.contains(&v.as_str()));
                    if v.trim().is_empty() || !known {
                        let expected = allowed.map_or("a topic name".to_owned(), |a| a.join(", "));
                        return Err(ManifestError::Invalid(format!(
                            "plugin `{id}`: scope rule {n} names `{v}` in `{key}`; expected {expected}"
                        )));
                    }
                }
            }
        }
        if let Some(kv) = &self.grants.kv
            && kv.max_bytes == 0
        {
            return Err(ManifestError::Invalid(format!(
                "plugin `{id}`: grants.kv.max_bytes must be greater than 0 \
                 (remove [grants.kv] to deny the capability)"
            )));
        }
        Ok(())
    }

    /// Whether the gate asks this policy about a message at `stage` on `topic` to a
    /// recipient of `risk` (names as in [`ScopeRule::matches`]).
    pub fn in_scope(&self, stage: &str, topic: &str, risk: Option<&str>) -> bool {
        self.scope.is_empty() || self.scope.iter().any(|r| r.matches(stage, topic, risk))
    }

    /// The names of the capabilities this manifest grants beyond the baseline.
    pub fn granted(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.grants.llm.is_some() {
            out.push("llm");
        }
        if self.grants.kv.is_some() {
            out.push("kv");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_design_example() {
        let m = Manifest::parse(
            r#"
            id = "forecaster"
            kind = "agent"
            [grants.llm]
            models = ["mock", "gpt-4o-mini"]
            max_tokens_per_call = 1024
            daily_token_budget = 200000
            [grants.kv]
            max_bytes = 1_048_576
            [limits]
            fuel = 200_000_000
            timeout_ms = 2000
            memory_mib = 64
            [config]
            currency = "INR"
            horizon = 3
            "#,
        )
        .unwrap();
        assert_eq!(m.id.as_str(), "forecaster");
        assert_eq!(m.granted(), vec!["llm", "kv"]);
        assert_eq!(m.config["horizon"].to_string(), "3");
        assert_eq!(m.grants.llm.unwrap().default_model(), Some("mock"));
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        for (text, needle) in [
            ("id = \"a\"\nkind = \"agent\"\nfule = 1", "fule"),
            (
                "id = \"a\"\nkind = \"agent\"\n[limits]\nfuel_units = 1",
                "fuel_units",
            ),
            (
                "id = \"a\"\nkind = \"agent\"\n[grants.http]\nhosts = []",
                "http",
            ),
        ] {
            let err = Manifest::parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn scope_rules_match_any_rule_and_every_key_in_it() {
        let m = Manifest::parse(
            r#"
            id = "p"
            kind = "policy"
            [[scope]]
            stages = ["inbound"]
            [[scope]]
            stages = ["hop"]
            recipient_risk = ["high"]
            [[scope]]
            topics = ["recommendations.result"]
            "#,
        )
        .unwrap();
        assert!(m.in_scope("inbound", "question", None));
        assert!(m.in_scope("hop", "x", Some("high")));
        assert!(!m.in_scope("hop", "x", Some("medium")));
        // A rule naming a risk never matches a message without a recipient.
        assert!(!m.in_scope("hop", "x", None));
        assert!(m.in_scope("outbound", "recommendations.result", None));
        assert!(!m.in_scope("outbound", "answer", None));
        // No rules: every message.
        let all = Manifest::parse("id = \"p\"\nkind = \"policy\"").unwrap();
        assert!(all.in_scope("hop", "anything", None));
    }

    #[test]
    fn bad_scopes_are_errors_naming_the_problem() {
        for (rule, needle) in [
            ("stages = []", "empty `stages`"),
            (
                "stages = [\"inbund\"]",
                "`inbund` in `stages`; expected inbound, hop, outbound",
            ),
            (
                "recipient_risk = [\"severe\"]",
                "`severe` in `recipient_risk`",
            ),
            ("topics = [\" \"]", "in `topics`; expected a topic name"),
            ("topic = [\"a\"]", "unknown field `topic`"),
        ] {
            let text = format!("id = \"p\"\nkind = \"policy\"\n[[scope]]\n{rule}");
            let err = Manifest::parse(&text).unwrap_err().to_string();
            assert!(err.contains(needle), "{rule}: {err}");
        }
        let err = Manifest::parse("id = \"a\"\nkind = \"agent\"\n[[scope]]\ntopics = [\"x\"]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("[[scope]] is for policies"), "{err}");
    }

    #[test]
    fn bad_values_are_errors() {
        for (text, needle) in [
            ("id = \"A b\"\nkind = \"agent\"", "must be 1-64"),
            ("id = \"a\"\nkind = \"robot\"", "unknown variant"),
            (
                "id = \"a\"\nkind = \"policy\"\n[grants.kv]\nmax_bytes = 10",
                "policies cannot",
            ),
            (
                "id = \"a\"\nkind = \"agent\"\n[grants.llm]\nmodels = []",
                "at least one model",
            ),
            (
                "id = \"a\"\nkind = \"agent\"\n[grants.kv]\nmax_bytes = 0",
                "max_bytes",
            ),
            ("id = \"a\"\nkind = \"agent\"\n[limits]\nfuel = -5", "fuel"),
        ] {
            let err = Manifest::parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn limits_take_defaults_and_respect_ceilings() {
        let defaults = EffectiveLimits {
            fuel: 100,
            timeout_ms: 1000,
            memory_mib: 32,
            max_output_bytes: 1000,
            max_messages: 8,
            pool: 0,
        };
        let ceilings = EffectiveLimits {
            fuel: 1000,
            ..defaults
        };
        let l = Limits {
            fuel: Some(500),
            ..Default::default()
        };
        let e = EffectiveLimits::resolve(&l, &defaults, &ceilings).unwrap();
        assert_eq!((e.fuel, e.memory_mib), (500, 32));
        let too_much = Limits {
            memory_mib: Some(64),
            ..Default::default()
        };
        let err = EffectiveLimits::resolve(&too_much, &defaults, &ceilings).unwrap_err();
        assert!(
            err.to_string()
                .contains("memory_mib = 64 exceeds the host ceiling of 32")
        );
        let zero = Limits {
            timeout_ms: Some(0),
            ..Default::default()
        };
        assert!(EffectiveLimits::resolve(&zero, &defaults, &ceilings).is_err());
    }

    #[test]
    fn pool_defaults_to_fresh_instances_and_respects_its_ceiling() {
        let defaults = crate::runtime::RuntimeConfig::default().defaults;
        let ceilings = EffectiveLimits {
            pool: 4,
            ..defaults
        };
        let parsed = |text: &str| Manifest::parse(text).unwrap().limits;

        let unset = parsed("id = \"a\"\nkind = \"agent\"");
        assert_eq!(unset.pool, None);
        let e = EffectiveLimits::resolve(&unset, &defaults, &ceilings).unwrap();
        assert_eq!(e.pool, 0, "no pool unless the manifest asks for one");

        let four = parsed("id = \"a\"\nkind = \"agent\"\n[limits]\npool = 4");
        assert_eq!(
            EffectiveLimits::resolve(&four, &defaults, &ceilings)
                .unwrap()
                .pool,
            4
        );
        // 0 is a valid explicit choice, not "must be greater than 0".
        let zero = parsed("id = \"a\"\nkind = \"agent\"\n[limits]\npool = 0");
        assert_eq!(
            EffectiveLimits::resolve(&zero, &defaults, &ceilings)
                .unwrap()
                .pool,
            0
        );

        let five = parsed("id = \"a\"\nkind = \"agent\"\n[limits]\npool = 5");
        let err = EffectiveLimits::resolve(&five, &defaults, &ceilings).unwrap_err();
        assert!(
            err.to_string()
                .contains("limits.pool = 5 exceeds the host ceiling of 4"),
            "{err}"
        );
        for (text, needle) in [
            ("[limits]\npool = -1", "pool"),
            ("[limits]\npooled = 2", "pooled"),
        ] {
            let err = Manifest::parse(&format!("id = \"a\"\nkind = \"agent\"\n{text}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn a_host_limits_table_without_pool_means_no_pooling() {
        let t: EffectiveLimits = toml::from_str(
            "fuel = 1\ntimeout_ms = 1\nmemory_mib = 1\nmax_output_bytes = 1\nmax_messages = 1",
        )
        .unwrap();
        assert_eq!(t.pool, 0);
    }

    #[test]
    fn glob_patterns() {
        assert!(glob_match("gpt-*", "gpt-4o"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("claude-*-sonnet", "claude-3-5-sonnet"));
        assert!(!glob_match("claude-*-sonnet", "claude-3-opus"));
        assert!(!glob_match("mock", "mock2"));
        assert!(!glob_match("gpt-*", "xgpt-4"));
        assert!(!glob_match("a*a", "a"));
    }
}
