//! Where the host reports what it decided: policy verdicts, sandbox faults, LLM
//! denials, plugin changes. The layers that decide (bus, runtime, capabilities)
//! only emit [`AuditEvent`]s into an [`AuditSink`]; the store's hash-chained log
//! is one sink, an in-memory list (for tests and `djinn ask`) another.
//!
//! `record` never blocks and never fails the caller: auditing must not turn a
//! working request into a failed one. A sink that cannot persist reports that
//! in its own logs and metrics.

use std::sync::Mutex;

pub use djinn_store::AuditKind;

/// One thing that happened, as the deciding layer saw it: the store's record
/// before it is given a sequence number, time and hash. (`actor` is who acted:
/// `host`, `bus`, a plugin id, an API principal.)
pub use djinn_store::NewAuditRecord as AuditEvent;

/// A destination for audit events.
pub trait AuditSink: Send + Sync {
    fn record(&self, event: AuditEvent);

    /// Waits until everything recorded before this call is stored. A sink that
    /// stores synchronously (the default) has nothing to wait for.
    fn flush(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async {})
    }
}

/// Discards everything (for benchmarks of the layers above).
#[derive(Debug, Default)]
pub struct NullAudit;

impl AuditSink for NullAudit {
    fn record(&self, _event: AuditEvent) {}
}

/// Keeps events in memory, in order.
#[derive(Debug, Default)]
pub struct MemoryAudit {
    events: Mutex<Vec<AuditEvent>>,
}

impl MemoryAudit {
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of everything recorded so far.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl AuditSink for MemoryAudit {
    fn record(&self, event: AuditEvent) {
        if let Ok(mut e) = self.events.lock() {
            e.push(event);
        }
    }
}
