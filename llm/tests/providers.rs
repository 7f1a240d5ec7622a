//! One test per wire format, each through the full standard chain built from
//! `LlmConfig` (router → metered → cache → budget → deadline → retry → breaker
//! → HTTP client) against a fake server on 127.0.0.1 that checks the request
//! the way the real API does and answers with the real API's response shape.

mod common;

use std::sync::Arc;

use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use common::*;
use djinn_llm::{LlmError, Outcome, ProviderKind};
use serde_json::{Value, json};

#[tokio::test]
async fn openai_wire_format_through_full_chain() {
    let fake = Fake::new();
    let base = spawn(openai_app(fake.clone(), Some(OPENAI_KEY))).await;
    let stack = build(&config_with("openai", ProviderKind::Openai, &base, "gpt-*"));
    let r = stack
        .provider
        .complete(&ctx("analyzer"), &request("gpt-4o-mini", "hello"))
        .await
        .unwrap();
    assert_eq!(r.text, "echo: hello (t=0.2)");
    assert_eq!(r.model, "gpt-4o-mini-2024-07-18");
    assert_eq!((r.input_tokens, r.output_tokens), (12, 5));
    let body = fake.bodies.lock().unwrap()[0].clone();
    assert_eq!(
        body,
        json!({"model": "gpt-4o-mini",
               "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "hello"}],
               "temperature": 0.2, "max_tokens": 64})
    );
    let s = stack.metrics.snapshot();
    assert_eq!(s.providers["openai"].calls(Outcome::Ok), 1);
    assert_eq!((s.input_tokens, s.output_tokens), (12, 5));
}

#[tokio::test]
async fn openai_compatible_server_without_key_sends_no_auth_header() {
    // vLLM / llama.cpp server style: same path, no key.
    let fake = Fake::new();
    let base = spawn(openai_app(fake.clone(), None)).await;
    let mut c = config_with("vllm", ProviderKind::Openai, &base, "qwen*");
    c.providers.get_mut("vllm").unwrap().require_key = Some(false);
    c.providers.get_mut("vllm").unwrap().api_key_env = Some(String::new());
    let stack = build(&c);
    let r = stack
        .provider
        .complete(&ctx("p"), &request("qwen2.5", "hi"))
        .await
        .unwrap();
    assert_eq!(r.input_tokens, 12);
    assert_eq!(fake.hits(), 1);
}

fn anthropic_app(fake: Arc<Fake>) -> axum::Router {
    axum::Router::new().route(
        "/v1/messages",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let fake = fake.clone();
            async move {
                let err = |status: StatusCode, t: &str, m: String| {
                    (status, Json(json!({"type": "error", "error": {"type": t, "message": m}}))).into_response()
                };
                if header(&headers, "x-api-key") != Some(ANTHROPIC_KEY) {
                    return err(StatusCode::UNAUTHORIZED, "authentication_error", "invalid x-api-key".into());
                }
                if header(&headers, "anthropic-version") != Some("2023-06-01") {
                    return err(StatusCode::BAD_REQUEST, "invalid_request_error", "anthropic-version header is required".into());
                }
                if headers.contains_key("authorization") {
                    return err(StatusCode::BAD_REQUEST, "invalid_request_error", "unexpected authorization header".into());
                }
                let Ok(body) = serde_json::from_str::<Value>(&body) else {
                    return err(StatusCode::BAD_REQUEST, "invalid_request_error", "not JSON".into());
                };
                if let Some(r) = fake.next(&body).await {
                    return r;
                }
                if !body["max_tokens"].is_u64() {
                    return err(StatusCode::BAD_REQUEST, "invalid_request_error", "max_tokens: Field required".into());
                }
                let Some(messages) = body["messages"].as_array() else {
                    return err(StatusCode::BAD_REQUEST, "invalid_request_error", "messages: Field required".into());
                };
                if messages.iter().any(|m| m["role"] != "user" && m["role"] != "assistant") {
                    return err(StatusCode::BAD_REQUEST, "invalid_request_error",
                        "messages: roles must be user or assistant; use the top-level system parameter".into());
                }
                if !body["system"].is_string() && !body["system"].is_null() {
                    return err(StatusCode::BAD_REQUEST, "invalid_request_error", "system must be a string".into());
                }
                let last = messages.last().and_then(|m| m["content"].as_str()).unwrap_or("");
                Json(json!({
                    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
                    "type": "message",
                    "role": "assistant",
                    "model": body["model"],
                    "content": [{"type": "text", "text": echo(last, &body["temperature"])}],
                    "stop_reason": "end_turn",
                    "stop_sequence": null,
                    "usage": {"input_tokens": 21, "output_tokens": 7,
                              "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
                }))
                .into_response()
            }
        }),
    )
}

