//! The typed result of one plugin call.

use std::time::Duration;

use serde::Serialize;

use super::bindings::PluginError;

/// Why a call did not produce a result. Each ends that call only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum Fault {
    /// The plugin returned its own error.
    #[error("plugin error: {message}")]
    PluginError {
        kind: PluginErrorKind,
        message: String,
    },
    /// The guest trapped (panic, `unreachable`, stack overflow, bad memory access).
    #[error("trap: {message}")]
    Trap { message: String },
    /// The call used up its fuel budget.
    #[error("out of fuel (budget {budget})")]
    OutOfFuel { budget: u64 },
    /// The call ran past its wall-clock deadline.
    #[error("deadline of {timeout_ms} ms exceeded")]
    Deadline { timeout_ms: u64 },
    /// The guest tried to grow memory past its cap.
    #[error("memory limit of {limit_mib} MiB exceeded (wanted {wanted_bytes} bytes)")]
    MemoryLimit { limit_mib: u64, wanted_bytes: u64 },
    /// The reply was larger than the plugin's output limits allow.
    #[error("output limit: {message}")]
    OutputLimit { message: String },
    /// The host could not run the call (e.g. no free instance slot).
    #[error("host could not run the call: {message}")]
    Host { message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginErrorKind {
    InvalidInput,
    Denied,
    Failed,
}

impl Fault {
    pub(crate) fn from_plugin_error(e: PluginError) -> Self {
        let (kind, message) = match e {
            PluginError::InvalidInput(m) => (PluginErrorKind::InvalidInput, m),
            PluginError::Denied(m) => (PluginErrorKind::Denied, m),
            PluginError::Failed(m) => (PluginErrorKind::Failed, m),
        };
        Fault::PluginError { kind, message }
    }

    /// A short stable name for metrics and audit records.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::PluginError { .. } => "plugin_error",
            Fault::Trap { .. } => "trap",
            Fault::OutOfFuel { .. } => "out_of_fuel",
            Fault::Deadline { .. } => "deadline",
            Fault::MemoryLimit { .. } => "memory_limit",
            Fault::OutputLimit { .. } => "output_limit",
            Fault::Host { .. } => "host",
        }
    }

    /// Whether the guest misbehaved (as opposed to answering with an error of its own).
    pub fn is_sandbox_fault(&self) -> bool {
        !matches!(self, Fault::PluginError { .. })
    }
}

/// One call: its outcome, the fuel it used and how long it took.
#[derive(Debug, Clone)]
pub struct CallReport<T> {
    pub outcome: Result<T, Fault>,
    pub fuel_consumed: u64,
    pub duration: Duration,
}

impl<T> CallReport<T> {
    /// A call the host could not make: no fuel used, no time taken.
    pub fn host_fault(message: String) -> Self {
        Self {
            outcome: Err(Fault::Host { message }),
            fuel_consumed: 0,
            duration: Duration::ZERO,
        }
    }

    /// The outcome's name: `ok` or the fault kind.
    pub fn outcome_kind(&self) -> &'static str {
        match &self.outcome {
            Ok(_) => "ok",
            Err(f) => f.kind(),
        }
    }
}
