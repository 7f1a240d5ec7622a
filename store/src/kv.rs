//! Per-plugin key-value storage with a byte quota.
//!
//! Isolation is structural, not lexical: the namespace is a separate argument that
//! the host fills in from the plugin's identity, never from the key. A key such as
//! `../other` or `other/secret` is just a string inside the caller's own namespace,
//! so no key a plugin can write reaches another plugin's data.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

mod sql;
pub use sql::SqlKv;

/// Longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value accepted, in bytes (1 MiB).
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// The plugin that owns a set of keys. Only the host constructs one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Namespace(String);

impl Namespace {
    pub fn new(plugin_id: impl Into<String>) -> Self {
        Self(plugin_id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    #[error(
        "quota exceeded: namespace `{namespace}` would use {would_use} bytes, quota is {quota}; nothing was written"
    )]
    QuotaExceeded {
        namespace: String,
        would_use: u64,
        quota: u64,
    },
    #[error("invalid key or value: {0}")]
    Invalid(String),
    #[error("store failed: {0}")]
    Failed(String),
}

/// What counts against a quota: key bytes plus value bytes.
pub fn entry_size(key: &str, value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64
}

/// Rejects keys and values the store will not hold, with a reason a plugin author can act on.
pub fn validate(key: &str, value: Option<&[u8]>) -> Result<(), KvError> {
    if key.is_empty() {
        return Err(KvError::Invalid("key is empty".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(KvError::Invalid(format!(
            "key is {} bytes; the limit is {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    if let Some(v) = value
        && v.len() > MAX_VALUE_BYTES
    {
        return Err(KvError::Invalid(format!(
            "value is {} bytes; the limit is {MAX_VALUE_BYTES}",
            v.len()
        )));
    }
    Ok(())
}

/// Key-value storage partitioned by [`Namespace`].
#[async_trait]
pub trait KvStore: Send + Sync {
    async fn get(&self, ns: &Namespace, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    /// Writes `value` unless the namespace would exceed `quota` bytes; then writes nothing.
    async fn set(&self, ns: &Namespace, key: &str, value: &[u8], quota: u64)
    -> Result<(), KvError>;
    async fn delete(&self, ns: &Namespace, key: &str) -> Result<(), KvError>;
    /// Keys starting with `prefix`, in byte order.
    async fn list_keys(&self, ns: &Namespace, prefix: &str) -> Result<Vec<String>, KvError>;
}

/// An in-process store; state lives as long as the value.
#[derive(Debug, Default)]
pub struct MemoryKv {
    spaces: Mutex<HashMap<Namespace, Space>>,
}

#[derive(Debug, Default)]
struct Space {
    used: u64,
    entries: BTreeMap<String, Vec<u8>>,
}

impl MemoryKv {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<Namespace, Space>>, KvError> {
        self.spaces
            .lock()
            .map_err(|_| KvError::Failed("in-memory store poisoned".into()))
    }
}

#[async_trait]
impl KvStore for MemoryKv {
    async fn get(&self, ns: &Namespace, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        validate(key, None)?;
        Ok(self
            .lock()?
            .get(ns)
            .and_then(|s| s.entries.get(key).cloned()))
    }

    async fn set(
        &self,
        ns: &Namespace,
        key: &str,
        value: &[u8],
        quota: u64,
    ) -> Result<(), KvError> {
        validate(key, Some(value))?;
        let mut spaces = self.lock()?;
        let space = spaces.entry(ns.clone()).or_default();
        let old = space.entries.get(key).map_or(0, |v| entry_size(key, v));
        let would_use = space.used - old + entry_size(key, value);
        if would_use > quota {
            return Err(KvError::QuotaExceeded {
                namespace: ns.as_str().to_owned(),
                would_use,
                quota,
            });
        }
        space.used = would_use;
        space.entries.insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    async fn delete(&self, ns: &Namespace, key: &str) -> Result<(), KvError> {
        validate(key, None)?;
        let mut spaces = self.lock()?;
        if let Some(space) = spaces.get_mut(ns)
            && let Some(v) = space.entries.remove(key)
        {
            space.used -= entry_size(key, &v);
        }
        Ok(())
    }

    async fn list_keys(&self, ns: &Namespace, prefix: &str) -> Result<Vec<String>, KvError> {
        let spaces = self.lock()?;
        Ok(spaces
            .get(ns)
            .map(|s| {
                s.entries
                    .range(prefix.to_owned()..)
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn namespaces_are_isolated_whatever_the_key() {
        let kv = MemoryKv::new();
        let a = Namespace::new("a");
        let b = Namespace::new("b");
        kv.set(&a, "secret", b"1", 100).await.unwrap();
        for key in ["secret", "../a/secret", "a/secret", "%", "a\0secret"] {
            assert_eq!(kv.get(&b, key).await.unwrap(), None, "{key:?}");
        }
        assert_eq!(kv.list_keys(&b, "").await.unwrap(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn quota_counts_keys_and_values_and_writes_nothing_on_excess() {
        let kv = MemoryKv::new();
        let ns = Namespace::new("p");
        kv.set(&ns, "k1", &[0; 6], 10).await.unwrap(); // 8 bytes
        let err = kv.set(&ns, "k2", &[0; 1], 10).await.unwrap_err(); // would be 11
        assert!(matches!(
            err,
            KvError::QuotaExceeded {
                would_use: 11,
                quota: 10,
                ..
            }
        ));
        assert_eq!(kv.get(&ns, "k2").await.unwrap(), None);
        // Overwriting reuses the old entry's bytes.
        kv.set(&ns, "k1", &[1; 8], 10).await.unwrap();
        kv.delete(&ns, "k1").await.unwrap();
        kv.set(&ns, "k2", &[0; 8], 10).await.unwrap();
    }

    #[tokio::test]
    async fn prefix_listing_and_limits() {
        let kv = MemoryKv::new();
        let ns = Namespace::new("p");
        for k in ["a/1", "a/2", "b/1"] {
            kv.set(&ns, k, b"x", 1000).await.unwrap();
        }
        assert_eq!(kv.list_keys(&ns, "a/").await.unwrap(), vec!["a/1", "a/2"]);
        assert!(kv.set(&ns, "", b"x", 1000).await.is_err());
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        assert!(matches!(kv.get(&ns, &long).await, Err(KvError::Invalid(_))));
    }
}
