//! Pooled instances (`[limits] pool = N`): reuse when asked for, a fresh instance
//! after any fault, no sharing between concurrent calls, at most N idle, and the
//! sandbox limits still hold on a reused instance.
//!
//! The hostile fixture's `counter` topic increments a guest global and returns it:
//! "1" on a fresh instance, "2", "3", ... on a reused one.

mod common;

use common::msg;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use djinn::capabilities::Services;
use djinn::metrics::PoolEvent;
use djinn::runtime::{Fault, Manifest, Plugin};
use djinn::{Runtime, RuntimeConfig};

fn runtime() -> Runtime {
    Runtime::new(common::runtime_config(), Services::default()).expect("runtime")
}

/// The hostile fixture with `pool = {pool}` added to its `[limits]` and any
/// further edits applied.
async fn hostile(rt: &Runtime, pool: u32, edit: impl Fn(&str) -> String) -> Arc<Plugin> {
    let b = djinn_plugins::get("hostile").expect("bundled");
    let text = edit(b.manifest).replace("[limits]\n", &format!("[limits]\npool = {pool}\n"));
    let manifest = Manifest::parse(&text).expect("manifest parses");
    assert_eq!(
        manifest.limits.pool,
        Some(pool),
        "the edit reached [limits]"
    );
    rt.load(b.wasm, manifest).await.expect("hostile loads")
}

async fn counter(p: &Plugin) -> String {
    let out = p
        .handle(&msg("counter", ""))
        .await
        .outcome
        .expect("counter");
    out[0].payload.clone()
}

fn pool_count(rt: &Runtime, event: PoolEvent) -> u64 {
    rt.services().metrics.plugin_pool_count("hostile", event)
}

