//! Per-call cost of the echo agent through djinn's runtime, next to the floor:
//! the same work written directly against wasmtime with the same engine; then
//! echo (Rust), the Python agent and the JS agent each with a fresh instance per
//! call (`pool = 0`) against a reused one (`pool = 1`), the first call after a
//! load, and the resident memory an idle pooled plugin holds.
//!
//! `cargo bench -p djinn --bench call`
//!
//! The Python and JS components come from `.ci/polyglot.sh --build`; without them
//! those cases print a `skipped:` line and only echo runs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use djinn::capabilities::Services;
use djinn::runtime::bindings::agent::{AgentPluginPre, djinn::plugin as wit};
use djinn::runtime::{Manifest, Message, Plugin};
use djinn::{Runtime, RuntimeConfig};
use wasmtime::Store;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The floor's store data: WASI (the component imports it) and nothing else.
struct Floor {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Floor {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl wit::types::Host for Floor {}

fn message() -> Message {
    Message {
        id: "m".into(),
        correlation_id: "c".into(),
        topic: "echo".into(),
        sender: "bench".into(),
        recipient: None,
        payload: r#"{"question":"how much did I spend on food?"}"#.into(),
        metadata: vec![("user_id".into(), "u1".into())],
    }
}

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// A message like the real pipeline's for each agent.
const ANALYSIS: &str = r#"{"question": "How am I doing?", "currency": "INR", "transaction_count": 12,
 "period": {"from": "2024-07-01", "to": "2024-09-30", "months": 3},
 "income_cents": 30000000, "expense_cents": 27000000, "net_cents": 3000000,
 "category_totals": [{"category": "rent", "expense_cents": 13500000, "income_cents": 0, "count": 3}],
 "top_categories": [{"category": "rent", "expense_cents": 13500000, "share_pct": 50.0},
                    {"category": "food", "expense_cents": 8100000, "share_pct": 30.0}],
 "monthly": [], "ingest_errors": [], "transactions": []}"#;

/// One agent under test: its component, manifest text and a message it answers.
struct Case {
    name: &'static str,
    wasm: Vec<u8>,
    manifest: String,
    msg: Message,
}

impl Case {
    fn manifest(&self, pool: u32) -> Manifest {
        let text = if self.manifest.contains("[limits]\n") {
            self.manifest
                .replace("[limits]\n", &format!("[limits]\npool = {pool}\n"))
        } else {
            format!("{}\n[limits]\npool = {pool}\n", self.manifest)
        };
        Manifest::parse(&text).unwrap()
    }
}

/// Echo plus the polyglot agents that `.ci/polyglot.sh --build` has built.
fn cases() -> Vec<Case> {
    let echo = djinn_plugins::get("echo").unwrap();
    let mut cases = vec![Case {
        name: "echo",
        wasm: echo.wasm.to_vec(),
        manifest: echo.manifest.to_owned(),
        msg: message(),
    }];
    let out = std::env::var_os("DJINN_POLYGLOT_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(ROOT).join("target/polyglot/out"));
    for (name, topic, payload) in [
        ("python-budget-coach", "analysis.result", ANALYSIS),
        (
            "js-currency",
            "currency.convert",
            r#"{"amount": 10, "from": "USD", "to": "INR"}"#,
        ),
    ] {
        let wasm = out.join(format!("{name}.wasm"));
        let Ok(bytes) = std::fs::read(&wasm) else {
            println!(
                "skipped: {name}: {} not built; run .ci/polyglot.sh --build",
                wasm.display()
            );
            continue;
        };
        let manifest = PathBuf::from(ROOT).join(format!("plugins/examples/{name}/djinn.toml"));
        cases.push(Case {
            name,
            wasm: bytes,
            manifest: std::fs::read_to_string(manifest).unwrap(),
            msg: Message {
                topic: topic.into(),
                payload: payload.into(),
                ..message()
            },
        });
    }
    cases
}

/// This process's resident set size in bytes (Linux `/proc/self/statm`).
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Resident memory per loaded plugin that has answered one call, with `pool`
/// idle instances allowed: the difference between pool 1 and pool 0 is what one
/// idle warm instance holds (its touched guest memory and store).
fn rss_per_plugin(
    tokio: &tokio::runtime::Runtime,
    runtime: &Runtime,
    case: &Case,
    pool: u32,
) -> Option<f64> {
    const COPIES: usize = 10;
    let before = rss_bytes()?;
    let plugins: Vec<Arc<Plugin>> = tokio.block_on(async {
        let mut v = Vec::new();
        for _ in 0..COPIES {
            let p = runtime.load(&case.wasm, case.manifest(pool)).await.unwrap();
            assert!(p.handle(&case.msg).await.outcome.is_ok());
            v.push(p);
        }
        v
    });
    let after = rss_bytes()?;
    drop(plugins);
    Some((after.saturating_sub(before)) as f64 / COPIES as f64)
}

fn bench(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let runtime = Runtime::new(RuntimeConfig::default(), Services::default()).unwrap();
    let echo = djinn_plugins::get("echo").unwrap();
    let plugin = tokio
        .block_on(runtime.load(echo.wasm, Manifest::parse(echo.manifest).unwrap()))
        .unwrap();
    let msg = message();

    // The floor: same engine (fuel, epochs, pooling), same component, fresh store per call.
    let engine = runtime.engine().clone();
    let component = Component::new(&engine, echo.wasm).unwrap();
    let mut linker: Linker<Floor> = Linker::new(&engine);
    wit::types::add_to_linker::<_, HasSelf<Floor>>(&mut linker, |s| s).unwrap();
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    let pre = AgentPluginPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
    let floor_call = |pre: AgentPluginPre<Floor>, msg: Message| async move {
        let mut store = Store::new(
            pre.engine(),
            Floor {
                wasi: WasiCtx::builder().build(),
                table: ResourceTable::new(),
            },
        );
        store.set_fuel(10_000_000).unwrap();
        store.set_epoch_deadline(100);
        let inst = pre.instantiate_async(&mut store).await.unwrap();
        let out = inst
            .djinn_plugin_agent()
            .call_handle(&mut store, &msg)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(out.len(), 1);
    };

    let mut g = c.benchmark_group("echo_call");
    g.bench_function("floor_wasmtime", |b| {
        b.to_async(&tokio)
            .iter(|| floor_call(pre.clone(), msg.clone()))
    });
    g.bench_function("djinn_runtime", |b| {
        b.to_async(&tokio).iter(|| async {
            let r = plugin.handle(&msg).await;
            assert!(r.outcome.is_ok());
        })
    });
    g.finish();

    // Throughput with two concurrent callers (the machine has two cores).
    let mut g = c.benchmark_group("echo_2_workers");
    g.bench_function("djinn_runtime", |b| {
        b.iter_custom(|iters| {
            let per_worker = iters.div_ceil(2);
            let start = Instant::now();
            tokio.block_on(async {
                let tasks: Vec<_> = (0..2)
                    .map(|_| {
                        let plugin = Arc::clone(&plugin);
                        let msg = msg.clone();
                        tokio::spawn(async move {
                            for _ in 0..per_worker {
                                assert!(plugin.handle(&msg).await.outcome.is_ok());
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            });
            start.elapsed()
        })
    });
    g.finish();

    fresh_vs_pooled(c, &tokio);
}

/// Each agent with a fresh instance per call against a reused one, the first
/// call after a load, and memory per idle plugin.
fn fresh_vs_pooled(c: &mut Criterion, tokio: &tokio::runtime::Runtime) {
    let config = RuntimeConfig {
        // Interpreter components take 10-20 s to compile; share the tests' cache.
        cache_dir: Some(std::env::temp_dir().join("djinn-test-cache")),
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::new(config, Services::default()).unwrap();
    let cases = cases();

    let mut g = c.benchmark_group("call");
    for case in &cases {
        for (label, pool) in [("fresh", 0), ("pooled", 1)] {
            let plugin = tokio
                .block_on(runtime.load(&case.wasm, case.manifest(pool)))
                .unwrap();
            g.bench_function(format!("{}/{label}", case.name), |b| {
                b.to_async(tokio).iter(|| async {
                    let r = plugin.handle(&case.msg).await;
                    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
                })
            });
        }
    }
    g.finish();

    // The first call after a load: with pool 1 it runs on the instance the load's
    // info() smoke call used; with pool 2 on one the load pre-instantiated and
    // never called; with pool 0 on a fresh one. Only the call is timed.
    let mut g = c.benchmark_group("first_call_after_load");
    g.sample_size(20);
    for case in &cases {
        for (label, pool) in [("fresh", 0), ("smoke_instance", 1), ("prewarmed", 2)] {
            g.bench_function(format!("{}/{label}", case.name), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += tokio.block_on(async {
                            let p = runtime.load(&case.wasm, case.manifest(pool)).await.unwrap();
                            let t = Instant::now();
                            assert!(p.handle(&case.msg).await.outcome.is_ok());
                            t.elapsed()
                        });
                    }
                    total
                })
            });
        }
    }
    g.finish();

    for case in &cases {
        let fresh = rss_per_plugin(tokio, &runtime, case, 0);
        let pooled = rss_per_plugin(tokio, &runtime, case, 1);
        if let (Some(fresh), Some(pooled)) = (fresh, pooled) {
            println!(
                "memory: {:<20} resident per loaded plugin after one call: pool 0 {:>7.0} KiB, \
                 pool 1 {:>7.0} KiB; one idle warm instance ~{:.0} KiB",
                case.name,
                fresh / 1024.0,
                pooled / 1024.0,
                (pooled - fresh) / 1024.0
            );
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
