//! Shared by the host's integration tests.
#![allow(dead_code)] // each test crate uses a different subset

use djinn::RuntimeConfig;
use djinn::runtime::Message;

/// A message as the bus would deliver it.
pub fn msg(topic: &str, payload: &str) -> Message {
    Message {
        id: "m1".into(),
        correlation_id: "c1".into(),
        topic: topic.into(),
        sender: "test".into(),
        recipient: None,
        payload: payload.into(),
        metadata: vec![],
    }
}

/// Runtime settings with the compiled-code cache shared by every test run, so
/// each component compiles once per machine rather than once per test.
pub fn runtime_config() -> RuntimeConfig {
    RuntimeConfig {
        cache_dir: Some(std::env::temp_dir().join("djinn-test-cache")),
        ..RuntimeConfig::default()
    }
}
