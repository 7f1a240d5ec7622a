//! The wrapper chain against real HTTP on 127.0.0.1: cache, budget, circuit
//! breaker, retry, deadline, and keys staying out of errors and logs.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use djinn_llm::{LlmConfig, LlmError, MemoryLedger, Outcome, ProviderKind, UsageLedger, UtcDay};
use serde_json::json;

async fn openai_stack(tweak: impl FnOnce(&mut LlmConfig)) -> (Arc<Fake>, djinn_llm::LlmStack) {
    let fake = Fake::new();
    let base = spawn(openai_app(fake.clone(), Some(OPENAI_KEY))).await;
    let mut c = config_with("openai", ProviderKind::Openai, &base, "gpt-*");
    tweak(&mut c);
    (fake, build(&c))
}

// ---- cache ----

#[tokio::test]
async fn cache_hits_on_repeat_and_misses_on_model_or_temperature_change() {
    let (fake, stack) = openai_stack(|_| {}).await;
    let p = &stack.provider;
    let a = p
        .complete(&ctx("p"), &request("gpt-4o", "hi"))
        .await
        .unwrap();
    let b = p
        .complete(&ctx("other-plugin"), &request("gpt-4o", "hi"))
        .await
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(fake.hits(), 1, "repeat is served from the cache");

    let mut warmer = request("gpt-4o", "hi");
    warmer.temperature = Some(0.9);
    let c = p.complete(&ctx("p"), &warmer).await.unwrap();
    assert_eq!(fake.hits(), 2, "temperature is in the key");
    assert_ne!(c.text, a.text);

    p.complete(&ctx("p"), &request("gpt-4o-mini", "hi"))
        .await
        .unwrap();
    assert_eq!(fake.hits(), 3, "model is in the key");

    let s = stack.metrics.snapshot();
    assert_eq!((s.cache_hits, s.cache_misses), (1, 3));
    // A hit bills nothing: 3 upstream calls × (12 in, 5 out).
    assert_eq!((s.input_tokens, s.output_tokens), (36, 15));
}

#[tokio::test]
async fn cache_misses_after_ttl() {
    let (fake, stack) = openai_stack(|c| c.cache.ttl_ms = 100).await;
    let p = &stack.provider;
    p.complete(&ctx("p"), &request("gpt-4o", "hi"))
        .await
        .unwrap();
    p.complete(&ctx("p"), &request("gpt-4o", "hi"))
        .await
        .unwrap();
    assert_eq!(fake.hits(), 1);
    tokio::time::sleep(Duration::from_millis(150)).await;
    p.complete(&ctx("p"), &request("gpt-4o", "hi"))
        .await
        .unwrap();
    assert_eq!(fake.hits(), 2, "expired entry is refetched");
}

