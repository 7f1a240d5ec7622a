//! djinn: a host that runs AI agents and governance policies as sandboxed
//! WebAssembly components.
//!
//! Layers, top to bottom (data flows one way): `api` → `bus` → [`runtime`] →
//! [`capabilities`] → store (`djinn-store`) and LLM providers (`djinn-llm`).

pub mod api;
pub mod audit;
pub mod bus;
pub mod capabilities;
pub mod catalog;
pub mod config;
pub mod metrics;
pub mod registry;
pub mod runtime;
pub mod services;
pub mod watch;

pub use runtime::{Plugin, Runtime, RuntimeConfig};
