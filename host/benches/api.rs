//! What the HTTP API adds to a question: the same `/v1/ask` on the sample
//! statement three ways in one run, so the figures read as differences:
//!
//! - `bus, no audit`: `Bus::ask` on the bundled plugins with a null audit sink,
//!   run on a tokio worker like a request handler;
//! - `bus, audit`: the serving catalog's bus, which audits every verdict to SQLite;
//! - `http`: `POST /v1/ask` over loopback TCP with a bearer token, through the real
//!   router (auth, admission, request id, metrics, JSON both ways).
//!
//! `cargo bench -p djinn --bench api -- --warm-up-time 2 --measurement-time 5`

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use djinn::api::{self, AppState, Role, TokenConfig, hash_token};
use djinn::audit::NullAudit;
use djinn::bus::{Bus, BusConfig};
use djinn::catalog::Catalog;
use djinn::config::HostConfig;
use djinn::registry::{BundledPlugin, load_registered};
use djinn::{Runtime, RuntimeConfig, services};
use serde_json::json;

const TOKEN: &str = "bench-consumer-token";

fn bench(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = HostConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..HostConfig::default()
    };
    // DJINN_BENCH_SQLITE_SYNC=normal measures the audit with `sqlite_synchronous = "normal"`.
    if std::env::var("DJINN_BENCH_SQLITE_SYNC").as_deref() == Ok("normal") {
        config.sqlite_synchronous = djinn::config::SqliteSync::Normal;
    }
    config.api.tokens = vec![TokenConfig {
        name: "bench".into(),
        role: Role::Consumer,
        sha256: hash_token(TOKEN),
    }];
    let runtime_config = RuntimeConfig {
        cache_dir: Some(std::env::temp_dir().join("djinn-test-cache")),
        ..RuntimeConfig::default()
    };
    let (state, bare, host) = tokio.block_on(async {
        let host = services::open(&config).await.unwrap();
        let runtime = Arc::new(Runtime::new(runtime_config, host.services.clone()).unwrap());
        let bundled: Vec<BundledPlugin> = djinn_plugins::serving()
            .map(|b| BundledPlugin {
                wasm: b.wasm,
                manifest: b.manifest,
            })
            .collect();
        let boot = load_registered(&runtime, &host.store.registry(), &bundled)
            .await
            .unwrap();
        // The same plugins in the same order as the catalog's bus (policies in
        // the default order), so the two differ only in the audit sink.
        let same_order = BusConfig {
            policy_order: Some(
                djinn::bus::DEFAULT_POLICY_ORDER
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
            ..BusConfig::default()
        };
        let mut bare = Bus::builder(same_order).audit(Arc::new(NullAudit));
        for p in &boot.loaded {
            bare = bare.plugin(p.clone()).unwrap();
        }
        let catalog = Catalog::new(
            runtime,
            host.store.registry(),
            BusConfig::default(),
            boot.loaded,
        )
        .unwrap();
        let state = AppState::new(Arc::new(catalog), host.store.clone(), &config.api).unwrap();
        (state, bare.build().unwrap(), host)
    });
    let audited = state.catalog.snapshot().bus.clone();
    assert_eq!(bare.policies(), audited.policies(), "same gate order");
    let listener = tokio
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/v1/ask", listener.local_addr().unwrap());
    tokio.spawn(async move { axum::serve(listener, api::router(state)).await });
    let http = reqwest::Client::new();

    let csv = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/statement.csv"
    ))
    .unwrap();
    // What `/v1/ask` builds from the body and the token (see `api::routes`).
    let context = json!({
        "statement": {"csv": csv},
        "metadata": {"user_id": "bench", "user_roles": "user", "classification": "internal"},
    });
    let body = serde_json::to_vec(&json!({
        "question": "How am I doing?",
        "context": {"statement": {"csv": csv}},
    }))
    .unwrap();

    let mut group = c.benchmark_group("ask/statement");
    group.bench_function("bus, no audit", |b| {
        b.to_async(&tokio).iter(|| async {
            let r = on_worker(&bare, &context).await;
            assert!(r.answer.is_some());
            r
        })
    });
    group.bench_function("bus, audit", |b| {
        b.to_async(&tokio).iter(|| async {
            let r = on_worker(&audited, &context).await;
            assert!(r.answer.is_some());
            r
        })
    });
    group.bench_function("http", |b| {
        b.to_async(&tokio).iter(|| async {
            let resp = http
                .post(&url)
                .bearer_auth(TOKEN)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            resp.bytes().await.unwrap()
        })
    });
    group.finish();
    tokio.block_on(host.audit.flush());
}

/// Asks on a tokio worker, as the server's handler does: run on criterion's own
/// thread, the question would have a third thread on two cores that the HTTP case
/// does not, and the difference would read as HTTP cost.
async fn on_worker(bus: &Bus, context: &serde_json::Value) -> djinn::bus::AskResult {
    let (bus, context) = (bus.clone(), context.clone());
    tokio::spawn(async move { bus.ask("How am I doing?", context).await })
        .await
        .unwrap()
}

criterion_group!(benches, bench);
criterion_main!(benches);