#[tokio::test]
async fn concurrent_identical_misses_cost_one_call() {
    let (fake, stack) = openai_stack(|_| {}).await;
    // Only the first request is slow; while it is in flight four more arrive.
    fake.push(Reply::status(200, json!({
        "model": "gpt-4o", "choices": [{"index": 0, "message": {"role": "assistant", "content": "shared"}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5}
    })).delay(Duration::from_millis(150)));
    let req = request("gpt-4o", "same question");
    let calls = (0..5).map(|i| {
        let p = stack.provider.clone();
        let req = req.clone();
        tokio::spawn(async move { p.complete(&ctx(&format!("agent-{i}")), &req).await })
    });
    for h in calls.collect::<Vec<_>>() {
        assert_eq!(h.await.unwrap().unwrap().text, "shared");
    }
    assert_eq!(fake.hits(), 1);
    let s = stack.metrics.snapshot();
    assert_eq!((s.cache_hits, s.cache_misses, s.input_tokens), (4, 1, 12));
}

#[tokio::test]
async fn waiters_fall_back_when_the_leader_fails() {
    let (fake, stack) = openai_stack(|c| c.retry.max_retries = 0).await;
    fake.push(
        Reply::status(400, json!({"error": {"message": "nope"}})).delay(Duration::from_millis(100)),
    );
    let req = request("gpt-4o", "q");
    let (ca, cb) = (ctx("a"), ctx("b"));
    let (a, b) = tokio::join!(
        stack.provider.complete(&ca, &req),
        stack.provider.complete(&cb, &req)
    );
    assert!(matches!(a, Err(LlmError::Rejected { .. })), "{a:?}");
    assert!(b.is_ok(), "{b:?}");
    assert_eq!(fake.hits(), 2);
}

#[tokio::test]
async fn failures_are_not_cached() {
    let (fake, stack) = openai_stack(|c| c.retry.max_retries = 0).await;
    fake.push(Reply::status(500, json!({"error": {"message": "boom"}})));
    let p = &stack.provider;
    assert!(
        p.complete(&ctx("p"), &request("gpt-4o", "hi"))
            .await
            .is_err()
    );
    assert!(
        p.complete(&ctx("p"), &request("gpt-4o", "hi"))
            .await
            .is_ok()
    );
    assert_eq!(fake.hits(), 2);
}

// ---- budget ----

#[tokio::test]
async fn plugin_over_daily_budget_is_denied_and_others_are_not() {
    let ledger = Arc::new(MemoryLedger::new());
    let fake = Fake::new();
    let base = spawn(openai_app(fake.clone(), Some(OPENAI_KEY))).await;
    let stack = build_with_ledger(
        &config_with("openai", ProviderKind::Openai, &base, "gpt-*"),
        ledger.clone(),
    );
    let p = &stack.provider;
    let greedy = ctx("greedy").with_daily_token_budget(Some(30));
    // Each call costs 17 tokens (12 in + 5 out): 0 → 17 → 34, then refused.
    p.complete(&greedy, &request("gpt-4o", "one"))
        .await
        .unwrap();
    p.complete(&greedy, &request("gpt-4o", "two"))
        .await
        .unwrap();
    let e = p
        .complete(&greedy, &request("gpt-4o", "three"))
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::BudgetExceeded(_)), "{e}");
    assert!(
        e.to_string()
            .contains("plugin `greedy` has used 34 of its 30 daily tokens"),
        "{e}"
    );
    assert_eq!(
        fake.hits(),
        2,
        "the refused call never reached the provider"
    );

    // A cached answer costs nothing, so it is still served.
    p.complete(&greedy, &request("gpt-4o", "one"))
        .await
        .unwrap();

    let modest = ctx("modest").with_daily_token_budget(Some(30));
    p.complete(&modest, &request("gpt-4o", "three"))
        .await
        .unwrap();

    let used = ledger.usage("greedy", UtcDay::today()).await.unwrap();
    assert_eq!((used.calls, used.tokens()), (2, 34));
    assert_eq!(
        ledger
            .usage("modest", UtcDay::today())
            .await
            .unwrap()
            .tokens(),
        17
    );
    let s = stack.metrics.snapshot();
    assert_eq!(s.providers["openai"].calls(Outcome::BudgetExceeded), 1);
    assert_eq!(s.denials, 1);
}

#[tokio::test]
async fn cost_budget_uses_the_price_table() {
    let (_fake, stack) = openai_stack(|c| {
        c.prices.push(djinn_llm::config::PriceConfig {
            model: "gpt-4o*".into(),
            input_per_mtok: 2.5,
            output_per_mtok: 10.0,
        })
    })
    .await;
    let p = &stack.provider;
    let cx = ctx("p").with_daily_cost_budget_micros(Some(50));
    // 12 × 2.5 + 5 × 10 = 80 micro-USD per call.
    p.complete(&cx, &request("gpt-4o", "a")).await.unwrap();
    let e = p.complete(&cx, &request("gpt-4o", "b")).await.unwrap_err();
    assert!(
        matches!(e, LlmError::BudgetExceeded(ref m) if m.contains("80 of its 50 daily micro-USD")),
        "{e}"
    );
    assert_eq!(stack.metrics.snapshot().cost_micros, 80);
}

// ---- retry ----

#[tokio::test]
async fn retry_honours_retry_after_on_429() {
    let (fake, stack) = openai_stack(|_| {}).await;
    fake.push(
        Reply::status(429, json!({"error": {"message": "Rate limit reached"}}))
            .header("retry-after-ms", "300"),
    );
    let start = Instant::now();
    let r = stack
        .provider
        .complete(&ctx("p"), &request("gpt-4o", "hi"))
        .await
        .unwrap();
    let waited = start.elapsed();
    assert_eq!(r.input_tokens, 12);
    assert_eq!(fake.hits(), 2);
    assert!(
        waited >= Duration::from_millis(300),
        "waited only {waited:?}"
    );
    assert!(waited < Duration::from_millis(1500), "waited {waited:?}");
    assert_eq!(stack.metrics.snapshot().providers["openai"].retries, 1);
}

