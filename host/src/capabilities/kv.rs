//! `kv`: the plugin's own namespace in the host's key-value store.
//!
//! The namespace is the plugin id, taken from the loaded manifest, never from the
//! key, so no key string can reach another plugin's data. The quota comes from the
//! manifest's `[grants.kv] max_bytes` and is enforced by the store atomically with
//! the write.

use djinn_store::{KvError as StoreError, Namespace};

use crate::runtime::bindings::agent::djinn::plugin::kv::{Host, KvError};
use crate::runtime::state::HostState;

impl HostState {
    fn kv_scope(&self) -> Result<(Namespace, u64), KvError> {
        match &self.plugin.manifest.grants.kv {
            Some(grant) => Ok((Namespace::new(self.plugin.id()), grant.max_bytes)),
            // Unreachable through linking (kv is only linked when granted); kept as
            // a second check rather than trusted.
            None => Err(KvError::Failed("kv is not granted to this plugin".into())),
        }
    }
}

fn convert(e: StoreError) -> KvError {
    match e {
        StoreError::QuotaExceeded { .. } => KvError::QuotaExceeded(e.to_string()),
        StoreError::Invalid(m) => KvError::Invalid(m),
        StoreError::Failed(m) => KvError::Failed(m),
    }
}

impl Host for HostState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, KvError> {
        let (ns, _) = self.kv_scope()?;
        self.plugin
            .services
            .kv
            .get(&ns, &key)
            .await
            .map_err(convert)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), KvError> {
        let (ns, quota) = self.kv_scope()?;
        self.plugin
            .services
            .kv
            .set(&ns, &key, &value, quota)
            .await
            .map_err(convert)
    }

    async fn delete(&mut self, key: String) -> Result<(), KvError> {
        let (ns, _) = self.kv_scope()?;
        self.plugin
            .services
            .kv
            .delete(&ns, &key)
            .await
            .map_err(convert)
    }

    async fn list_keys(&mut self, prefix: String) -> Result<Vec<String>, KvError> {
        let (ns, _) = self.kv_scope()?;
        self.plugin
            .services
            .kv
            .list_keys(&ns, &prefix)
            .await
            .map_err(convert)
    }
}
