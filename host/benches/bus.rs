//! One full question through the bus (every bundled agent and policy, mock LLM at
//! zero latency), and the policy gate on one message next to an empty chain.
//!
//! `cargo bench -p djinn --bench bus -- --warm-up-time 1 --measurement-time 3`
//!
//! The question is measured twice: in wall time, and in CPU time of the whole
//! process (every thread, so the judge running in the background is included).
//! The machine is shared, and wall time on it moves with everyone else's load;
//! CPU time per question moves far less, so it is the figure to compare runs by.

use std::sync::Arc;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use djinn::audit::NullAudit;
use djinn::bus::{Bus, BusConfig, PolicyGate, question_message};
use djinn::capabilities::Services;
use djinn::runtime::{Manifest, Stage};
use djinn::{Runtime, RuntimeConfig};
use serde_json::json;

/// CPU time used by every thread of this process, from `/proc/self/task/*/schedstat`
/// (nanoseconds on CPU, per thread). Threads that exit between two readings drop
/// out of the sum; the bus's threads (two tokio workers) live for the whole run.
struct ProcessCpu;

fn process_cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        panic!("process CPU time needs Linux /proc/self/task");
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

impl Measurement for ProcessCpu {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        process_cpu_ns()
    }

    fn end(&self, started: u64) -> u64 {
        process_cpu_ns().saturating_sub(started)
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

/// Nanoseconds of CPU, shown like durations.
struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, ns: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if ns < 1e3 {
            (1.0, "ns cpu")
        } else if ns < 1e6 {
            (1e-3, "µs cpu")
        } else {
            (1e-6, "ms cpu")
        };
        for v in values {
            *v *= factor;
        }
        unit
    }

    fn scale_throughputs(&self, _ns: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let per = match t {
            Throughput::Elements(n) => *n as f64,
            _ => 1.0,
        };
        for v in values.iter_mut() {
            *v = per * 1e9 / *v;
        }
        "elem/cpu-s"
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns cpu"
    }
}

/// The runtime, a bus with every bundled plugin, and the sample question's context.
struct Setup {
    tokio: tokio::runtime::Runtime,
    /// Kept alive for the whole run, as the plugins' runtime.
    _runtime: Runtime,
    bus: Bus,
    /// The same plugins, with the gate judging in lanes, one per worker (`gate_lanes = 0`).
    lanes: Bus,
    context: serde_json::Value,
}

/// `fresh`: every plugin gets a fresh instance per call (`pool = 0`), whatever its
/// manifest asks for; otherwise the bundled manifests' pools apply.
fn setup(fresh: bool) -> Setup {
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
    let mut builder = Bus::builder(bus_config.clone()).audit(Arc::new(NullAudit));
    let mut lanes = Bus::builder(BusConfig {
        gate_lanes: 0,
        ..bus_config
    })
    .audit(Arc::new(NullAudit));
    for b in djinn_plugins::serving() {
        let p = tokio
            .block_on(runtime.load(b.wasm, {
                let mut m = Manifest::parse(b.manifest).unwrap();
                if fresh {
                    m.limits.pool = Some(0);
                }
                m
            }))
            .unwrap();
        builder = builder.plugin(p.clone()).unwrap();
        lanes = lanes.plugin(p).unwrap();
    }
    let bus = builder.build().unwrap();
    let lanes = lanes.build().unwrap();
    let csv = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/statement.csv"
    ))
    .unwrap();
    let context = json!({
        "statement": {"csv": csv},
        "metadata": {"user_id": "bench", "user_roles": "user", "classification": "internal", "region": "in"},
    });
    Setup {
        tokio,
        _runtime: runtime,
        bus,
        lanes,
        context,
    }
}