#[tokio::test]
async fn anthropic_wire_format_through_full_chain() {
    let fake = Fake::new();
    let base = spawn(anthropic_app(fake.clone())).await;
    let stack = build(&config_with(
        "anthropic",
        ProviderKind::Anthropic,
        &base,
        "claude-*",
    ));
    let mut req = request("claude-3-5-haiku-latest", "hello");
    req.max_tokens = None; // the provider must still send one
    let r = stack.provider.complete(&ctx("p"), &req).await.unwrap();
    assert!(r.text.starts_with("echo: hello"), "{}", r.text);
    assert_eq!((r.input_tokens, r.output_tokens), (21, 7));
    let body = fake.bodies.lock().unwrap()[0].clone();
    assert_eq!(body["system"], "You are terse.");
    assert_eq!(body["max_tokens"], 1024);
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "hello"}])
    );
}

#[tokio::test]
async fn anthropic_overloaded_529_is_retried() {
    let fake = Fake::new();
    let base = spawn(anthropic_app(fake.clone())).await;
    fake.push(Reply::status(
        529,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ));
    let stack = build(&config_with(
        "anthropic",
        ProviderKind::Anthropic,
        &base,
        "claude-*",
    ));
    let r = stack
        .provider
        .complete(&ctx("p"), &request("claude-x", "hello"))
        .await
        .unwrap();
    assert_eq!(r.output_tokens, 7);
    assert_eq!(fake.hits(), 2);
    assert_eq!(stack.metrics.snapshot().providers["anthropic"].retries, 1);
}

fn gemini_app(fake: Arc<Fake>) -> axum::Router {
    axum::Router::new().route(
        "/v1beta/models/{model_action}",
        axum::routing::post(
            move |Path(model_action): Path<String>, uri: axum::http::Uri, headers: HeaderMap, body: String| {
                let fake = fake.clone();
                async move {
                    let err = |status: StatusCode, m: String| {
                        (status, Json(json!({"error": {"code": status.as_u16(), "message": m, "status": "INVALID_ARGUMENT"}}))).into_response()
                    };
                    let Some(model) = model_action.strip_suffix(":generateContent") else {
                        return err(StatusCode::NOT_FOUND, format!("unknown method in {model_action}"));
                    };
                    if header(&headers, "x-goog-api-key") != Some(GEMINI_KEY) {
                        return err(StatusCode::FORBIDDEN, "API key not valid. Please pass a valid API key.".into());
                    }
                    if uri.query().is_some() {
                        return err(StatusCode::BAD_REQUEST, "key must not be in the query".into());
                    }
                    let Ok(body) = serde_json::from_str::<Value>(&body) else {
                        return err(StatusCode::BAD_REQUEST, "Invalid JSON payload".into());
                    };
                    if let Some(r) = fake.next(&body).await {
                        return r;
                    }
                    let Some(contents) = body["contents"].as_array() else {
                        return err(StatusCode::BAD_REQUEST, "contents is required".into());
                    };
                    for c in contents {
                        if (c["role"] != "user" && c["role"] != "model") || !c["parts"][0]["text"].is_string() {
                            return err(StatusCode::BAD_REQUEST, format!("bad content {c}"));
                        }
                    }
                    let last = contents.last().and_then(|c| c["parts"][0]["text"].as_str()).unwrap_or("");
                    Json(json!({
                        "candidates": [{
                            "content": {"parts": [{"text": echo(last, &body["generationConfig"]["temperature"])}], "role": "model"},
                            "finishReason": "STOP",
                            "avgLogprobs": -0.1,
                            "index": 0
                        }],
                        "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 3, "totalTokenCount": 11,
                                          "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 8}]},
                        "modelVersion": format!("{model}-002"),
                        "responseId": "abc123"
                    }))
                    .into_response()
                }
            },
        ),
    )
}