#[tokio::test]
async fn retry_after_beyond_the_deadline_is_returned_not_slept() {
    let (fake, stack) = openai_stack(|_| {}).await;
    fake.push(
        Reply::status(429, json!({"error": {"message": "slow down"}})).header("retry-after", "5"),
    );
    let start = Instant::now();
    let e = stack
        .provider
        .complete(&ctx("p"), &request("gpt-4o", "hi"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, LlmError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(5)),
        "{e}"
    );
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(fake.hits(), 1);
}

#[tokio::test]
async fn bad_request_and_unauthorized_are_not_retried() {
    let (fake, stack) = openai_stack(|_| {}).await;
    fake.push(Reply::status(
        400,
        json!({"error": {"message": "Unsupported value: 'temperature'"}}),
    ));
    let e = stack
        .provider
        .complete(&ctx("p"), &request("gpt-4o", "a"))
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::Rejected { .. }), "{e}");
    assert!(e.to_string().contains("HTTP 400: Unsupported value"), "{e}");
    assert_eq!(fake.hits(), 1);

    fake.push(Reply::status(
        401,
        json!({"error": {"message": "Incorrect API key provided"}}),
    ));
    let e = stack
        .provider
        .complete(&ctx("p"), &request("gpt-4o", "b"))
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::Unauthorized { .. }), "{e}");
    assert_eq!(fake.hits(), 2);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_then_surface() {
    let (fake, stack) = openai_stack(|c| c.breaker.failure_threshold = 10).await;
    fake.set_always(Some(Reply::status(
        503,
        json!({"error": {"message": "upstream overloaded"}}),
    )));
    let e = stack
        .provider
        .complete(&ctx("p"), &request("gpt-4o", "a"))
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::Provider { .. }), "{e}");
    assert!(
        e.to_string().contains("HTTP 503: upstream overloaded"),
        "{e}"
    );
    assert_eq!(fake.hits(), 3, "first attempt + 2 retries");
}

#[tokio::test]
async fn malformed_success_body_is_a_typed_error() {
    let (fake, stack) = openai_stack(|_| {}).await;
    fake.push(Reply::raw(200, "<html>gateway</html>"));
    let e = stack
        .provider
        .complete(&ctx("p"), &request("gpt-4o", "a"))
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::Malformed { .. }), "{e}");
    fake.push(Reply::status(200, json!({"choices": []})));
    let e = stack
        .provider
        .complete(&ctx("p"), &request("gpt-4o", "b"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no `choices[0].message`"), "{e}");
}

#[tokio::test]
async fn http_request_timeout_is_a_retryable_timeout() {
    let (fake, stack) = openai_stack(|c| {
        c.retry.max_retries = 1;
        c.breaker.failure_threshold = 2;
        c.providers.get_mut("openai").unwrap().request_timeout_ms = Some(100);
    })
    .await;
    fake.set_always(Some(
        Reply::status(200, json!({})).delay(Duration::from_secs(10)),
    ));
    let e = stack
        .provider
        .complete(&ctx("p"), &request("gpt-4o", "a"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, LlmError::Timeout(d) if d == Duration::from_millis(100)),
        "{e}"
    );
    assert_eq!(fake.hits(), 2, "timeouts are retried");
}

#[tokio::test]
async fn connection_refused_is_a_provider_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // closed again: nothing listens there now
    let mut c = config_with(
        "openai",
        ProviderKind::Openai,
        &format!("http://127.0.0.1:{port}"),
        "gpt-*",
    );
    c.retry.max_retries = 1;
    let stack = build(&c);
    let e = stack
        .provider
        .complete(&ctx("p"), &request("gpt-4o", "a"))
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::Provider { .. }), "{e}");
    assert!(e.to_string().contains("provider `openai` failed"), "{e}");
    assert_eq!(stack.metrics.snapshot().providers["openai"].retries, 1);
}

// ---- circuit breaker ----

