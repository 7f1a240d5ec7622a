//! Durable state for djinn.
//!
//! This crate sits at the bottom of the host's layers (api → bus → runtime →
//! capabilities → store) and knows nothing about WebAssembly. Each kind of state is
//! a trait with an in-process implementation that tests and `djinn run` use.

pub mod kv;

pub use kv::{KvError, KvStore, MemoryKv, Namespace};