/// Polls every future from this one task, so each runs until its first yield
/// before any other resumes: a deterministic way to have them all in flight.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none()
                && let Poll::Ready(v) = f.as_mut().poll(cx)
            {
                *out = Some(v);
            }
        }
        if outputs.iter().all(Option::is_some) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_instance_keeps_its_state_and_a_fresh_one_does_not() {
    let rt = runtime();
    let fresh = hostile(&rt, 0, str::to_owned).await;
    assert_eq!(fresh.idle_instances(), 0);
    for _ in 0..3 {
        assert_eq!(counter(&fresh).await, "1");
    }
    assert_eq!(fresh.idle_instances(), 0);
    assert_eq!(
        pool_count(&rt, PoolEvent::Miss) + pool_count(&rt, PoolEvent::Hit),
        0,
        "pool 0 is not a pool"
    );

    let rt = runtime();
    let pooled = hostile(&rt, 1, str::to_owned).await;
    assert_eq!(pooled.idle_instances(), 1, "the load warmed one instance");
    for expected in ["1", "2", "3"] {
        assert_eq!(counter(&pooled).await, expected);
    }
    assert_eq!(pooled.idle_instances(), 1);
    // The load's smoke call ran on the instance the counter calls then reused.
    assert_eq!(pool_count(&rt, PoolEvent::Hit), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sandbox_fault_discards_the_instance_and_the_next_call_is_fresh() {
    let rt = runtime();
    // One idle instance at most, so the attack runs on the instance the counter used.
    let p = hostile(&rt, 1, str::to_owned).await;
    for (attack, expected) in [
        ("panic", "trap"),
        ("spin", "out_of_fuel"),
        ("recurse", "trap"),
        ("alloc", "memory_limit"),
        ("oversized", "output_limit"),
        ("storm", "output_limit"),
    ] {
        let before: u64 = counter(&p).await.parse().unwrap();
        assert_eq!(
            counter(&p).await,
            (before + 1).to_string(),
            "reused before {attack}"
        );
        let discards = pool_count(&rt, PoolEvent::Discard);
        let r = p.handle(&msg(attack, "")).await;
        assert_eq!(r.outcome_kind(), expected, "{attack}: {:?}", r.outcome);
        assert_eq!(
            pool_count(&rt, PoolEvent::Discard),
            discards + 1,
            "{attack}"
        );
        assert_eq!(
            p.idle_instances(),
            0,
            "{attack}: the faulted instance is gone"
        );
        assert_eq!(counter(&p).await, "1", "a fresh instance after {attack}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_error_is_an_answer_and_keeps_the_instance() {
    let rt = runtime();
    let p = hostile(&rt, 1, str::to_owned).await;
    assert_eq!(counter(&p).await, "1");
    let r = p.handle(&msg("error", "")).await;
    assert!(matches!(r.outcome, Err(Fault::PluginError { .. })));
    assert_eq!(counter(&p).await, "2");
    assert_eq!(pool_count(&rt, PoolEvent::Discard), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_each_get_their_own_instance_and_at_most_n_stay_idle() {
    const N: u32 = 2;
    let rt = runtime();
    let p = hostile(&rt, N, str::to_owned).await;
    assert_eq!(p.idle_instances(), N as usize, "the load warmed the pool");
    let (hits, misses) = (
        pool_count(&rt, PoolEvent::Hit),
        pool_count(&rt, PoolEvent::Miss),
    );
    // ~23M fuel each, yielding every 2M: all N + 2 calls are in flight at once.
    let burn = msg("burn", "1000000");
    let calls = (0..N + 2).map(|_| p.handle(&burn)).collect();
    for r in join_all(calls).await {
        assert!(r.outcome.is_ok(), "{:?}", r.outcome);
    }
    // Two calls found the idle instances; the other two did not wait for them
    // but instantiated their own.
    assert_eq!(pool_count(&rt, PoolEvent::Hit) - hits, u64::from(N));
    assert_eq!(pool_count(&rt, PoolEvent::Miss) - misses, 2);
    assert_eq!(p.idle_instances(), N as usize);
    assert_eq!(
        pool_count(&rt, PoolEvent::Overflow),
        2,
        "the extra two were dropped"
    );

    // Same from many tasks on both workers: whatever the interleaving, every call
    // succeeds and the pool never holds more than N.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let p = Arc::clone(&p);
            let topic = if i % 2 == 0 { "burn" } else { "counter" };
            tokio::spawn(async move { p.handle(&msg(topic, "200000")).await.outcome_kind() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), "ok");
        assert!(p.idle_instances() <= N as usize);
    }
    assert_eq!(p.idle_instances(), N as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuel_and_the_deadline_are_per_call_on_a_reused_instance() {
    let rt = runtime();
    // 10M iterations need ~230M fuel: within the 500M budget once but not three
    // times, so every call must start with the whole budget.
    let p = hostile(&rt, 1, |m| {
        m.replace("fuel = 50_000_000", "fuel = 500_000_000")
    })
    .await;
    assert_eq!(counter(&p).await, "1");
    let mut used = Vec::new();
    for _ in 0..3 {
        let r = p.handle(&msg("burn", "10000000")).await;
        assert!(r.outcome.is_ok(), "{:?}", r.outcome);
        used.push(r.fuel_consumed);
    }
    assert!(
        used.iter().all(|&f| f > 100_000_000 && f < 500_000_000),
        "fuel per call, not cumulative: {used:?}"
    );

    // Idle longer than its 500 ms timeout: later calls get a new deadline rather
    // than tripping over the old one at the first epoch tick (every 10 ms; these
    // three calls take well over that together).
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    for _ in 0..3 {
        let r = p.handle(&msg("burn", "20000000")).await;
        assert!(r.outcome.is_ok(), "{:?} after {:?}", r.outcome, r.duration);
    }
    assert_eq!(counter(&p).await, "2", "the same instance all along");
    assert_eq!(pool_count(&rt, PoolEvent::Discard), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_and_memory_cap_still_trap_on_a_reused_instance() {
    let rt = runtime();
    let p = hostile(&rt, 1, |m| {
        m.replace("fuel = 50_000_000", "fuel = 10_000_000_000")
            .replace("timeout_ms = 500", "timeout_ms = 50")
    })
    .await;
    assert_eq!(counter(&p).await, "1");
    assert_eq!(counter(&p).await, "2");
    let r = p.handle(&msg("spin", "")).await;
    assert_eq!(r.outcome.unwrap_err(), Fault::Deadline { timeout_ms: 50 });
    assert_eq!(counter(&p).await, "1", "fresh after the deadline");

    // The memory cap on its own plugin, with a deadline the 32 MiB of allocation
    // cannot reach: on this VM, first-touch page faults made that take 120+ ms,
    // past the 50 ms above, and the deadline fired first.
    let p = hostile(&rt, 1, |m| {
        m.replace("fuel = 50_000_000", "fuel = 10_000_000_000")
            .replace("timeout_ms = 500", "timeout_ms = 10000")
    })
    .await;
    assert_eq!(counter(&p).await, "1");
    assert_eq!(counter(&p).await, "2");
    match p.handle(&msg("alloc", "")).await.outcome.unwrap_err() {
        Fault::MemoryLimit {
            limit_mib,
            wanted_bytes,
        } => {
            assert_eq!(limit_mib, 32);
            assert!(wanted_bytes > 32 << 20);
        }
        other => panic!("expected the memory limit, got {other:?}"),
    }
    assert_eq!(counter(&p).await, "1", "fresh after the memory limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_caps_pool_sizes_and_total_idle_instances() {
    let b = djinn_plugins::get("hostile").expect("bundled");
    let with_pool = |n: u32| {
        Manifest::parse(
            &b.manifest
                .replace("[limits]\n", &format!("[limits]\npool = {n}\n")),
        )
        .unwrap()
    };
    let config = RuntimeConfig {
        max_idle_instances: Some(3),
        ..common::runtime_config()
    };
    let rt = Runtime::new(config, Services::default()).unwrap();
    let ceiling = rt.config().ceilings.pool;
    let err = rt.load(b.wasm, with_pool(ceiling + 1)).await.unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "limits.pool = {} exceeds the host ceiling",
            ceiling + 1
        )),
        "{err}"
    );
    // Two plugins asking for 2 idle instances each share a budget of 3.
    let a = rt.load(b.wasm, with_pool(2)).await.unwrap();
    let c = rt.load(b.wasm, with_pool(2)).await.unwrap();
    assert_eq!(a.idle_instances() + c.idle_instances(), 3);
    // Unloading one gives its share back: two calls in flight on the other now
    // both return their instances to its pool.
    drop(a);
    let burn = msg("burn", "1000000");
    let calls = (0..2).map(|_| c.handle(&burn)).collect();
    for r in join_all(calls).await {
        assert!(r.outcome.is_ok(), "{:?}", r.outcome);
    }
    assert_eq!(c.idle_instances(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_instances_never_take_the_slots_of_calls_in_flight() {
    // Two calls in flight at most, and two idle instances on top of them.
    let config = RuntimeConfig {
        max_concurrent_instances: 2,
        max_idle_instances: Some(2),
        ..common::runtime_config()
    };
    let rt = Runtime::new(config, Services::default()).unwrap();
    let pooled = hostile(&rt, 2, str::to_owned).await;
    assert_eq!(pooled.idle_instances(), 2);
    let fresh = hostile(&rt, 0, str::to_owned).await;
    let burn = msg("burn", "1000000");
    let calls = (0..2).map(|_| fresh.handle(&burn)).collect();
    for r in join_all(calls).await {
        assert!(r.outcome.is_ok(), "{:?}", r.outcome);
    }
    assert_eq!(pooled.idle_instances(), 2);
}
