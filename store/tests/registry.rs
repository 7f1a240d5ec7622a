//! Plugin registry and usage ledger against real databases.

mod common;

use chrono::NaiveDate;
use common::TestDb;
use djinn_store::{PluginState, PluginUpload, StoreError, Usage};
use sha2::{Digest, Sha256};

on_both_backends!(
    registry_round_trip,
    replace_keeps_state_and_creation,
    usage_accumulates_per_plugin_per_day,
);

fn upload(id: &str, version: &str, bytes: Vec<u8>) -> PluginUpload {
    PluginUpload {
        id: id.into(),
        version: version.into(),
        manifest: format!("id = \"{id}\"\nkind = \"agent\"\n[grants.kv]\nmax_bytes = 1024\n"),
        component: bytes,
    }
}

async fn registry_round_trip(db: TestDb) {
    let reg = db.store.registry();
    assert!(reg.list().await.unwrap().is_empty());
    assert!(reg.get("nope").await.unwrap().is_none());
    // Component bytes include NULs and every byte value; a few MiB like a real component.
    let bytes: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i * 31 % 256) as u8).collect();
    let up = reg
        .upsert(upload("forecaster", "1.0.0", bytes.clone()))
        .await
        .unwrap();
    assert!(up.previous.is_none());
    assert_eq!(up.now.state, PluginState::Enabled);
    assert_eq!(up.now.sha256, hex::encode(Sha256::digest(&bytes)));
    reg.upsert(upload("analyzer", "0.1.0", b"\0asm".to_vec()))
        .await
        .unwrap();

    let got = reg.get("forecaster").await.unwrap().unwrap();
    assert_eq!(got.summary, up.now);
    assert_eq!(got.component, bytes);
    assert!(got.manifest.contains("[grants.kv]"));

    let ids: Vec<_> = reg
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(ids, vec!["analyzer", "forecaster"]);

    reg.set_state("forecaster", PluginState::Disabled)
        .await
        .unwrap();
    assert_eq!(
        reg.get("forecaster").await.unwrap().unwrap().summary.state,
        PluginState::Disabled
    );
    assert!(matches!(
        reg.set_state("ghost", PluginState::Enabled).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(reg.remove("forecaster").await.unwrap());
    assert!(!reg.remove("forecaster").await.unwrap());
    assert!(reg.get("forecaster").await.unwrap().is_none());
    assert_eq!(reg.list().await.unwrap().len(), 1);
    assert!(reg.upsert(upload("", "1", vec![])).await.is_err());
}

async fn replace_keeps_state_and_creation(db: TestDb) {
    let reg = db.store.registry();
    let v1 = reg
        .upsert(upload("p", "1.0.0", b"one".to_vec()))
        .await
        .unwrap()
        .now;
    reg.set_state("p", PluginState::Disabled).await.unwrap();
    let up = reg
        .upsert(upload("p", "2.0.0", b"two".to_vec()))
        .await
        .unwrap();
    let prev = up.previous.unwrap();
    assert_eq!(prev.version, "1.0.0");
    assert_eq!(prev.sha256, v1.sha256);
    assert_eq!(up.now.version, "2.0.0");
    assert_eq!(up.now.state, PluginState::Disabled);
    assert_eq!(up.now.created_at, v1.created_at);
    assert!(up.now.updated_at >= v1.updated_at);
    let got = reg.get("p").await.unwrap().unwrap();
    assert_eq!(got.component, b"two");
    assert_eq!(got.summary, up.now);
    assert_eq!(reg.list().await.unwrap().len(), 1);
}

async fn usage_accumulates_per_plugin_per_day(db: TestDb) {
    let usage = db.store.usage();
    let d1 = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let d2 = d1.succ_opt().unwrap();
    assert_eq!(usage.usage("a", d1).await.unwrap(), Usage::default());
    let u = Usage {
        tokens_in: 10,
        tokens_out: 5,
        cost_micros: 1_500,
    };
    assert_eq!(usage.add_usage("a", d1, u).await.unwrap(), u);
    let total = usage.add_usage("a", d1, u).await.unwrap();
    assert_eq!(
        total,
        Usage {
            tokens_in: 20,
            tokens_out: 10,
            cost_micros: 3_000
        }
    );
    usage.add_usage("a", d2, u).await.unwrap();
    usage.add_usage("b", d1, u).await.unwrap();
    assert_eq!(usage.usage("a", d1).await.unwrap(), total);
    assert_eq!(usage.usage("a", d2).await.unwrap(), u);
    assert_eq!(usage.usage("b", d1).await.unwrap(), u);
    // Concurrent additions all count.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let usage = usage.clone();
        tasks.push(tokio::spawn(async move {
            usage
                .add_usage(
                    "c",
                    d1,
                    Usage {
                        tokens_in: 1,
                        tokens_out: 2,
                        cost_micros: 3,
                    },
                )
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        usage.usage("c", d1).await.unwrap(),
        Usage {
            tokens_in: 20,
            tokens_out: 40,
            cost_micros: 60
        }
    );
    // Survives reopen (budgets survive restarts).
    let again = djinn_store::Store::open(&db.url).await.unwrap();
    assert_eq!(again.usage().usage("a", d1).await.unwrap(), total);
    assert!(
        usage
            .add_usage(
                "a",
                d1,
                Usage {
                    tokens_in: u64::MAX,
                    ..u
                }
            )
            .await
            .is_err()
    );
}
