//! Durable state for djinn.
//!
//! This crate sits at the bottom of the host's layers (api → bus → runtime →
//! capabilities → store) and knows nothing about WebAssembly. Each kind of state is
//! a trait or type with an in-process or SQL implementation.
//!
//! Open the store once with [`Store::open`] (`sqlite://path`, a bare path, or
//! `postgres://…`); migrations run on open. Then:
//! - [`Store::kv`] → [`SqlKv`], the [`KvStore`] for plugin key-value storage;
//! - [`Store::audit`] → [`AuditLog`]: `append`, `append_batch`, `batcher` (group commit),
//!   `verify`, `tail`, `query`;
//! - [`Store::registry`] → [`Registry`]: `upsert`, `set_state`, `remove`, `get`, `list`;
//! - [`Store::usage`] → [`UsageLedger`]: `add_usage`, `usage`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), djinn_store::StoreError> {
//! use djinn_store::{AuditKind, NewAuditRecord, Store};
//! let store = Store::open("sqlite:///var/lib/djinn/djinn.db").await?;
//! store
//!     .audit()
//!     .append(NewAuditRecord::new(AuditKind::Question, "api", serde_json::json!({"q": "hi"}))
//!         .correlation("c-1"))
//!     .await?;
//! assert!(store.audit().verify().await?.is_intact());
//! # Ok(()) }
//! ```

pub mod audit;
pub mod kv;
pub mod registry;
pub mod store;
pub mod usage;

pub use audit::{
    AuditBatcher, AuditKind, AuditLog, AuditQuery, AuditRecord, ChainBreak, GENESIS_HASH,
    NewAuditRecord, VerifyReport,
};
pub use kv::{KvError, KvStore, MemoryKv, Namespace, SqlKv};
pub use registry::{PluginRecord, PluginState, PluginSummary, PluginUpload, Registry, Upserted};
pub use store::{Backend, Store, StoreError, StoreOptions};
pub use usage::{Usage, UsageLedger, utc_today};

/// Re-exported so callers name days and times with the same types.
pub use chrono;