#[tokio::test]
async fn breaker_opens_after_failures_and_recovers_after_cooldown() {
    let (fake, stack) = openai_stack(|c| {
        c.retry.max_retries = 0;
        c.breaker.failure_threshold = 3;
        c.breaker.cooldown_ms = 200;
    })
    .await;
    let p = &stack.provider;
    fake.set_always(Some(Reply::status(
        500,
        json!({"error": {"message": "down"}}),
    )));
    for i in 0..3 {
        let e = p
            .complete(&ctx("p"), &request("gpt-4o", &format!("q{i}")))
            .await
            .unwrap_err();
        assert!(matches!(e, LlmError::Provider { .. }), "{e}");
    }
    let e = p
        .complete(&ctx("p"), &request("gpt-4o", "q3"))
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::CircuitOpen { .. }), "{e}");
    assert_eq!(
        fake.hits(),
        3,
        "an open circuit does not reach the provider"
    );

    // After the cooldown one probe goes through; it fails, so the circuit re-opens.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(matches!(
        p.complete(&ctx("p"), &request("gpt-4o", "q4")).await,
        Err(LlmError::Provider { .. })
    ));
    assert!(matches!(
        p.complete(&ctx("p"), &request("gpt-4o", "q5")).await,
        Err(LlmError::CircuitOpen { .. })
    ));
    assert_eq!(fake.hits(), 4);

    // Upstream recovers; the next probe closes the circuit.
    fake.set_always(None);
    tokio::time::sleep(Duration::from_millis(250)).await;
    p.complete(&ctx("p"), &request("gpt-4o", "q6"))
        .await
        .unwrap();
    p.complete(&ctx("p"), &request("gpt-4o", "q7"))
        .await
        .unwrap();
    assert_eq!(fake.hits(), 6);
    let s = stack.metrics.snapshot();
    assert_eq!(s.breaker_opens, 2);
    assert_eq!(s.providers["openai"].calls(Outcome::CircuitOpen), 2);
}

#[tokio::test]
async fn open_circuit_stops_a_retry_loop() {
    let (fake, stack) = openai_stack(|c| {
        c.retry.max_retries = 5;
        c.breaker.failure_threshold = 2;
    })
    .await;
    fake.set_always(Some(Reply::status(
        502,
        json!({"error": {"message": "bad gateway"}}),
    )));
    let e = stack
        .provider
        .complete(&ctx("p"), &request("gpt-4o", "a"))
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::CircuitOpen { .. }), "{e}");
    assert_eq!(fake.hits(), 2, "retries stop once the breaker opens");
}

// ---- deadline ----

#[tokio::test]
async fn slow_provider_is_cut_at_the_plugin_deadline() {
    let (fake, stack) = openai_stack(|c| c.breaker.failure_threshold = 1).await;
    fake.push(Reply::status(200, json!({})).delay(Duration::from_secs(10)));
    let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
    let start = Instant::now();
    let e = stack
        .provider
        .complete(
            &ctx("p").with_deadline(Some(deadline)),
            &request("gpt-4o", "a"),
        )
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert!(matches!(e, LlmError::Timeout(_)), "{e}");
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_millis(800),
        "took {took:?}"
    );
    // A caller's deadline is not an upstream failure: the breaker (threshold 1) stays closed.
    assert_eq!(stack.metrics.snapshot().breaker_opens, 0);
    assert_eq!(
        stack.metrics.snapshot().providers["openai"].calls(Outcome::Timeout),
        1
    );
}

#[tokio::test]
async fn chain_reports_the_timeout_even_under_the_hosts_own_timer() {
    // The host wraps the call in `tokio::time::timeout(remaining)` for the same
    // deadline; the chain's timer must win so the call is still metered.
    let (fake, stack) = openai_stack(|_| {}).await;
    fake.push(Reply::status(200, json!({})).delay(Duration::from_secs(10)));
    let cx = ctx("p").with_deadline(Some(
        tokio::time::Instant::now() + Duration::from_millis(150),
    ));
    let remaining = cx.remaining().unwrap();
    let r = tokio::time::timeout(
        remaining,
        stack.provider.complete(&cx, &request("gpt-4o", "a")),
    )
    .await;
    assert!(matches!(r, Ok(Err(LlmError::Timeout(_)))), "{r:?}");
    assert_eq!(
        stack.metrics.snapshot().providers["openai"].calls(Outcome::Timeout),
        1
    );
}

#[tokio::test]
async fn config_call_timeout_applies_without_a_plugin_deadline() {
    let (fake, stack) = openai_stack(|c| {
        c.call_timeout_ms = 150;
        c.retry.max_retries = 0;
    })
    .await;
    fake.push(Reply::status(200, json!({})).delay(Duration::from_secs(10)));
    let start = Instant::now();
    let e = stack
        .provider
        .complete(&ctx("p"), &request("gpt-4o", "a"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, LlmError::Timeout(d) if d == Duration::from_millis(150)),
        "{e}"
    );
    assert!(start.elapsed() < Duration::from_millis(800));
}

