//! The live set of plugins and the bus built over them, swapped atomically.
//!
//! Readers (every question) take an `Arc` of the current [`Snapshot`] without a
//! lock and keep it for the whole question, so a question that started on one
//! version of a plugin finishes on it. Writers (install, replace, enable,
//! disable, remove) are serialized: each loads and checks the new plugin off the
//! request path ([`Runtime::load`] compiles on the blocking pool and runs the
//! `info()` smoke call), builds a complete new bus, persists the change in the
//! registry, and only then swaps. Any failure before the swap changes nothing:
//! the old version keeps serving.

use std::sync::Arc;

use arc_swap::ArcSwap;
use djinn_store::{PluginState, PluginUpload, Registry, StoreError};

use crate::audit::{AuditEvent, AuditKind, AuditSink};
use crate::bus::{Bus, BusConfig, BusError};
use crate::runtime::{LoadError, Manifest, ManifestError, Plugin, PluginKind, Runtime};

/// One version of the plugin set.
pub struct Snapshot {
    /// Loaded (enabled) plugins in gate order.
    pub plugins: Vec<Arc<Plugin>>,
    pub bus: Arc<Bus>,
    /// Increments with every change.
    pub generation: u64,
}

impl Snapshot {
    pub fn get(&self, id: &str) -> Option<&Arc<Plugin>> {
        self.plugins.iter().find(|p| p.id() == id)
    }