#[tokio::test]
async fn gemini_wire_format_through_full_chain() {
    let fake = Fake::new();
    let base = spawn(gemini_app(fake.clone())).await;
    let stack = build(&config_with(
        "gemini",
        ProviderKind::Gemini,
        &base,
        "gemini-*",
    ));
    let r = stack
        .provider
        .complete(&ctx("p"), &request("gemini-1.5-flash", "hello"))
        .await
        .unwrap();
    assert!(r.text.starts_with("echo: hello"), "{}", r.text);
    assert_eq!(r.model, "gemini-1.5-flash-002");
    assert_eq!((r.input_tokens, r.output_tokens), (8, 3));
    let body = fake.bodies.lock().unwrap()[0].clone();
    assert_eq!(
        body["systemInstruction"],
        json!({"parts": [{"text": "You are terse."}]})
    );
    assert_eq!(
        body["contents"],
        json!([{"role": "user", "parts": [{"text": "hello"}]}])
    );
    assert_eq!(body["generationConfig"]["maxOutputTokens"], 64);
}

#[tokio::test]
async fn gemini_blocked_prompt_is_rejected_not_retried() {
    let fake = Fake::new();
    let base = spawn(gemini_app(fake.clone())).await;
    fake.push(Reply::status(200, json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 8}})));
    let stack = build(&config_with(
        "gemini",
        ProviderKind::Gemini,
        &base,
        "gemini-*",
    ));
    let e = stack
        .provider
        .complete(&ctx("p"), &request("gemini-1.5-flash", "hello"))
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::Rejected { .. }), "{e}");
    assert!(e.to_string().contains("SAFETY"));
    assert_eq!(fake.hits(), 1);
}

fn ollama_app(fake: Arc<Fake>) -> axum::Router {
    axum::Router::new().route(
        "/api/chat",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let fake = fake.clone();
            async move {
                let err = |m: String| (StatusCode::BAD_REQUEST, Json(json!({"error": m}))).into_response();
                if headers.contains_key("authorization") {
                    return err("unexpected authorization header".into());
                }
                let Ok(body) = serde_json::from_str::<Value>(&body) else {
                    return err("invalid JSON".into());
                };
                if let Some(r) = fake.next(&body).await {
                    return r;
                }
                if body["stream"] != false {
                    return err("this fake only answers stream:false (ollama streams by default)".into());
                }
                let Some(messages) = body["messages"].as_array() else {
                    return err("messages required".into());
                };
                let last = messages.last().and_then(|m| m["content"].as_str()).unwrap_or("");
                Json(json!({
                    "model": body["model"],
                    "created_at": "2024-07-22T20:33:28.123648Z",
                    "message": {"role": "assistant", "content": echo(last, &body["options"]["temperature"])},
                    "done_reason": "stop",
                    "done": true,
                    "total_duration": 1_253_021_958u64,
                    "load_duration": 14_412_541u64,
                    "prompt_eval_count": 26,
                    "prompt_eval_duration": 100_000_000u64,
                    "eval_count": 9,
                    "eval_duration": 1_000_000_000u64
                }))
                .into_response()
            }
        }),
    )
}

#[tokio::test]
async fn ollama_wire_format_through_full_chain() {
    let fake = Fake::new();
    let base = spawn(ollama_app(fake.clone())).await;
    // No base_url in config: OLLAMA_HOST (here without a scheme) supplies it.
    let mut c = config_with("ollama", ProviderKind::Ollama, &base, "llama*");
    c.providers.get_mut("ollama").unwrap().base_url = None;
    let host = base.trim_start_matches("http://").to_owned();
    let stack = c
        .build_with(
            &move |k| (k == "OLLAMA_HOST").then(|| host.clone()),
            Arc::new(djinn_llm::MemoryLedger::new()),
        )
        .unwrap();
    let r = stack
        .provider
        .complete(&ctx("p"), &request("llama3.2", "hello"))
        .await
        .unwrap();
    assert!(r.text.starts_with("echo: hello"), "{}", r.text);
    assert_eq!((r.input_tokens, r.output_tokens), (26, 9));
    let body = fake.bodies.lock().unwrap()[0].clone();
    assert_eq!(body["stream"], false);
    assert_eq!(body["options"]["num_predict"], 64);
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "You are terse."})
    );
}

#[tokio::test]
async fn mock_is_the_default_route() {
    let stack = build(&djinn_llm::LlmConfig::default());
    let r = stack
        .provider
        .complete(&ctx("p"), &request("anything", "hello"))
        .await
        .unwrap();
    assert!(r.text.starts_with("[mock "), "{}", r.text);
    assert_eq!(
        stack.metrics.snapshot().providers["mock"].calls(Outcome::Ok),
        1
    );
}
