//! `djinn serve --watch DIR`: hot-loads plugin folders from a directory.
//!
//! Each subfolder of `DIR` that holds a `djinn.toml` and exactly one `.wasm` file
//! is a plugin. A new folder is installed, a changed one replaces its plugin, a
//! removed one removes it; every change goes through [`Catalog`] like an upload
//! (checked off the request path, swapped atomically, persisted, audited), so a
//! bad version is rejected and the old one keeps serving.
//!
//! Why polling: it works the same on every filesystem (bind mounts, network
//! shares, container volumes, where change notification is unreliable), and a
//! directory of a few plugin folders costs microseconds to hash. A folder is
//! applied only once its files read the same on two scans in a row, so a
//! component still being copied is never loaded half-written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::catalog::Catalog;
use crate::runtime::Manifest;

/// What one scan did to one folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    Installed {
        id: String,
    },
    Replaced {
        id: String,
    },
    Removed {
        id: String,
    },
    /// The folder's plugin was refused; whatever served before still does.
    Rejected {
        folder: PathBuf,
        reason: String,
    },
}

struct Folder {
    manifest: String,
    wasm: Vec<u8>,
    digest: String,
}

/// Polls one directory and applies its changes to the catalog.
pub struct Watcher {
    catalog: Arc<Catalog>,
    dir: PathBuf,
    actor: String,
    /// Folder → digest seen on the previous scan (not yet applied if it differs
    /// from `applied`).
    last_seen: HashMap<PathBuf, String>,
    /// Folder → (plugin id, digest) currently applied.
    applied: HashMap<PathBuf, (String, String)>,
    /// Folder → digest last rejected, so a bad version is reported once.
    rejected: HashMap<PathBuf, String>,
}

impl Watcher {
    pub fn new(catalog: Arc<Catalog>, dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            actor: format!("watch:{}", dir.display()),
            catalog,
            dir,
            last_seen: HashMap::new(),
            applied: HashMap::new(),
            rejected: HashMap::new(),
        }
    }

    /// Scans every `interval` until the task is dropped, logging each change.
    pub async fn run(mut self, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for ev in self.scan().await {
                match ev {
                    WatchEvent::Rejected { folder, reason } => {
                        tracing::warn!(folder = %folder.display(), %reason, "watched plugin rejected");
                    }
                    ok => tracing::info!(event = ?ok, "watched plugin applied"),
                }
            }
        }
    }

    /// One scan: applies every folder that is stable since the previous scan.
    pub async fn scan(&mut self) -> Vec<WatchEvent> {
        let mut events = Vec::new();
        let mut present = HashMap::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) => {
                let reason = format!("cannot read the watched directory: {e}");
                if self
                    .rejected
                    .insert(self.dir.clone(), reason.clone())
                    .as_ref()
                    != Some(&reason)
                {
                    events.push(WatchEvent::Rejected {
                        folder: self.dir.clone(),
                        reason,
                    });
                }
                return events;
            }
        };
        self.rejected.remove(&self.dir);
        let mut folders: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("djinn.toml").is_file())
            .collect();
        folders.sort();
        for path in folders {
            let folder = match read_folder(&path) {
                Ok(f) => f,
                Err(reason) => {
                    self.reject_once(&path, "unreadable".into(), reason, &mut events);
                    continue;
                }
            };
            present.insert(path.clone(), folder.digest.clone());
            let stable = self.last_seen.get(&path) == Some(&folder.digest);
            let applied = self.applied.get(&path).map(|(_, d)| d) == Some(&folder.digest);
            if stable && !applied && self.rejected.get(&path) != Some(&folder.digest) {
                self.apply(&path, folder, &mut events).await;
            }
        }
        let gone: Vec<PathBuf> = self
            .applied
            .keys()
            .filter(|p| !present.contains_key(*p))
            .cloned()
            .collect();
        for path in gone {
            if let Some((id, _)) = self.applied.remove(&path) {
                match self.catalog.remove(&id, &self.actor).await {
                    Ok(()) => events.push(WatchEvent::Removed { id }),
                    Err(e) => events.push(WatchEvent::Rejected {
                        folder: path,
                        reason: format!("removing `{id}`: {e}"),
                    }),
                }
            }
        }
        self.rejected.retain(|p, _| present.contains_key(p));
        self.last_seen = present;
        events
    }

    async fn apply(&mut self, path: &Path, folder: Folder, events: &mut Vec<WatchEvent>) {
        let id = match Manifest::parse(&folder.manifest) {
            Ok(m) => m.id.to_string(),
            Err(e) => return self.reject_once(path, folder.digest, e.to_string(), events),
        };
        let exists = match self.catalog.registry().get(&id).await {
            Ok(r) => r.is_some(),
            Err(e) => {
                self.reject_once(path, folder.digest, format!("registry: {e}"), events);
                return;
            }
        };
        let replace = exists.then_some(id.as_str());
        match self
            .catalog
            .install(&folder.wasm, &folder.manifest, replace, &self.actor)
            .await
        {
            Ok(_) => {
                self.rejected.remove(path);
                let before = self
                    .applied
                    .insert(path.to_owned(), (id.clone(), folder.digest));
                events.push(if exists {
                    WatchEvent::Replaced { id: id.clone() }
                } else {
                    WatchEvent::Installed { id: id.clone() }
                });
                // The folder now holds another plugin: the one it held goes.
                if let Some((old, _)) = before
                    && old != id
                {
                    match self.catalog.remove(&old, &self.actor).await {
                        Ok(()) => events.push(WatchEvent::Removed { id: old }),
                        Err(e) => events.push(WatchEvent::Rejected {
                            folder: path.to_owned(),
                            reason: format!("removing `{old}`: {e}"),
                        }),
                    }
                }
            }
            Err(e) => self.reject_once(path, folder.digest, e.to_string(), events),
        }
    }

    fn reject_once(
        &mut self,
        path: &Path,
        digest: String,
        reason: String,
        events: &mut Vec<WatchEvent>,
    ) {
        if self
            .rejected
            .insert(path.to_owned(), digest.clone())
            .as_ref()
            != Some(&digest)
        {
            events.push(WatchEvent::Rejected {
                folder: path.to_owned(),
                reason,
            });
        }
    }
}

fn read_folder(path: &Path) -> Result<Folder, String> {
    let manifest = std::fs::read_to_string(path.join("djinn.toml"))
        .map_err(|e| format!("cannot read djinn.toml: {e}"))?;
    let wasm_files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("cannot list the folder: {e}"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm") && p.is_file())
        .collect();
    let wasm_path = match wasm_files.as_slice() {
        [one] => one,
        [] => return Err("no .wasm file next to djinn.toml".into()),
        many => {
            return Err(format!(
                "{} .wasm files next to djinn.toml; keep exactly one",
                many.len()
            ));
        }
    };
    let wasm = std::fs::read(wasm_path)
        .map_err(|e| format!("cannot read {}: {e}", wasm_path.display()))?;
    let mut h = Sha256::new();
    h.update((manifest.len() as u64).to_le_bytes());
    h.update(manifest.as_bytes());
    h.update(&wasm);
    Ok(Folder {
        manifest,
        wasm,
        digest: hex::encode(h.finalize()),
    })
}
