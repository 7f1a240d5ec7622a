//! The store-backed services a long-running host uses: LLM budgets survive a
//! restart, kv lives in the database, audit events land in the hash chain.

mod common;

use common::msg;

use djinn::Runtime;
use djinn::config::HostConfig;
use djinn::runtime::{Fault, Manifest};
use djinn::services::{self, HostServices};

async fn host(dir: &std::path::Path) -> (HostServices, Runtime) {
    let config = HostConfig {
        data_dir: Some(dir.to_path_buf()),
        ..HostConfig::default()
    };
    let hs = services::open(&config).await.unwrap();
    let rt_config = common::runtime_config();
    let rt = Runtime::new(rt_config, hs.services.clone()).unwrap();
    (hs, rt)
}

/// hostile with a 30-token daily budget on the mock model.
fn manifest() -> Manifest {
    let b = djinn_plugins::get("hostile").unwrap();
    Manifest::parse(&b.manifest.replace(
        "max_tokens_per_call = 64\n",
        "max_tokens_per_call = 64\ndaily_token_budget = 30\n",
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budget_kv_and_audit_persist_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = djinn_plugins::get("hostile").unwrap().wasm;
    {
        let (hs, rt) = host(dir.path()).await;
        let p = rt.load(wasm, manifest()).await.unwrap();
        assert!(p.handle(&msg("kv", "kept")).await.outcome.is_ok());
        // The mock counts words: each distinct prompt of 8 words costs well over
        // 10 tokens (input + echoed output), so the budget runs out within 3 calls.
        let mut denied = false;
        for i in 0..6 {
            let prompt = format!("prompt number {i} with quite a few words here");
            if let Err(Fault::PluginError { message, .. }) =
                p.handle(&msg("llm", &prompt)).await.outcome
            {
                assert!(message.contains("BudgetExceeded"), "{message}");
                denied = true;
                break;
            }
        }
        assert!(denied, "the budget must run out");
        // An ungranted-model denial goes to the audit chain.
        let other = Manifest::parse(
            &djinn_plugins::get("hostile")
                .unwrap()
                .manifest
                .replace("models = [\"mock\"]", "models = [\"gpt-*\"]"),
        )
        .unwrap();
        let q = rt.load(wasm, other).await.unwrap();
        assert!(q.handle(&msg("llm", "hi")).await.outcome.is_err());
        hs.audit.flush().await;
    }

    // "Restart": new services and runtime over the same data dir.
    let (hs, rt) = host(dir.path()).await;
    let p = rt.load(wasm, manifest()).await.unwrap();
    match p.handle(&msg("llm", "a brand new prompt")).await.outcome {
        Err(Fault::PluginError { message, .. }) => {
            assert!(message.contains("BudgetExceeded"), "{message}")
        }
        other => panic!("the spent budget must survive the restart, got {other:?}"),
    }
    let stored =
        djinn_store::KvStore::get(&hs.store.kv(), &djinn_store::Namespace::new("hostile"), "k")
            .await
            .unwrap();
    assert_eq!(
        stored.as_deref(),
        Some(&b"kept"[..]),
        "kv written before the restart is still there"
    );
    let log = hs.store.audit();
    let report = log.verify().await.unwrap();
    assert!(report.is_intact());
    let records = log.tail(10).await.unwrap();
    assert!(
        records
            .iter()
            .any(|r| r.kind.as_str() == "llm_denial" && r.plugin.as_deref() == Some("hostile")),
        "{records:?}"
    );
}

/// The audit writer commits group-wise: events recorded a little apart (as a
/// question's are, one or two per gate) share one transaction, which shows as one
/// `time` (taken once per batch, under the write lock). Without the linger each
/// event that arrives while the writer is idle is a transaction of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_events_recorded_apart_share_a_transaction() {
    use djinn::audit::{AuditEvent, AuditKind, AuditSink};
    let dir = tempfile::tempdir().unwrap();
    let (hs, _rt) = host(dir.path()).await;
    for i in 0..12 {
        hs.audit.record(
            AuditEvent::new(AuditKind::Question, "test", serde_json::json!({ "i": i }))
                .correlation("linger"),
        );
        // Long enough for an idle writer to pick each event up on its own.
        tokio::time::sleep(std::time::Duration::from_micros(300)).await;
    }
    hs.audit.flush().await;
    let records = hs.store.audit().tail(12).await.unwrap();
    assert_eq!(records.len(), 12);
    let mut times: Vec<_> = records.iter().map(|r| r.time).collect();
    times.dedup();
    // 12 events over ~4 ms: one batch, two if a 10 ms window closed between them
    // on a loaded machine. Twelve would mean one transaction per event.
    assert!(
        times.len() <= 3,
        "expected the events in one or two transactions, got {} distinct commit times",
        times.len()
    );
}
