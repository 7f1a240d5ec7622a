//! Python and JavaScript plugins (plugins/examples/) in the real runtime.
//!
//! These tests build nothing: `.ci/polyglot.sh` builds the components with
//! componentize-py and componentize-js into `target/polyglot/out/`. When a component
//! is absent the test prints a visible `skipped:` line and passes, unless
//! `DJINN_POLYGLOT_REQUIRED=1` (set by `.ci/polyglot.sh`), which makes it fail.
//!
//! Interpreter components are 12–18 MB and take 10–20 s to compile on two cores;
//! the runtime's on-disk cache (`cache_dir`) makes later runs load them quickly.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use djinn::capabilities::Services;
use djinn::metrics::PoolEvent;
use djinn::runtime::{Fault, GateContext, LoadError, Manifest, Message, Plugin, Stage, Verdict};
use djinn::{Runtime, RuntimeConfig};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn runtime() -> Runtime {
    let config = RuntimeConfig {
        cache_dir: Some(std::env::temp_dir().join("djinn-test-cache")),
        ..RuntimeConfig::default()
    };
    Runtime::new(config, Services::default()).expect("runtime")
}

fn out_dir() -> PathBuf {
    std::env::var_os("DJINN_POLYGLOT_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(ROOT).join("target/polyglot/out"))
}

/// The built component and its manifest text, or `None` (after a visible skip line).
fn example(name: &str) -> Option<(Vec<u8>, String)> {
    let wasm = out_dir().join(format!("{name}.wasm"));
    let manifest = PathBuf::from(ROOT).join(format!("plugins/examples/{name}/djinn.toml"));
    let manifest = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    match std::fs::read(&wasm) {
        Ok(bytes) => Some((bytes, manifest)),
        Err(e) => {
            let why = format!("{} not readable ({e}); run .ci/polyglot.sh", wasm.display());
            if std::env::var("DJINN_POLYGLOT_REQUIRED").as_deref() == Ok("1") {
                panic!("{why}");
            }
            // Straight to the stderr handle: libtest captures eprintln! of passing tests.
            let _ = writeln!(std::io::stderr(), "skipped: {why}");
            None
        }
    }
}

async fn load_edited(
    rt: &Runtime,
    name: &str,
    edit: impl Fn(&str) -> String,
) -> Option<Result<Arc<Plugin>, LoadError>> {
    let (bytes, manifest) = example(name)?;
    let manifest = Manifest::parse(&edit(&manifest)).expect("manifest parses");
    Some(rt.load(&bytes, manifest).await)
}

fn msg(topic: &str, payload: &str) -> Message {
    Message {
        id: "m1".into(),
        correlation_id: "c1".into(),
        topic: topic.into(),
        sender: "test".into(),
        recipient: None,
        payload: payload.into(),
        metadata: vec![("user".into(), "u1".into())],
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// An analyzer `analysis.result` (docs/agents.md): saves 10% of income, rent is 50%.
const ANALYSIS: &str = r#"{"question": "How am I doing?", "currency": "INR", "transaction_count": 12,
 "period": {"from": "2024-07-01", "to": "2024-09-30", "months": 3},
 "income_cents": 30000000, "expense_cents": 27000000, "net_cents": 3000000,
 "category_totals": [{"category": "rent", "expense_cents": 13500000, "income_cents": 0, "count": 3},
                     {"category": "food", "expense_cents": 8100000, "income_cents": 0, "count": 6}],
 "top_categories": [{"category": "rent", "expense_cents": 13500000, "share_pct": 50.0},
                    {"category": "food", "expense_cents": 8100000, "share_pct": 30.0}],
 "monthly": [], "ingest_errors": [], "transactions": []}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_budget_coach_gives_tips_asks_the_llm_and_counts_in_kv() {
    let rt = runtime();
    let Some(loaded) = load_edited(&rt, "python-budget-coach", str::to_owned).await else {
        return;
    };
    let p = loaded.expect("python-budget-coach loads under its manifest");
    assert_eq!(p.agent_info().unwrap().subscribes, vec!["analysis.result"]);

    for expected_count in 1..=2 {
        let r = p.handle(&msg("analysis.result", ANALYSIS)).await;
        eprintln!(
            "python-budget-coach handle: {} fuel in {:?}",
            r.fuel_consumed, r.duration
        );
        let out = r.outcome.expect("handles analysis.result");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].topic, "budget.tips");
        assert_eq!(out[0].correlation_id, "c1");
        assert_eq!(out[0].metadata, vec![("user".into(), "u1".into())]);
        let v = json(&out[0].payload);
        assert_eq!(v["savings_rate_pct"], 10.0);
        assert_eq!(v["advice_count"], expected_count, "{v}");
        let tips: Vec<&str> = v["tips"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert!(
            tips[0].contains("saved 10% of income; the target is 20%"),
            "{tips:?}"
        );
        assert!(tips[0].contains("INR 30,000.00"), "{tips:?}");
        assert!(
            tips.iter().any(|t| t.contains("'rent' takes 50%")),
            "{tips:?}"
        );
        assert!(
            tips.iter().any(|t| t.contains("'food' takes 30%")),
            "{tips:?}"
        );
        assert!(
            tips.iter()
                .any(|t| t.contains("INR 2,70,000.00") || t.contains("INR 270,000.00")),
            "{tips:?}"
        );
        assert_eq!(v["model"], "mock");
        assert!(!v["coach_note"].as_str().unwrap().is_empty(), "{v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_budget_coach_reports_bad_input_as_invalid_input() {
    let rt = runtime();
    let Some(loaded) = load_edited(&rt, "python-budget-coach", str::to_owned).await else {
        return;
    };
    let p = loaded.unwrap();
    for bad in ["not json", r#"{"question": "no totals"}"#] {
        match p
            .handle(&msg("analysis.result", bad))
            .await
            .outcome
            .unwrap_err()
        {
            Fault::PluginError { message, .. } => {
                assert!(
                    message.contains("expected") || message.contains("JSON"),
                    "{message}"
                )
            }
            other => panic!("expected a plugin error, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_agent_without_kv_grant_is_refused_naming_kv() {
    let rt = runtime();
    let Some(loaded) = load_edited(&rt, "python-budget-coach", |m| {
        m.replace("[grants.kv]\nmax_bytes = 1024\n", "")
    })
    .await
    else {
        return;
    };
    let Err(err) = loaded else {
        panic!("loaded without [grants.kv]")
    };
    let text = err.to_string();
    assert!(matches!(err, LoadError::Grants(_)), "{text}");
    assert!(text.contains("`djinn:plugin/kv@0.1.0`"), "{text}");
    assert!(text.contains("add [grants.kv]"), "{text}");
    assert!(
        !text.contains("djinn:plugin/llm"),
        "llm is still granted: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_agent_out_of_fuel_traps_cleanly() {
    let rt = runtime();
    // Enough for the load-time info() smoke call (~0.2M), not for handle (JSON, llm, kv).
    let Some(loaded) = load_edited(&rt, "python-budget-coach", |m| {
        m.replace("fuel = 50_000_000", "fuel = 600_000")
    })
    .await
    else {
        return;
    };
    let p = loaded.expect("loads: info() fits in 600k fuel");
    let r = p.handle(&msg("analysis.result", ANALYSIS)).await;
    assert_eq!(r.outcome.unwrap_err(), Fault::OutOfFuel { budget: 600_000 });
    // The plugin is still usable: the next call gets a fresh instance and fails the same way.
    let again = p.handle(&msg("analysis.result", ANALYSIS)).await;
    assert!(matches!(again.outcome, Err(Fault::OutOfFuel { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_profanity_policy_denies_listed_words() {
    let rt = runtime();
    let Some(loaded) = load_edited(&rt, "python-profanity", str::to_owned).await else {
        return;
    };
    let p = loaded.expect("python-profanity loads");
    let ctx = GateContext {
        stage: Stage::Inbound,
        recipient: None,
        recipient_risk: None,
    };
    let clean = p
        .evaluate(&msg("question", "How is my budget?"), &ctx)
        .await;
    eprintln!(
        "python-profanity evaluate: {} fuel in {:?}",
        clean.fuel_consumed, clean.duration
    );
    assert_eq!(clean.outcome.unwrap(), Verdict::Allow);
    // Whole words, case-insensitive: "Heck" is listed, "heckle" is not.
    assert_eq!(
        p.evaluate(&msg("question", "don't heckle me"), &ctx)
            .await
            .outcome
            .unwrap(),
        Verdict::Allow
    );
    match p
        .evaluate(&msg("question", "What the Heck, darn it"), &ctx)
        .await
        .outcome
        .unwrap()
    {
        Verdict::Deny(reason) => {
            assert_eq!(
                reason,
                "message contains 2 blocked word(s) at stage inbound"
            )
        }
        other => panic!("expected deny, got {other:?}"),
    }

    // The word list is configuration.
    let Some(loaded) = load_edited(&rt, "python-profanity", |m| {
        m.replace("words = \"darn, heck, blast\"", "words = \"budget\"")
    })
    .await
    else {
        return;
    };
    let p = loaded.unwrap();
    assert!(matches!(
        p.evaluate(&msg("question", "How is my budget?"), &ctx)
            .await
            .outcome
            .unwrap(),
        Verdict::Deny(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_currency_converts_with_configured_rates() {
    let rt = runtime();
    let Some(loaded) = load_edited(&rt, "js-currency", str::to_owned).await else {
        return;
    };
    let p = loaded.expect("js-currency loads (no llm/kv/http imports)");
    assert!(
        p.interfaces()
            .imports
            .iter()
            .all(|i| !i.starts_with("wasi:http") && !i.contains("/kv@") && !i.contains("/llm@")),
        "{:?}",
        p.interfaces().imports
    );
    let r = p
        .handle(&msg(
            "currency.convert",
            r#"{"amount": 10, "from": "usd", "to": "INR"}"#,
        ))
        .await;
    eprintln!(
        "js-currency handle: {} fuel in {:?}",
        r.fuel_consumed, r.duration
    );
    let out = r.outcome.expect("converts");
    assert_eq!(out[0].topic, "currency.converted");
    assert_eq!(out[0].correlation_id, "c1");
    let v = json(&out[0].payload);
    assert_eq!(v["converted"], 831.0);
    assert_eq!(v["from"], "USD");
    assert_eq!(v["to"], "INR");

    // Cross rate through the base: 92 EUR -> 79 GBP.
    let out = p
        .handle(&msg(
            "currency.convert",
            r#"{"amount": "92", "from": "EUR", "to": "GBP"}"#,
        ))
        .await
        .outcome
        .unwrap();
    assert_eq!(json(&out[0].payload)["converted"], 79.0);

    match p
        .handle(&msg(
            "currency.convert",
            r#"{"amount": 1, "from": "USD", "to": "XYZ"}"#,
        ))
        .await
        .outcome
        .unwrap_err()
    {
        Fault::PluginError { message, .. } => {
            assert!(message.contains("unknown currency `XYZ`"), "{message}")
        }
        other => panic!("expected invalid input, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_agent_out_of_fuel_traps_cleanly() {
    let rt = runtime();
    let Some(loaded) = load_edited(&rt, "js-currency", |m| {
        m.replace("fuel = 100_000_000", "fuel = 1_000")
    })
    .await
    else {
        return;
    };
    // 1k fuel cannot even run info(): the load-time smoke call fails with the fault.
    let Err(err) = loaded else {
        panic!("loaded with 1k fuel")
    };
    match err {
        LoadError::Smoke { fault, .. } => {
            assert_eq!(fault, Fault::OutOfFuel { budget: 1_000 })
        }
        other => panic!("expected a smoke-call fault, got {other}"),
    }
}

/// Fresh-instance call cost, Python and JS against the Rust echo agent. Prints
/// figures; asserts nothing about time. `cargo test -p djinn --test polyglot -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing report, run on demand"]
async fn call_cost_report() {
    let rt = runtime();
    let echo = djinn_plugins::get("echo").expect("bundled echo");
    let cases: Vec<(&str, Vec<u8>, String, Message)> = [
        ("python-budget-coach", msg("analysis.result", ANALYSIS)),
        ("python-profanity", msg("question", "hello")),
        (
            "js-currency",
            msg(
                "currency.convert",
                r#"{"amount": 10, "from": "USD", "to": "INR"}"#,
            ),
        ),
    ]
    .into_iter()
    .filter_map(|(name, m)| example(name).map(|(b, t)| (name, b, t, m)))
    .chain(std::iter::once((
        "echo (Rust)",
        echo.wasm.to_vec(),
        echo.manifest.to_owned(),
        msg("echo", "ping"),
    )))
    .collect();
    for (name, bytes, manifest, m) in cases {
        let t = Instant::now();
        let p = rt
            .load(&bytes, Manifest::parse(&manifest).unwrap())
            .await
            .unwrap();
        let load = t.elapsed();
        let policy = name == "python-profanity";
        let ctx = GateContext {
            stage: Stage::Inbound,
            recipient: None,
            recipient_risk: None,
        };
        let mut times = Vec::new();
        let mut fuel = 0;
        for _ in 0..20 {
            let t = Instant::now();
            if policy {
                let r = p.evaluate(&m, &ctx).await;
                r.outcome.unwrap();
                fuel = r.fuel_consumed;
            } else {
                let r = p.handle(&m).await;
                r.outcome.unwrap();
                fuel = r.fuel_consumed;
            }
            times.push(t.elapsed());
        }
        times.sort();
        eprintln!(
            "{name:<22} {:>9} bytes  load {:>9.1?} ({:?})  call median {:>9.2?}  min {:>9.2?}  fuel {fuel}",
            bytes.len(),
            load,
            p.cache_status(),
            times[times.len() / 2],
            times[0],
        );
    }
}

/// A `currency.convert` payload whose `pad` array makes JSON.parse run for a
/// long while (about 0.9 s in the interpreter on the 2-core test VM).
fn heavy_conversion() -> String {
    let pad = vec!["[1,2.5,\"x\"]"; 1_000_000].join(",");
    format!(r#"{{"amount": 10, "from": "USD", "to": "INR", "pad": [{pad}]}}"#)
}

/// An `analysis.result` with many categories above the 30% tip threshold: a
/// Python loop formats a tip for each one (about 2 s on the 2-core test VM).
fn heavy_analysis() -> String {
    let top = vec![r#"{"category": "rent", "expense_cents": 13500000, "share_pct": 50.0}"#; 60_000]
        .join(",");
    ANALYSIS.replace(
        r#""top_categories": ["#,
        &format!(r#""top_categories": [{top},"#),
    )
}

/// Edits a polyglot manifest's `[limits]`: everything after the header line is
/// replaced by `limits` (the examples keep fuel, timeout and memory there).
fn with_limits(manifest: &str, limits: &str) -> String {
    let start = manifest.find("[limits]\n").expect("a [limits] table") + "[limits]\n".len();
    let end = manifest[start..]
        .find("\n[")
        .map_or(manifest.len(), |i| start + i + 1);
    format!("{}{limits}\n{}", &manifest[..start], &manifest[end..])
}

/// Loads `name` with a 100 ms deadline and ample fuel, runs `heavy` into the
/// deadline, then checks a normal call on the same plugin and on one loaded under
/// its own manifest.
async fn deadline_then_recovery(name: &str, heavy: Message, normal: Message, pool: u32) {
    let rt = runtime();
    let limits =
        format!("fuel = 10_000_000_000\ntimeout_ms = 100\nmemory_mib = 256\npool = {pool}");
    let Some(loaded) = load_edited(&rt, name, |m| with_limits(m, &limits)).await else {
        return;
    };
    let p = loaded.unwrap_or_else(|e| panic!("{name} loads with a 100 ms deadline: {e}"));
    let r = p.handle(&heavy).await;
    eprintln!(
        "{name} heavy call: {:?} after {:?}",
        r.outcome_kind(),
        r.duration
    );
    assert_eq!(r.outcome.unwrap_err(), Fault::Deadline { timeout_ms: 100 });
    // Epochs fire every 10 ms and the host timeout allows 50 ms of grace.
    assert!(r.duration.as_millis() < 5_000, "{:?}", r.duration);

    let again = p.handle(&normal).await;
    assert!(
        again.outcome.is_ok(),
        "{name} after the deadline: {:?}",
        again.outcome
    );
    let Some(loaded) = load_edited(&rt, name, str::to_owned).await else {
        return;
    };
    let r = loaded.unwrap().handle(&normal).await;
    assert!(
        r.outcome.is_ok(),
        "{name} under its own limits: {:?}",
        r.outcome
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_agent_past_its_deadline_faults_and_the_next_call_works() {
    for pool in [0, 1] {
        deadline_then_recovery(
            "python-budget-coach",
            msg("analysis.result", &heavy_analysis()),
            msg("analysis.result", ANALYSIS),
            pool,
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_agent_past_its_deadline_faults_and_the_next_call_works() {
    let normal = r#"{"amount": 10, "from": "USD", "to": "INR"}"#;
    for pool in [0, 1] {
        deadline_then_recovery(
            "js-currency",
            msg("currency.convert", &heavy_conversion()),
            msg("currency.convert", normal),
            pool,
        )
        .await;
    }
}

fn pool_hits(rt: &Runtime, plugin: &str) -> u64 {
    rt.services()
        .metrics
        .plugin_pool_count(plugin, PoolEvent::Hit)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_agent_answers_correctly_on_a_reused_instance() {
    let rt = runtime();
    let Some(loaded) = load_edited(&rt, "python-budget-coach", |m| {
        m.replace("memory_mib = 128\n", "memory_mib = 128\npool = 2\n")
    })
    .await
    else {
        return;
    };
    let p = loaded.expect("loads with pool = 2");
    assert_eq!(p.limits().pool, 2);
    assert_eq!(p.idle_instances(), 2);
    for expected_count in 1..=4 {
        let r = p.handle(&msg("analysis.result", ANALYSIS)).await;
        eprintln!(
            "python-budget-coach pooled handle: {} fuel in {:?}",
            r.fuel_consumed, r.duration
        );
        let v = json(&r.outcome.expect("handles analysis.result")[0].payload);
        assert_eq!(v["savings_rate_pct"], 10.0);
        assert_eq!(v["advice_count"], expected_count, "{v}");
        assert_eq!(v["model"], "mock");
    }
    assert_eq!(pool_hits(&rt, "python-budget-coach"), 4);
    // A plugin error leaves the instance in the pool and the next answer right.
    assert!(matches!(
        p.handle(&msg("analysis.result", "not json")).await.outcome,
        Err(Fault::PluginError { .. })
    ));
    let v = json(
        &p.handle(&msg("analysis.result", ANALYSIS))
            .await
            .outcome
            .unwrap()[0]
            .payload,
    );
    assert_eq!(v["advice_count"], 5, "{v}");
    assert_eq!(pool_hits(&rt, "python-budget-coach"), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_policy_judges_correctly_on_a_reused_instance() {
    let rt = runtime();
    let Some(loaded) = load_edited(&rt, "python-profanity", |m| {
        m.replace("memory_mib = 128\n", "memory_mib = 128\npool = 1\n")
    })
    .await
    else {
        return;
    };
    let p = loaded.expect("loads with pool = 1");
    let ctx = GateContext {
        stage: Stage::Inbound,
        recipient: None,
        recipient_risk: None,
    };
    for _ in 0..3 {
        assert_eq!(
            p.evaluate(&msg("question", "How is my budget?"), &ctx)
                .await
                .outcome
                .unwrap(),
            Verdict::Allow
        );
        assert!(matches!(
            p.evaluate(&msg("question", "What the Heck"), &ctx)
                .await
                .outcome
                .unwrap(),
            Verdict::Deny(_)
        ));
    }
    assert_eq!(pool_hits(&rt, "python-profanity"), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_agent_answers_correctly_on_a_reused_instance() {
    let rt = runtime();
    let Some(loaded) = load_edited(&rt, "js-currency", |m| {
        m.replace("memory_mib = 128\n", "memory_mib = 128\npool = 2\n")
    })
    .await
    else {
        return;
    };
    let p = loaded.expect("loads with pool = 2");
    for (amount, from, to, converted) in [
        ("10", "USD", "INR", 831.0),
        ("92", "EUR", "GBP", 79.0),
        ("10", "USD", "INR", 831.0),
        ("1", "USD", "JPY", 151.4),
    ] {
        let payload = format!(r#"{{"amount": {amount}, "from": "{from}", "to": "{to}"}}"#);
        let r = p.handle(&msg("currency.convert", &payload)).await;
        eprintln!(
            "js-currency pooled handle: {} fuel in {:?}",
            r.fuel_consumed, r.duration
        );
        let out = r.outcome.expect("converts");
        assert_eq!(json(&out[0].payload)["converted"], converted, "{payload}");
    }
    assert_eq!(pool_hits(&rt, "js-currency"), 4);
}

/// Loads `name` with a memory cap of `mib` (ample fuel and time), runs `heavy`
/// into the cap, then checks a normal call on the same plugin still works.
async fn memory_cap_then_recovery(name: &str, mib: u64, heavy: Message, normal: Message) {
    let rt = runtime();
    let limits = format!("fuel = 10_000_000_000\ntimeout_ms = 60000\nmemory_mib = {mib}");
    let Some(loaded) = load_edited(&rt, name, |m| with_limits(m, &limits)).await else {
        return;
    };
    let p = loaded.unwrap_or_else(|e| panic!("{name} loads with {mib} MiB: {e}"));
    let r = p.handle(&heavy).await;
    eprintln!(
        "{name} heavy call under {mib} MiB: {:?} after {:?}",
        r.outcome_kind(),
        r.duration
    );
    match r.outcome {
        Err(Fault::MemoryLimit { limit_mib, .. }) => assert_eq!(limit_mib, mib),
        other => panic!("{name}: expected the memory cap, got {other:?}"),
    }
    let again = p.handle(&normal).await;
    assert!(
        again.outcome.is_ok(),
        "{name} after the memory fault: {:?}",
        again.outcome
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_agent_over_its_memory_cap_faults_and_the_next_call_works() {
    memory_cap_then_recovery(
        "python-budget-coach",
        32,
        msg("analysis.result", &heavy_analysis()),
        msg("analysis.result", ANALYSIS),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_agent_over_its_memory_cap_faults_and_the_next_call_works() {
    memory_cap_then_recovery(
        "js-currency",
        32,
        msg("currency.convert", &heavy_conversion()),
        msg(
            "currency.convert",
            r#"{"amount": 10, "from": "USD", "to": "INR"}"#,
        ),
    )
    .await;
}
