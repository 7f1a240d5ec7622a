//! The plugin registry and the runtime, at start: what a host loads.
//!
//! On the first start (an empty registry) the bundled plugins are recorded, so
//! from then on the database, not the binary, says what runs: an operator who
//! disabled or replaced a bundled plugin keeps that decision across restarts and
//! upgrades. Then every enabled plugin is loaded. One that no longer loads (a
//! host upgrade tightened a ceiling, a manifest is invalid) is skipped and
//! audited as a plugin fault; it does not stop the others.

use std::sync::Arc;

use djinn_store::{PluginState, PluginUpload, Registry};

use crate::audit::{AuditEvent, AuditKind};
use crate::runtime::{Manifest, Plugin, Runtime};

/// A plugin that ships with the host.
#[derive(Debug, Clone, Copy)]
pub struct BundledPlugin<'a> {
    pub wasm: &'a [u8],
    pub manifest: &'a str,
}

/// What [`load_registered`] did.
#[derive(Debug, Default)]
pub struct Boot {
    /// Plugins recorded from the bundle because the registry was empty.
    pub seeded: Vec<String>,
    pub loaded: Vec<Arc<Plugin>>,
    /// Enabled plugins that failed to load, with the reason.
    pub failed: Vec<(String, String)>,
}

/// Seeds an empty registry with `bundled`, then loads every enabled plugin.
pub async fn load_registered(
    runtime: &Runtime,
    registry: &Registry,
    bundled: &[BundledPlugin<'_>],
) -> anyhow::Result<Boot> {
    let mut boot = Boot::default();
    if registry.list().await?.is_empty() {
        for b in bundled {
            let manifest = Manifest::parse(b.manifest)?;
            registry
                .upsert(PluginUpload {
                    id: manifest.id.to_string(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    manifest: b.manifest.to_owned(),
                    component: b.wasm.to_vec(),
                })
                .await?;
            boot.seeded.push(manifest.id.to_string());
        }
    }
    let audit = &runtime.services().audit;
    for summary in registry.list().await? {
        if summary.state != PluginState::Enabled {
            continue;
        }
        let Some(record) = registry.get(&summary.id).await? else {
            continue; // removed since the listing
        };
        let loaded = match Manifest::parse(&record.manifest) {
            Ok(m) => runtime
                .load(&record.component, m)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match loaded {
            Ok(p) => boot.loaded.push(p),
            Err(reason) => {
                tracing::error!(plugin = %summary.id, "registered plugin failed to load: {reason}");
                audit.record(
                    AuditEvent::new(
                        AuditKind::PluginFault,
                        "host",
                        serde_json::json!({ "phase": "load", "reason": reason }),
                    )
                    .plugin(summary.id.as_str()),
                );
                boot.failed.push((summary.id.clone(), reason));
            }
        }
    }
    Ok(boot)
}
