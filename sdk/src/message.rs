//! Conveniences on the generated message and info types.

use crate::{AgentInfo, Message, PluginError, RiskLevel};

/// Helpers for building and reading [`Message`]s.
pub trait MessageExt: Sized {
    /// A new message on `topic` with a JSON text payload.
    fn new(topic: &str, payload: impl Into<String>) -> Self;
    /// A message that carries this one's correlation id and metadata on to `topic`.
    fn reply(&self, topic: &str, payload: impl Into<String>) -> Message;
    /// The same as [`MessageExt::reply`], addressed to one agent.
    fn reply_to(&self, recipient: &str, topic: &str, payload: impl Into<String>) -> Message;
    /// A metadata value.
    fn meta(&self, key: &str) -> Option<&str>;
    /// Sets a metadata value, replacing an earlier one.
    fn with_meta(self, key: &str, value: impl Into<String>) -> Message;
    /// The payload parsed as JSON, or `invalid-input` naming the problem.
    fn json(&self) -> Result<serde_json::Value, PluginError>;
}

impl MessageExt for Message {
    fn new(topic: &str, payload: impl Into<String>) -> Message {
        Message {
            id: String::new(),
            correlation_id: String::new(),
            topic: topic.into(),
            sender: String::new(),
            recipient: None,
            payload: payload.into(),
            metadata: Vec::new(),
        }
    }

    fn reply(&self, topic: &str, payload: impl Into<String>) -> Message {
        Message {
            correlation_id: self.correlation_id.clone(),
            metadata: self.metadata.clone(),
            ..Message::new(topic, payload)
        }
    }

    fn reply_to(&self, recipient: &str, topic: &str, payload: impl Into<String>) -> Message {
        Message {
            recipient: Some(recipient.into()),
            ..self.reply(topic, payload)
        }
    }

    fn meta(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn with_meta(mut self, key: &str, value: impl Into<String>) -> Message {
        self.metadata.retain(|(k, _)| k != key);
        self.metadata.push((key.into(), value.into()));
        self
    }

    fn json(&self) -> Result<serde_json::Value, PluginError> {
        serde_json::from_str(&self.payload).map_err(|e| {
            PluginError::InvalidInput(format!("payload of `{}` is not JSON: {e}", self.topic))
        })
    }
}

/// A builder-style constructor for [`AgentInfo`].
pub trait AgentInfoExt: Sized {
    fn new(id: &str, name: &str) -> Self;
    fn version(self, version: &str) -> AgentInfo;
    fn subscribes<I: IntoIterator<Item = S>, S: Into<String>>(self, topics: I) -> AgentInfo;
    fn capabilities<I: IntoIterator<Item = S>, S: Into<String>>(self, caps: I) -> AgentInfo;
    fn risk(self, risk: RiskLevel) -> AgentInfo;
}

impl AgentInfoExt for AgentInfo {
    fn new(id: &str, name: &str) -> AgentInfo {
        AgentInfo {
            id: id.into(),
            name: name.into(),
            version: "0.1.0".into(),
            capabilities: Vec::new(),
            subscribes: Vec::new(),
            risk: RiskLevel::Low,
        }
    }
    fn version(mut self, version: &str) -> AgentInfo {
        self.version = version.into();
        self
    }
    fn subscribes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, topics: I) -> AgentInfo {
        self.subscribes = topics.into_iter().map(Into::into).collect();
        self
    }
    fn capabilities<I: IntoIterator<Item = S>, S: Into<String>>(mut self, caps: I) -> AgentInfo {
        self.capabilities = caps.into_iter().map(Into::into).collect();
        self
    }
    fn risk(mut self, risk: RiskLevel) -> AgentInfo {
        self.risk = risk;
        self
    }
}
