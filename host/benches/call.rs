//! Per-call cost of the echo agent through djinn's runtime, next to the floor:
//! the same work written directly against wasmtime with the same engine.
//!
//! `cargo bench -p djinn --bench call`

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use djinn::capabilities::Services;
use djinn::runtime::bindings::agent::{AgentPluginPre, djinn::plugin as wit};
use djinn::runtime::{Manifest, Message};
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
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
