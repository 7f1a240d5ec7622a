//! Host-side bindings generated from `wit/djinn.wit`.
//!
//! Imports and exports are async so that host capabilities (kv, llm) can await
//! I/O and guest code can yield to tokio (fuel and epoch yielding).

/// The `agent-plugin` world and the shared interfaces.
pub mod agent {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "agent-plugin",
        imports: { default: async },
        exports: { default: async },
        additional_derives: [PartialEq],
    });
}

/// The `policy-plugin` world; shared interfaces come from [`agent`].
pub mod policy {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "policy-plugin",
        imports: { default: async },
        exports: { default: async },
        additional_derives: [PartialEq],
        with: {
            "djinn:plugin/types": super::agent::djinn::plugin::types,
            "djinn:plugin/log": super::agent::djinn::plugin::log,
            "djinn:plugin/config": super::agent::djinn::plugin::config,
        },
    });
}

pub use agent::djinn::plugin::types::{
    AgentInfo, GateContext, Message, PluginError, PolicyInfo, RiskLevel, Stage, Verdict,
};
