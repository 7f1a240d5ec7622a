//! Start-up from the registry: bundled plugins seed an empty database once; after
//! that the database decides what loads.

mod common;

use std::sync::Arc;

use djinn::Runtime;
use djinn::audit::{AuditKind, MemoryAudit};
use djinn::capabilities::Services;
use djinn::registry::{BundledPlugin, load_registered};
use djinn_store::{PluginState, PluginUpload, Store};

fn runtime(audit: Arc<MemoryAudit>) -> Runtime {
    let config = common::runtime_config();
    let services = Services {
        audit,
        ..Services::default()
    };
    Runtime::new(config, services).unwrap()
}

fn bundled(names: &[&str]) -> Vec<BundledPlugin<'static>> {
    names
        .iter()
        .map(|n| {
            let b = djinn_plugins::get(n).unwrap();
            BundledPlugin {
                wasm: b.wasm,
                manifest: b.manifest,
            }
        })
        .collect()
}

fn ids(boot: &djinn::registry::Boot) -> Vec<String> {
    let mut v: Vec<String> = boot.loaded.iter().map(|p| p.id().to_owned()).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeds_once_then_follows_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("djinn.db").display());
    let store = Store::open(&url).await.unwrap();
    let audit = Arc::new(MemoryAudit::new());
    let rt = runtime(audit.clone());

    let first = load_registered(&rt, &store.registry(), &bundled(&["echo", "max-length"]))
        .await
        .unwrap();
    assert_eq!(first.seeded, vec!["echo", "max-length"]);
    assert_eq!(ids(&first), vec!["echo", "max-length"]);

    // An operator disables echo and registers a plugin that no longer loads.
    let registry = store.registry();
    registry
        .set_state("echo", PluginState::Disabled)
        .await
        .unwrap();
    let hostile = djinn_plugins::get("hostile").unwrap();
    registry
        .upsert(PluginUpload {
            id: "hostile".into(),
            version: "1".into(),
            manifest: hostile
                .manifest
                .replace("[grants.kv]\nmax_bytes = 4096\n", ""),
            component: hostile.wasm.to_vec(),
        })
        .await
        .unwrap();

    // A restart: the bundle is not re-seeded, echo stays off, hostile is refused.
    drop(store);
    let store = Store::open(&url).await.unwrap();
    let second = load_registered(&rt, &store.registry(), &bundled(&["echo", "max-length"]))
        .await
        .unwrap();
    assert!(second.seeded.is_empty());
    assert_eq!(ids(&second), vec!["max-length"]);
    assert_eq!(second.failed.len(), 1);
    assert!(
        second.failed[0].1.contains("djinn:plugin/kv"),
        "{:?}",
        second.failed
    );
    assert!(
        audit
            .events()
            .iter()
            .any(|e| e.kind == AuditKind::PluginFault && e.plugin.as_deref() == Some("hostile"))
    );
}
