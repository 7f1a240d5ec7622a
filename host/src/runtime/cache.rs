//! Compiled-component cache: in memory for this process, on disk across restarts.
//!
//! The key is the SHA-256 of the component bytes plus the engine's compatibility
//! hash (wasmtime version and every codegen-relevant setting), so a changed engine
//! configuration never reuses an incompatible artifact. Files are written to a
//! temporary name and renamed, so a crash never leaves a torn artifact under a
//! valid key.
//!
//! Trust: `Component::deserialize` runs native code produced by Cranelift, so the
//! cache directory must be writable only by the host. Artifacts are only ever
//! produced by this host from components it has validated.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where a component came from on load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheStatus {
    /// Already compiled in this process.
    Memory,
    /// Loaded from the on-disk cache without compiling.
    Disk,
    /// Compiled now (and written to disk when a cache dir is set).
    Compiled,
}

pub(crate) struct ComponentCache {
    dir: Option<PathBuf>,
    engine_hash: String,
    memory: Mutex<HashMap<String, Component>>,
}

/// Feeds `Hash` output into SHA-256, so the key is stable across Rust releases.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl ComponentCache {
    pub(crate) fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        let mut h = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut h);
        let engine_hash = hex::encode(&h.0.finalize()[..8]);
        Self {
            dir,
            engine_hash,
            memory: Mutex::new(HashMap::new()),
        }
    }

    fn path_for(&self, dir: &Path, sha: &str) -> PathBuf {
        dir.join(format!("{sha}-{}.cwasm", self.engine_hash))
    }

    /// The compiled component for `bytes`, compiling off the async workers if needed.
    pub(crate) async fn get_or_compile(
        &self,
        engine: &Engine,
        sha: &str,
        bytes: Arc<[u8]>,
    ) -> Result<(Component, CacheStatus), wasmtime::Error> {
        if let Some(c) = self.memory.lock().ok().and_then(|m| m.get(sha).cloned()) {
            return Ok((c, CacheStatus::Memory));
        }
        let engine = engine.clone();
        let path = self.dir.as_deref().map(|d| self.path_for(d, sha));
        let (component, status) = tokio::task::spawn_blocking(move || {
            if let Some(path) = &path
                && path.exists()
            {
                // SAFETY: the file is an artifact this host serialized with an
                // engine of the same compatibility hash (part of the file name),
                // in a directory only the host writes (see the module docs).
                match unsafe { Component::deserialize_file(&engine, path) } {
                    Ok(c) => return Ok((c, CacheStatus::Disk)),
                    Err(e) => tracing::warn!(
                        path = %path.display(),
                        "cached artifact unusable, recompiling: {e:#}"
                    ),
                }
            }
            let component = Component::new(&engine, &bytes)?;
            if let Some(path) = &path
                && let Err(e) = write_atomically(path, &component.serialize()?)
            {
                tracing::warn!(path = %path.display(), "could not cache compiled component: {e}");
            }
            Ok::<_, wasmtime::Error>((component, CacheStatus::Compiled))
        })
        .await
        .map_err(|e| wasmtime::Error::msg(format!("compile task failed: {e}")))??;
        if let Ok(mut m) = self.memory.lock() {
            m.insert(sha.to_owned(), component.clone());
        }
        Ok((component, status))
    }

    /// Forgets the in-process copy (the disk copy stays).
    pub(crate) fn evict(&self, sha: &str) {
        if let Ok(mut m) = self.memory.lock() {
            m.remove(sha);
        }
    }
}

fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}
