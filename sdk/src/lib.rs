//! Write djinn agents and policies in Rust.
//!
//! ```ignore
//! use djinn_sdk::{Agent, AgentInfo, Message, PluginError};
//!
//! struct Echo;
//!
//! impl Agent for Echo {
//!     fn info() -> AgentInfo {
//!         AgentInfo::new("echo", "Echo").subscribes(["echo"])
//!     }
//!     fn handle(msg: Message) -> Result<Vec<Message>, PluginError> {
//!         Ok(vec![msg.reply("echo.reply", msg.payload.clone())])
//!     }
//! }
//!
//! djinn_sdk::export_agent!(Echo);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the component lands
//! in `target/wasm32-wasip2/release/<crate>.wasm`. The component imports only the
//! host capabilities your code calls, and the host loads it only if its manifest
//! (`djinn.toml`) grants each of them.
//!
//! On the native target this crate also has [`harness`], which runs a built
//! component in the real host runtime from a `#[test]`.

#[doc(hidden)]
pub use wit_bindgen;

/// Re-exported so plugins can build JSON payloads without another dependency.
pub use serde_json;

/// The generated bindings for the host's imports and the shared types.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "djinn:plugin/imports",
        additional_derives: [PartialEq],
    });
}

mod message;
pub use message::{AgentInfoExt, MessageExt};

pub use bindings::djinn::plugin::types::{
    AgentInfo, GateContext, Message, PluginError, PolicyInfo, RiskLevel, Stage, Verdict,
};

include!(concat!(env!("OUT_DIR"), "/export_macros.rs"));

#[cfg(all(feature = "harness", not(target_arch = "wasm32")))]
pub mod harness;
pub mod json;

/// An agent: handles messages on the topics it subscribes to.
pub trait Agent {
    /// Who this agent is. The `id` must equal the `id` in its manifest.
    fn info() -> AgentInfo;
    /// Handle one message. The returned messages are routed on by the bus; the host
    /// fills in their `id`, `sender` and `correlation_id`.
    fn handle(msg: Message) -> Result<Vec<Message>, PluginError>;
}

/// A governance policy: judges every message that crosses the bus.
pub trait Policy {
    fn info() -> PolicyInfo;
    fn evaluate(msg: Message, ctx: GateContext) -> Verdict;
}

/// Logging into the host's tracing, tagged with this plugin's id.
pub mod log {
    pub use crate::bindings::djinn::plugin::log::Level;
    use crate::bindings::djinn::plugin::log::log;

    pub fn trace(msg: &str) {
        log(Level::Trace, msg)
    }
    pub fn debug(msg: &str) {
        log(Level::Debug, msg)
    }
    pub fn info(msg: &str) {
        log(Level::Info, msg)
    }
    pub fn warn(msg: &str) {
        log(Level::Warn, msg)
    }
    pub fn error(msg: &str) {
        log(Level::Error, msg)
    }
}

/// This plugin's configuration values (the manifest's `[config]` table).
pub mod config {
    pub use crate::bindings::djinn::plugin::config::get;
}

/// Key-value storage in this plugin's own namespace.
pub mod kv {
    pub use crate::bindings::djinn::plugin::kv::{KvError, delete, get, list_keys, set};
}

/// Chat completions through the host.
pub mod llm {
    pub use crate::bindings::djinn::plugin::llm::{
        ChatMessage, LlmError, Request, Response, complete,
    };

    /// One user prompt to the manifest's default model; returns the text.
    pub fn ask(prompt: &str) -> Result<String, LlmError> {
        complete(&Request {
            model: None,
            messages: vec![ChatMessage {
                role: "user".into(),
                content: prompt.into(),
            }],
            temperature: None,
            max_tokens: None,
        })
        .map(|r| r.text)
    }
}
