//! The sandbox against hostile plugins: each attack ends that call with the right
//! fault within its limit, and the host keeps serving healthy plugins.

mod common;

use common::msg;

use std::sync::Arc;

use djinn::capabilities::Services;
use djinn::runtime::{Fault, LoadError, Manifest, Plugin};
use djinn::{Runtime, RuntimeConfig};

fn runtime() -> Runtime {
    let config = common::runtime_config();
    Runtime::new(config, Services::default()).expect("runtime")
}

async fn load(
    rt: &Runtime,
    name: &str,
    manifest_edit: impl Fn(&str) -> String,
) -> Result<Arc<Plugin>, LoadError> {
    let b = djinn_plugins::get(name).expect("bundled");
    let manifest = Manifest::parse(&manifest_edit(b.manifest)).expect("manifest parses");
    rt.load(b.wasm, manifest).await
}

async fn hostile(rt: &Runtime) -> Arc<Plugin> {
    load(rt, "hostile", str::to_owned)
        .await
        .expect("hostile loads")
}

/// After each attack, a healthy plugin in the same runtime still answers.
async fn assert_healthy(rt: &Runtime) {
    let echo = load(rt, "echo", str::to_owned).await.expect("echo loads");
    let out = echo
        .handle(&msg("echo", "ping"))
        .await
        .outcome
        .expect("echo still works");
    assert_eq!(out[0].payload, "ping");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_runs_out_of_fuel() {
    let rt = runtime();
    let p = hostile(&rt).await;
    let r = p.handle(&msg("spin", "")).await;
    assert_eq!(
        r.outcome.unwrap_err(),
        Fault::OutOfFuel { budget: 50_000_000 }
    );
    assert!(r.fuel_consumed >= 50_000_000 - 1000, "{}", r.fuel_consumed);
    assert_healthy(&rt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_with_ample_fuel_hits_the_deadline() {
    let rt = runtime();
    // The spin loop burns fuel at >10G/s on a quiet machine, so the deadline must be
    // far shorter than the ceiling's 10G fuel lasts.
    let p = load(&rt, "hostile", |m| {
        m.replace("fuel = 50_000_000", "fuel = 10_000_000_000")
            .replace("timeout_ms = 500", "timeout_ms = 50")
    })
    .await
    .unwrap();
    let r = p.handle(&msg("spin", "")).await;
    assert_eq!(r.outcome.unwrap_err(), Fault::Deadline { timeout_ms: 50 });
    // Generous bound: the deadline is 50 ms at a 10 ms epoch resolution.
    assert!(r.duration.as_millis() < 5_000, "{:?}", r.duration);
    assert_healthy(&rt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_bomb_hits_the_memory_cap() {
    let rt = runtime();
    let p = hostile(&rt).await;
    let r = p.handle(&msg("alloc", "")).await;
    match r.outcome.unwrap_err() {
        Fault::MemoryLimit {
            limit_mib,
            wanted_bytes,
        } => {
            assert_eq!(limit_mib, 32);
            assert!(wanted_bytes > 32 << 20);
        }
        other => panic!("expected memory limit, got {other:?}"),
    }
    assert_healthy(&rt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_recursion_traps_on_stack_overflow() {
    let rt = runtime();
    let p = hostile(&rt).await;
    let r = p.handle(&msg("recurse", "")).await;
    match r.outcome.unwrap_err() {
        Fault::Trap { message } => assert!(message.contains("call stack exhausted"), "{message}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_healthy(&rt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_is_a_trap_carrying_the_panic_message() {
    let rt = runtime();
    let p = hostile(&rt).await;
    let r = p.handle(&msg("panic", "")).await;
    match r.outcome.unwrap_err() {
        Fault::Trap { message } => {
            assert!(
                message.contains("hostile fixture panicked on purpose"),
                "{message}"
            )
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_healthy(&rt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_output_and_message_storm_hit_output_limits() {
    let rt = runtime();
    let p = hostile(&rt).await;
    for (topic, needle) in [
        ("oversized", "bytes; the limit is 1048576"),
        ("storm", "1000 messages; the limit is 64"),
    ] {
        match p.handle(&msg(topic, "")).await.outcome.unwrap_err() {
            Fault::OutputLimit { message } => assert!(message.contains(needle), "{message}"),
            other => panic!("{topic}: expected output limit, got {other:?}"),
        }
    }
    assert_healthy(&rt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_flood_is_capped_and_the_call_succeeds() {
    let rt = runtime();
    let p = hostile(&rt).await;
    let r = p.handle(&msg("log-flood", "")).await;
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_errors_are_reported_as_such() {
    let rt = runtime();
    let p = hostile(&rt).await;
    match p.handle(&msg("error", "")).await.outcome.unwrap_err() {
        f @ Fault::PluginError { .. } => assert!(!f.is_sandbox_fault()),
        other => panic!("expected a plugin error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuel_budget_decides_success() {
    let rt = runtime();
    // ~23 fuel per iteration: 2M iterations need ~46M fuel.
    let work = "2000000";
    let tight = load(&rt, "hostile", |m| {
        m.replace("fuel = 50_000_000", "fuel = 1_000_000")
    })
    .await
    .unwrap();
    assert!(matches!(
        tight.handle(&msg("burn", work)).await.outcome,
        Err(Fault::OutOfFuel { .. })
    ));
    let ample = load(&rt, "hostile", |m| {
        m.replace("fuel = 50_000_000", "fuel = 500_000_000")
    })
    .await
    .unwrap();
    let r = ample.handle(&msg("burn", work)).await;
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
    assert!(
        r.fuel_consumed > 1_000_000,
        "the work needs more than the tight budget: {}",
        r.fuel_consumed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_state_leaks_between_calls() {
    let rt = runtime();
    let p = hostile(&rt).await;
    for _ in 0..3 {
        let out = p.handle(&msg("counter", "")).await.outcome.unwrap();
        assert_eq!(
            out[0].payload, "1",
            "a global counter must start fresh on every call"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ungranted_imports_are_refused_at_load_naming_each_interface() {
    let rt = runtime();
    let err = load(&rt, "hostile", |m| {
        m.replace(
            "[grants.llm]\nmodels = [\"mock\"]\nmax_tokens_per_call = 64\n",
            "",
        )
        .replace("[grants.kv]\nmax_bytes = 4096\n", "")
    })
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, LoadError::Grants(_)), "{text}");
    assert!(text.contains("`djinn:plugin/llm@0.1.0`"), "{text}");
    assert!(text.contains("`djinn:plugin/kv@0.1.0`"), "{text}");
    assert!(text.contains("add [grants.kv]"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn granted_capabilities_work_and_the_llm_allow_list_holds() {
    let rt = runtime();
    let p = hostile(&rt).await;
    let out = p.handle(&msg("kv", "stored")).await.outcome.unwrap();
    assert_eq!(out[0].payload, "stored");
    let over_quota = p.handle(&msg("kv", &"x".repeat(5000))).await;
    match over_quota.outcome.unwrap_err() {
        Fault::PluginError { message, .. } => {
            assert!(message.contains("QuotaExceeded"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    let out = p.handle(&msg("llm", "hello there")).await.outcome.unwrap();
    assert!(out[0].payload.contains("hello there"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_binaries_and_mismatches_are_clear_load_errors() {
    let rt = runtime();
    let echo = djinn_plugins::get("echo").unwrap();
    let manifest = Manifest::parse(echo.manifest).unwrap();

    let err = rt
        .load(b"definitely not wasm", manifest.clone())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not WebAssembly"), "{err}");

    let core_module = b"\0asm\x01\0\0\0";
    let err = rt.load(core_module, manifest.clone()).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("core WebAssembly module, not a component"),
        "{err}"
    );

    let mut truncated = echo.wasm[..echo.wasm.len() / 2].to_vec();
    truncated.extend_from_slice(b"garbage");
    let err = rt.load(&truncated, manifest.clone()).await.unwrap_err();
    assert!(matches!(err, LoadError::Compile { .. }), "{err}");

    let mut renamed = manifest.clone();
    renamed.id = djinn::runtime::PluginId::new("not-echo").unwrap();
    let err = rt.load(echo.wasm, renamed).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("the manifest says `not-echo` but the component's info() says `echo`"),
        "{err}"
    );

    let mut as_policy = manifest.clone();
    as_policy.kind = djinn::runtime::PluginKind::Policy;
    let err = rt.load(echo.wasm, as_policy).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("declared as policy but its component exports the agent interface"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_load_is_a_cache_hit_in_memory_and_on_disk() {
    use djinn::runtime::CacheStatus;
    let dir = tempfile::tempdir().unwrap();
    let config = || RuntimeConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..RuntimeConfig::default()
    };
    let echo = djinn_plugins::get("echo").unwrap();
    let manifest = Manifest::parse(echo.manifest).unwrap();

    let first = Runtime::new(config(), Services::default()).unwrap();
    let a = first.load(echo.wasm, manifest.clone()).await.unwrap();
    assert_eq!(a.cache_status(), CacheStatus::Compiled);
    let b = first.load(echo.wasm, manifest.clone()).await.unwrap();
    assert_eq!(b.cache_status(), CacheStatus::Memory);

    // A new runtime (a restart) finds the artifact on disk and does not compile.
    let second = Runtime::new(config(), Services::default()).unwrap();
    let c = second.load(echo.wasm, manifest).await.unwrap();
    assert_eq!(c.cache_status(), CacheStatus::Disk);
    assert_eq!(
        c.handle(&msg("echo", "x")).await.outcome.unwrap()[0].payload,
        "x"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_faults_do_not_disturb_each_other() {
    let rt = Arc::new(runtime());
    let p = hostile(&rt).await;
    let echo = load(&rt, "echo", str::to_owned).await.unwrap();
    let mut tasks = Vec::new();
    for topic in ["spin", "alloc", "panic", "recurse", "counter", "counter"] {
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            (topic, p.handle(&msg(topic, "")).await.outcome_kind())
        }));
    }
    for _ in 0..4 {
        let e = echo.clone();
        tasks.push(tokio::spawn(async move {
            ("echo", e.handle(&msg("echo", "x")).await.outcome_kind())
        }));
    }
    for t in tasks {
        let (topic, kind) = t.await.unwrap();
        let expected = match topic {
            "spin" => "out_of_fuel",
            "alloc" => "memory_limit",
            "panic" | "recurse" => "trap",
            _ => "ok",
        };
        assert_eq!(kind, expected, "{topic}");
    }
}
