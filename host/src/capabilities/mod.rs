//! Host capabilities: one module per `djinn:plugin` interface a plugin can import.
//!
//! Each module holds that interface's `Host` implementation. Linking is decided once
//! per plugin by [`crate::runtime::grants::plan`]; a capability that is not granted
//! is never added to that plugin's linker, so its functions do not exist for it.
//! The grant is nevertheless checked again on the first line of each call that
//! depends on it (the model list, the token cap, the kv quota), because a linked
//! capability is not an unlimited one.

pub mod config;
pub mod kv;
pub mod llm;
pub mod log;

use std::sync::Arc;

use djinn_llm::{MockProvider, Provider};
use djinn_store::{KvStore, MemoryKv};
use wasmtime::component::{HasSelf, Linker};

use crate::audit::{AuditSink, NullAudit};
use crate::metrics::HostMetrics;
use crate::runtime::bindings::agent::djinn::plugin as wit;
use crate::runtime::grants::LinkPlan;
use crate::runtime::state::HostState;

/// The host services behind the capabilities, shared by every plugin.
#[derive(Clone)]
pub struct Services {
    pub kv: Arc<dyn KvStore>,
    pub llm: Arc<dyn Provider>,
    /// Where denials and faults are reported.
    pub audit: Arc<dyn AuditSink>,
    /// Counters for `/metrics`.
    pub metrics: Arc<HostMetrics>,
}

impl Default for Services {
    /// In-memory kv, the deterministic mock LLM and no audit trail: everything
    /// runs offline.
    fn default() -> Self {
        Self {
            kv: Arc::new(MemoryKv::new()),
            llm: Arc::new(MockProvider::default()),
            audit: Arc::new(NullAudit),
            metrics: Arc::new(HostMetrics::new()),
        }
    }
}

impl wit::types::Host for HostState {}

/// Adds the baseline and the granted capabilities to a plugin's linker.
pub(crate) fn link(linker: &mut Linker<HostState>, plan: &LinkPlan) -> wasmtime::Result<()> {
    wit::types::add_to_linker::<_, HasSelf<HostState>>(linker, |s| s)?;
    wit::log::add_to_linker::<_, HasSelf<HostState>>(linker, |s| s)?;
    wit::config::add_to_linker::<_, HasSelf<HostState>>(linker, |s| s)?;
    if plan.llm {
        wit::llm::add_to_linker::<_, HasSelf<HostState>>(linker, |s| s)?;
    }
    if plan.kv {
        wit::kv::add_to_linker::<_, HasSelf<HostState>>(linker, |s| s)?;
    }
    if plan.wasi {
        wasmtime_wasi::p2::add_to_linker_async(linker)?;
    }
    Ok(())
}
