//! A real plugin's `llm.complete` through the host's grant check and the whole
//! provider chain to an OpenAI-compatible server on loopback.

mod common;

use common::msg;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::{Json, Router, http::HeaderMap, routing::post};
use djinn::Runtime;
use djinn::audit::{AuditKind, MemoryAudit};
use djinn::capabilities::Services;
use djinn::runtime::{Fault, Manifest, Message, Plugin};
use djinn_llm::{LlmConfig, MemoryLedger};
use serde_json::{Value, json};

const KEY: &str = "sk-test-do-not-leak-123";

/// Checks the request as OpenAI's API expects it and answers in its shape.
async fn fake_openai(calls: Arc<AtomicUsize>) -> String {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |headers: HeaderMap, Json(body): Json<Value>| {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                assert_eq!(headers["authorization"], format!("Bearer {KEY}"));
                assert_eq!(body["model"], "gpt-4o-mini");
                let prompt = body["messages"][0]["content"].as_str().unwrap_or_default().to_owned();
                assert_eq!(body["messages"][0]["role"], "user");
                Json(json!({
                    "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": format!("fake says: {prompt}")}}],
                    "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

struct Setup {
    runtime: Runtime,
    audit: Arc<MemoryAudit>,
    calls: Arc<AtomicUsize>,
}

async fn setup() -> Setup {
    let calls = Arc::new(AtomicUsize::new(0));
    let base = fake_openai(calls.clone()).await;
    let mut config = LlmConfig::default();
    config.providers.get_mut("openai").unwrap().base_url = Some(base);
    let stack = config
        .build_with(
            &|k| (k == "OPENAI_API_KEY").then(|| KEY.to_owned()),
            Arc::new(MemoryLedger::new()),
        )
        .unwrap();
    let audit = Arc::new(MemoryAudit::new());
    let services = Services {
        llm: stack.provider.clone(),
        audit: audit.clone(),
        ..Services::default()
    };
    let runtime_config = common::runtime_config();
    Setup {
        runtime: Runtime::new(runtime_config, services).unwrap(),
        audit,
        calls,
    }
}

async fn hostile_with_llm(rt: &Runtime, models: &str, budget: Option<u64>) -> Arc<Plugin> {
    let b = djinn_plugins::get("hostile").unwrap();
    let mut grant = format!("[grants.llm]\nmodels = {models}\nmax_tokens_per_call = 64\n");
    if let Some(budget) = budget {
        grant.push_str(&format!("daily_token_budget = {budget}\n"));
    }
    let text = b.manifest.replace(
        "[grants.llm]\nmodels = [\"mock\"]\nmax_tokens_per_call = 64\n",
        &grant,
    );
    rt.load(b.wasm, Manifest::parse(&text).unwrap())
        .await
        .unwrap()
}

fn plugin_error(r: djinn::runtime::CallReport<Vec<Message>>) -> String {
    match r.outcome {
        Err(Fault::PluginError { message, .. }) => message,
        other => panic!("expected a plugin error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_goes_through_the_chain_and_a_repeat_is_a_cache_hit() {
    let s = setup().await;
    let p = hostile_with_llm(&s.runtime, r#"["gpt-4o-mini"]"#, None).await;
    for _ in 0..2 {
        let out = p
            .handle(&msg("llm", "what is my net"))
            .await
            .outcome
            .unwrap();
        assert_eq!(out[0].payload, "fake says: what is my net");
    }
    assert_eq!(
        s.calls.load(Ordering::SeqCst),
        1,
        "the repeat was served from the cache"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_over_its_daily_budget_is_denied_and_another_is_not() {
    let s = setup().await;
    // Each call costs 12 tokens; the budget stops calls once 20 are used.
    let capped = hostile_with_llm(&s.runtime, r#"["gpt-4o-mini"]"#, Some(20)).await;
    for prompt in ["one", "two"] {
        assert!(capped.handle(&msg("llm", prompt)).await.outcome.is_ok());
    }
    let err = plugin_error(capped.handle(&msg("llm", "three")).await);
    assert!(err.contains("BudgetExceeded"), "{err}");
    assert_eq!(
        s.calls.load(Ordering::SeqCst),
        2,
        "the denied call never reached the provider"
    );

    let b = djinn_plugins::get("hello-llm").unwrap();
    let other = s
        .runtime
        .load(b.wasm, Manifest::parse(b.manifest).unwrap())
        .await
        .unwrap();
    let out = other
        .handle(&msg("hello", r#"{"question": "three"}"#))
        .await
        .outcome
        .unwrap();
    assert!(out[0].payload.contains("three"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ungranted_model_is_denied_to_the_plugin_and_audited() {
    let s = setup().await;
    // Only patterns, so the plugin's request (no model named) has no granted default;
    // and the grant does not cover gpt-4o-mini anyway.
    let p = hostile_with_llm(&s.runtime, r#"["claude-*"]"#, None).await;
    let err = plugin_error(p.handle(&msg("llm", "hi")).await);
    assert!(err.contains("Denied"), "{err}");
    assert_eq!(s.calls.load(Ordering::SeqCst), 0);
    let events = s.audit.events();
    assert!(
        events
            .iter()
            .any(|e| e.kind == AuditKind::LlmDenial && e.plugin.as_deref() == Some("hostile")),
        "{events:?}"
    );
    assert!(!format!("{events:?}{err}").contains(KEY));
}
