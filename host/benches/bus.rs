//! One full question through the bus (every bundled agent and policy, mock LLM at
//! zero latency), and the policy gate on one message next to an empty chain.
//!
//! `cargo bench -p djinn --bench bus -- --warm-up-time 1 --measurement-time 3`

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use djinn::audit::NullAudit;
use djinn::bus::{Bus, BusConfig, PolicyGate, question_message};
use djinn::capabilities::Services;
use djinn::runtime::{Manifest, Stage};
use djinn::{Runtime, RuntimeConfig};
use serde_json::json;

fn bench(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = RuntimeConfig {
        cache_dir: Some(std::env::temp_dir().join("djinn-test-cache")),
        ..RuntimeConfig::default()
    };
    // Services::default(): the mock LLM with zero latency, no audit trail.
    let runtime = tokio
        .block_on(async { Runtime::new(config, Services::default()) })
        .unwrap();
    let bus_config = BusConfig {
        policy_order: Some(
            djinn::bus::DEFAULT_POLICY_ORDER
                .iter()
                .map(|s| s.to_string())
                .collect(),
        ),
        ..BusConfig::default()
    };
    let mut builder = Bus::builder(bus_config).audit(Arc::new(NullAudit));
    for b in djinn_plugins::serving() {
        let p = tokio
            .block_on(runtime.load(b.wasm, Manifest::parse(b.manifest).unwrap()))
            .unwrap();
        builder = builder.plugin(p).unwrap();
    }
    let bus = builder.build().unwrap();
    let csv = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/statement.csv"
    ))
    .unwrap();
    let context = json!({
        "statement": {"csv": csv},
        "metadata": {"user_id": "bench", "user_roles": "user", "classification": "internal", "region": "in"},
    });

    c.bench_function(
        "ask/statement (10 agent calls, 9 policies per message)",
        |b| {
            b.to_async(&tokio).iter(|| async {
                let r = bus.ask("How am I doing?", context.clone()).await;
                assert!(r.answer.is_some());
                // Leave the judge running; it is off the caller's path.
                r
            })
        },
    );

    let mut question = question_message("How am I doing?", &context);
    question.id = "m".into();
    question.correlation_id = "c".into();
    let chain = bus.gate().clone();
    assert_eq!(chain.ids(), djinn::bus::DEFAULT_POLICY_ORDER);
    let empty = PolicyGate::new(Vec::new());
    let mut group = c.benchmark_group("gate");
    group.bench_function("question with statement, 9 policies", |b| {
        b.to_async(&tokio).iter(|| async {
            let d = chain
                .check(question.clone(), Stage::Inbound, None, &NullAudit, "c")
                .await;
            assert!(d.denied.is_none());
            d
        })
    });
    group.bench_function("question with statement, empty chain (baseline)", |b| {
        b.to_async(&tokio).iter(|| async {
            empty
                .check(question.clone(), Stage::Inbound, None, &NullAudit, "c")
                .await
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