fn bench(c: &mut Criterion) {
    let Setup {
        tokio,
        bus,
        lanes,
        context,
        ..
    } = setup(false);
    let fresh = setup(true);

    // Every question is asked on a tokio worker, as the server's request handler
    // does. Asked from criterion's own thread (`block_on`), each delivery would be a
    // hand-off between that thread and the workers, and its wake-ups would be
    // measured as bus cost (0.2-0.7 ms a question in this session's runs).
    c.bench_function(
        "ask/statement (10 agent calls, bundled policy chain)",
        |b| b.iter_custom(|iters| asked_on_worker(&tokio, &bus, &context, iters, false)),
    );
    // Latency of one question on an otherwise idle host: the judge (background work
    // on the answer) is awaited between questions, outside the timed part, so it
    // does not compete with the next question for the two cores.
    for (name, bus) in [
        ("ask/statement latency (judge awaited, untimed)", &bus),
        (
            "ask/statement latency, gate in lanes, one per worker (gate_lanes = 0)",
            &lanes,
        ),
    ] {
        c.bench_function(name, |b| {
            b.iter_custom(|iters| asked_on_worker(&tokio, bus, &context, iters, true))
        });
    }
    c.bench_function("ask/statement, fresh instance per call (pool = 0)", |b| {
        b.iter_custom(|iters| {
            asked_on_worker(&fresh.tokio, &fresh.bus, &fresh.context, iters, false)
        })
    });

    let mut question = question_message("How am I doing?", &context);
    question.id = "m".into();
    question.correlation_id = "c".into();
    let chain = bus.gate().clone();
    assert_eq!(chain.ids(), djinn::bus::DEFAULT_POLICY_ORDER);
    let in_lanes = chain.clone().with_lanes(0);
    let empty = PolicyGate::new(Vec::new());
    let mut group = c.benchmark_group("gate");
    // On a worker, as a delivery's gate runs (see `asked_on_worker`). On the
    // question at inbound, 8 of the 9 policies are in scope (`explainability`
    // is scoped to `recommendations.result`).
    for (name, chain) in [
        ("question with statement, bundled chain", &chain),
        (
            "question with statement, bundled chain in lanes, one per worker",
            &in_lanes,
        ),
        ("question with statement, empty chain (baseline)", &empty),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (chain, question) = (chain.clone(), question.clone());
                tokio
                    .block_on(tokio.spawn(async move {
                        let started = std::time::Instant::now();
                        for _ in 0..iters {
                            let d = chain
                                .check(question.clone(), Stage::Inbound, None, &NullAudit, "c")
                                .await;
                            assert!(d.denied.is_none());
                        }
                        started.elapsed()
                    }))
                    .unwrap()
            })
        });
    }
    group.finish();
}

fn bench_cpu(c: &mut Criterion<ProcessCpu>) {
    let Setup {
        tokio,
        bus,
        context,
        ..
    } = setup(false);
    // On a worker like the others; the judge is left running, so its CPU counts.
    c.bench_function(
        "ask_cpu/statement (CPU time per question, all threads)",
        |b| {
            b.iter_custom(|iters| {
                let started = process_cpu_ns();
                asked_on_worker(&tokio, &bus, &context, iters, false);
                process_cpu_ns().saturating_sub(started)
            })
        },
    );
}

/// Asks `iters` questions one after another in one task on a tokio worker and
/// returns the time spent in `ask`. With `await_judge`, each question's background
/// work (the judge) is awaited before the next question, outside the timed part;
/// otherwise it is left running, as a server would.
fn asked_on_worker(
    tokio: &tokio::runtime::Runtime,
    bus: &Bus,
    context: &serde_json::Value,
    iters: u64,
    await_judge: bool,
) -> std::time::Duration {
    let (bus, context) = (bus.clone(), context.clone());
    tokio
        .block_on(tokio.spawn(async move {
            let mut timed = std::time::Duration::ZERO;
            for _ in 0..iters {
                let started = std::time::Instant::now();
                let r = bus.ask("How am I doing?", context.clone()).await;
                timed += started.elapsed();
                assert!(r.answer.is_some());
                if await_judge && let Some(judge) = r.background {
                    let _ = judge.await;
                }
            }
            timed
        }))
        .unwrap()
}

criterion_group!(benches, bench);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ProcessCpu);
    targets = bench_cpu
}
criterion_main!(benches, cpu);