    pub fn of_kind(&self, kind: PluginKind) -> impl Iterator<Item = &Arc<Plugin>> {
        self.plugins.iter().filter(move |p| p.kind() == kind)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("plugin `{0}` already exists; replace it with PUT /v1/plugins/{0}")]
    Exists(String),
    #[error("no plugin `{0}`")]
    NotFound(String),
    #[error("the uploaded manifest's id is `{got}` but the request is for `{wanted}`")]
    IdMismatch { wanted: String, got: String },
    #[error("the new plugin set is inconsistent: {0}")]
    Bus(#[from] BusError),
    #[error("registry: {0}")]
    Store(#[from] StoreError),
}

pub struct Catalog {
    runtime: Arc<Runtime>,
    registry: Registry,
    bus_config: BusConfig,
    audit: Arc<dyn AuditSink>,
    current: ArcSwap<Snapshot>,
    writer: tokio::sync::Mutex<()>,
}

fn build_bus(
    config: &BusConfig,
    audit: &Arc<dyn AuditSink>,
    plugins: &[Arc<Plugin>],
) -> Result<Arc<Bus>, BusError> {
    let mut b = Bus::builder(config.clone()).audit(audit.clone());
    // Policies judge in the documented order whatever order they were installed in
    // (a stable sort: agents and unlisted policies keep theirs).
    let mut plugins: Vec<&Arc<Plugin>> = plugins.iter().collect();
    plugins.sort_by_key(|p| match p.kind() {
        PluginKind::Policy => crate::bus::default_policy_rank(p.id()),
        PluginKind::Agent => 0,
    });
    for p in plugins {
        b = b.plugin(p.clone())?;
    }
    Ok(Arc::new(b.build()?))
}

impl Catalog {
    /// Where the serving bus and the catalog's own changes are audited.
    pub fn audit(&self) -> &Arc<dyn AuditSink> {
        &self.audit
    }

    /// A catalog serving `plugins` (already loaded, e.g. by [`crate::registry::load_registered`]).
    pub fn new(
        runtime: Arc<Runtime>,
        registry: Registry,
        bus_config: BusConfig,
        plugins: Vec<Arc<Plugin>>,
    ) -> Result<Self, CatalogError> {
        let audit = runtime.services().audit.clone();
        let bus = build_bus(&bus_config, &audit, &plugins)?;
        Ok(Self {
            runtime,
            registry,
            bus_config,
            audit,
            current: ArcSwap::from_pointee(Snapshot {
                plugins,
                bus,
                generation: 0,
            }),
            writer: tokio::sync::Mutex::new(()),
        })
    }

    /// The current version; hold it for as long as one request needs it.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    fn swap(&self, plugins: Vec<Arc<Plugin>>, bus: Arc<Bus>) {
        self.runtime.services().metrics.hot_swap();
        let generation = self.current.load().generation + 1;
        self.current.store(Arc::new(Snapshot {
            plugins,
            bus,
            generation,
        }));
    }

    /// Uploads a new plugin (`replace = false`) or a new version of one.
    /// `expected_id` is the id in the URL of a replace.
    pub async fn install(
        &self,
        wasm: &[u8],
        manifest_text: &str,
        replace: Option<&str>,
        actor: &str,
    ) -> Result<Arc<Plugin>, CatalogError> {
        let manifest = Manifest::parse(manifest_text)?;
        let id = manifest.id.to_string();
        if let Some(wanted) = replace
            && wanted != id
        {
            return Err(CatalogError::IdMismatch {
                wanted: wanted.to_owned(),
                got: id,
            });
        }
        let _guard = self.writer.lock().await;
        let existing = self.registry.get(&id).await?;
        match (replace.is_some(), existing.is_some()) {
            (false, true) => return Err(CatalogError::Exists(id)),
            (true, false) => return Err(CatalogError::NotFound(id)),
            _ => {}
        }
        let plugin = self.runtime.load(wasm, manifest).await?;
        let current = self.snapshot();
        let mut plugins: Vec<Arc<Plugin>> = current.plugins.clone();
        let enabled = existing
            .as_ref()
            .is_none_or(|r| r.summary.state == PluginState::Enabled);
        match plugins.iter().position(|p| p.id() == id) {
            Some(i) => plugins[i] = plugin.clone(),
            None if enabled => plugins.push(plugin.clone()),
            None => {}
        }
        let bus = build_bus(&self.bus_config, &self.audit, &plugins)?;
        let version = plugin.info().version().to_owned();
        self.registry
            .upsert(PluginUpload {
                id: id.clone(),
                version: version.clone(),
                manifest: manifest_text.to_owned(),
                component: wasm.to_vec(),
            })
            .await?;
        self.swap(plugins, bus);
        let kind = if existing.is_some() {
            AuditKind::PluginReplaced
        } else {
            AuditKind::PluginLoaded
        };
        self.audit.record(
            AuditEvent::new(
                kind,
                actor,
                serde_json::json!({ "version": version, "sha256": plugin.sha256(), "enabled": enabled }),
            )
            .plugin(id.as_str()),
        );
        Ok(plugin)
    }

    /// Enables (loads from the registry) or disables (stops routing to) a plugin.
    pub async fn set_enabled(
        &self,
        id: &str,
        enabled: bool,
        actor: &str,
    ) -> Result<(), CatalogError> {
        let _guard = self.writer.lock().await;
        let record = self
            .registry
            .get(id)
            .await?
            .ok_or_else(|| CatalogError::NotFound(id.to_owned()))?;
        let current = self.snapshot();
        let mut plugins: Vec<Arc<Plugin>> = current
            .plugins
            .iter()
            .filter(|p| p.id() != id)
            .cloned()
            .collect();
        if enabled {
            let manifest = Manifest::parse(&record.manifest)?;
            plugins.push(self.runtime.load(&record.component, manifest).await?);
        }
        let bus = build_bus(&self.bus_config, &self.audit, &plugins)?;
        let state = if enabled {
            PluginState::Enabled
        } else {
            PluginState::Disabled
        };
        self.registry.set_state(id, state).await?;
        self.swap(plugins, bus);
        self.audit.record(
            AuditEvent::new(
                AuditKind::PluginState,
                actor,
                serde_json::json!({ "state": state.as_str() }),
            )
            .plugin(id),
        );
        Ok(())
    }

    /// Removes a plugin from the registry and from routing.
    pub async fn remove(&self, id: &str, actor: &str) -> Result<(), CatalogError> {
        let _guard = self.writer.lock().await;
        let current = self.snapshot();
        let plugins: Vec<Arc<Plugin>> = current
            .plugins
            .iter()
            .filter(|p| p.id() != id)
            .cloned()
            .collect();
        let bus = build_bus(&self.bus_config, &self.audit, &plugins)?;
        if !self.registry.remove(id).await? {
            return Err(CatalogError::NotFound(id.to_owned()));
        }
        if let Some(old) = current.get(id) {
            self.runtime.forget(old.sha256());
        }
        self.swap(plugins, bus);
        self.audit.record(
            AuditEvent::new(AuditKind::PluginRemoved, actor, serde_json::json!({})).plugin(id),
        );
        Ok(())
    }
}