#[tokio::test]
async fn an_expired_deadline_fails_without_calling_the_provider() {
    let (fake, stack) = openai_stack(|_| {}).await;
    let past = tokio::time::Instant::now();
    let e = stack
        .provider
        .complete(&ctx("p").with_deadline(Some(past)), &request("gpt-4o", "a"))
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::Timeout(_)), "{e}");
    assert_eq!(fake.hits(), 0);
}

// ---- keys ----

#[tokio::test]
async fn keys_never_appear_in_errors_or_logs() {
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // Server that echoes the key it got in every error, like some real APIs do.
    let fake = Fake::new();
    let base = spawn(openai_app(
        fake.clone(),
        Some("sk-the-server-wants-another-key"),
    ))
    .await;
    let mut c = config_with("openai", ProviderKind::Openai, &base, "gpt-*");
    c.retry.max_retries = 1;
    let stack = build(&c);
    let mut errors = vec![];
    for i in 0..2 {
        let e = stack
            .provider
            .complete(&ctx("p"), &request("gpt-4o", &format!("{i}")))
            .await
            .unwrap_err();
        assert!(matches!(e, LlmError::Unauthorized { .. }), "{e}");
        errors.push(format!("{e} {e:?}"));
    }
    // And a server error body that quotes the key, which is retried and logged.
    let (fake2, stack2) = openai_stack(|_| {}).await;
    // Callsite interest is cached process-wide: another test thread of this binary
    // may have registered the retry event while no subscriber wanted it, and the
    // event is then skipped even here. Recompute it with this thread's subscriber
    // in place (seen once in a full workspace run: the retry happened, its DEBUG
    // line was missing from the capture).
    tracing::callsite::rebuild_interest_cache();
    fake2.set_always(Some(Reply::status(
        500,
        json!({"error": {"message": format!("internal error while using key {OPENAI_KEY}")}}),
    )));
    let e = stack2
        .provider
        .complete(&ctx("p"), &request("gpt-4o", "x"))
        .await
        .unwrap_err();
    errors.push(format!("{e} {e:?}"));
    errors.push(format!("{:?}", stack2));

    let text = logs.text();
    assert!(text.contains("llm.call"), "log capture works: {text}");
    assert!(text.contains("retrying llm call"), "{text}");
    for needle in [OPENAI_KEY, &OPENAI_KEY[..10], "7f3a9c1e5b2d4f60"] {
        for e in &errors {
            assert!(!e.contains(needle), "error leaks key: {e}");
        }
        assert!(!text.contains(needle), "log leaks key: {text}");
    }
    assert!(errors[2].contains("[redacted]"), "{}", errors[2]);
}

// ---- observability ----

#[tokio::test]
async fn each_call_logs_a_span_with_provider_model_plugin_tokens_and_outcome() {
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (_fake, stack) = openai_stack(|c| {
        c.prices.push(djinn_llm::config::PriceConfig {
            model: "gpt-*".into(),
            input_per_mtok: 1.0,
            output_per_mtok: 2.0,
        })
    })
    .await;
    stack
        .provider
        .complete(&ctx("forecaster"), &request("gpt-4o", "hi"))
        .await
        .unwrap();
    stack
        .provider
        .complete(&ctx("forecaster"), &request("gpt-4o", "hi"))
        .await
        .unwrap();
    let text = logs.text();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("llm call finished"))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    for field in [
        "provider=\"openai\"",
        "model=gpt-4o",
        "plugin=forecaster",
        "input_tokens=12",
        "output_tokens=5",
        "outcome=\"ok\"",
        "retries=0",
    ] {
        assert!(
            lines.iter().all(|l| l.contains(field)),
            "{field} missing: {text}"
        );
    }
    assert!(
        lines[0].contains("cache_hit=false") && lines[0].contains("cost_micros=22"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("cache_hit=true") && lines[1].contains("cost_micros=0"),
        "{}",
        lines[1]
    );
    let prom = stack.metrics.snapshot().to_prometheus();
    assert!(
        prom.contains("djinn_llm_calls_total{provider=\"openai\",outcome=\"ok\"} 2"),
        "{prom}"
    );
    assert!(
        prom.contains("djinn_llm_cost_micros_total{provider=\"openai\"} 22"),
        "{prom}"
    );
}
