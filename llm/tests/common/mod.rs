//! Test support: real HTTP servers on 127.0.0.1 that speak each provider's
//! wire format and check requests the way the real APIs would.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use djinn_llm::{
    CallContext, ChatMessage, CompletionRequest, LlmConfig, LlmStack, MemoryLedger, ProviderConfig,
    ProviderKind, RouteConfig, UsageLedger,
};
use serde_json::{Value, json};

pub const OPENAI_KEY: &str = "sk-test-openai-7f3a9c1e5b2d4f60";
pub const ANTHROPIC_KEY: &str = "sk-ant-test-91b2c3d4e5f60718";
pub const GEMINI_KEY: &str = "AIzaTestGemini0123456789abcdef";

/// Serves `app` on an ephemeral loopback port; returns its base URL.
pub async fn spawn(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// A scripted reply; when the script is empty the server answers normally.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: vec![],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }
    pub fn raw(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![],
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

/// Shared state of a fake server: hits, scripted replies, a sticky failure mode.
#[derive(Default)]
pub struct Fake {
    pub hits: AtomicUsize,
    pub script: Mutex<VecDeque<Reply>>,
    /// When set, every request gets this reply (until cleared).
    pub always: Mutex<Option<Reply>>,
    pub bodies: Mutex<Vec<Value>>,
}

impl Fake {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
    pub fn push(&self, r: Reply) {
        self.script.lock().unwrap().push_back(r);
    }
    pub fn set_always(&self, r: Option<Reply>) {
        *self.always.lock().unwrap() = r;
    }
    /// Counts the hit and returns the scripted reply, if any.
    pub async fn next(&self, body: &Value) -> Option<Response> {
        self.hits.fetch_add(1, Ordering::SeqCst);
        self.bodies.lock().unwrap().push(body.clone());
        let r = {
            let always = self.always.lock().unwrap().clone();
            always.or_else(|| self.script.lock().unwrap().pop_front())
        }?;
        if !r.delay.is_zero() {
            tokio::time::sleep(r.delay).await;
        }
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        for (n, v) in r.headers {
            headers.insert(
                HeaderName::from_static(n),
                HeaderValue::from_str(&v).unwrap(),
            );
        }
        Some((StatusCode::from_u16(r.status).unwrap(), headers, r.body).into_response())
    }
}

/// What a real API answers to a request it cannot parse.
pub fn bad_request(why: impl Into<String>) -> Response {
    let why = why.into();
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": {"type": "invalid_request_error", "message": format!("fake server: {why}")}})),
    )
        .into_response()
}

pub fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The text the fake servers answer with: derived from the request so cache
/// tests can tell answers apart.
pub fn echo(last_user: &str, temperature: &Value) -> String {
    format!("echo: {last_user} (t={temperature})")
}

/// An OpenAI Chat Completions fake that checks path, auth, content type and body shape.
pub fn openai_app(fake: Arc<Fake>, expected_key: Option<&'static str>) -> axum::Router {
    axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let fake = fake.clone();
            async move {
                let Ok(body) = serde_json::from_str::<Value>(&body) else {
                    return bad_request("body is not JSON");
                };
                match expected_key {
                    Some(k) => {
                        let want = format!("Bearer {k}");
                        if header(&headers, "authorization") != Some(want.as_str()) {
                            // Like OpenAI: the rejected key is echoed back.
                            let got = header(&headers, "authorization").unwrap_or("").to_owned();
                            return (
                                StatusCode::UNAUTHORIZED,
                                Json(json!({"error": {"message": format!("Incorrect API key provided: {got}"), "type": "invalid_request_error", "code": "invalid_api_key"}})),
                            )
                                .into_response();
                        }
                    }
                    None => {
                        if headers.contains_key("authorization") {
                            return bad_request("unexpected authorization header");
                        }
                    }
                }
                if !header(&headers, "content-type").is_some_and(|c| c.starts_with("application/json")) {
                    return bad_request("content-type must be application/json");
                }
                if let Some(r) = fake.next(&body).await {
                    return r;
                }
                let Some(model) = body["model"].as_str() else {
                    return bad_request("missing model");
                };
                let Some(messages) = body["messages"].as_array() else {
                    return bad_request("missing messages");
                };
                for m in messages {
                    let role = m["role"].as_str().unwrap_or("");
                    if !["system", "user", "assistant", "developer", "tool"].contains(&role) || !m["content"].is_string() {
                        return bad_request(format!("bad message {m}"));
                    }
                }
                let last_user = messages.iter().rev().find(|m| m["role"] == "user").and_then(|m| m["content"].as_str()).unwrap_or("");
                Json(json!({
                    "id": "chatcmpl-AbC123",
                    "object": "chat.completion",
                    "created": 1_731_000_000,
                    "model": format!("{model}-2024-07-18"),
                    "choices": [{
                        "index": 0,
                        "message": {"role": "assistant", "content": echo(last_user, &body["temperature"]), "refusal": null},
                        "logprobs": null,
                        "finish_reason": "stop"
                    }],
                    "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17,
                              "prompt_tokens_details": {"cached_tokens": 0}},
                    "system_fingerprint": "fp_0123456789"
                }))
                .into_response()
            }
        }),
    )
}

/// A config with only `mock` and one provider `name` of `kind` at `base`,
/// routed by `pattern`, and fast wrapper settings for tests.
pub fn config_with(name: &str, kind: ProviderKind, base: &str, pattern: &str) -> LlmConfig {
    let mut c = LlmConfig::default();
    c.providers.retain(|n, _| n == "mock");
    c.providers
        .insert(name.into(), ProviderConfig::new(kind).with_base_url(base));
    c.routes = vec![RouteConfig::new(pattern, name)];
    c.retry.base_delay_ms = 10;
    c.retry.max_delay_ms = 50;
    c.breaker.cooldown_ms = 200;
    c.call_timeout_ms = 5_000;
    c
}

pub fn env(k: &str) -> Option<String> {
    match k {
        "OPENAI_API_KEY" => Some(OPENAI_KEY.into()),
        "ANTHROPIC_API_KEY" => Some(ANTHROPIC_KEY.into()),
        "GEMINI_API_KEY" => Some(GEMINI_KEY.into()),
        _ => None,
    }
}

pub fn build(c: &LlmConfig) -> LlmStack {
    c.build_with(&env, Arc::new(MemoryLedger::new()))
        .expect("config builds")
}

pub fn build_with_ledger(c: &LlmConfig, ledger: Arc<dyn UsageLedger>) -> LlmStack {
    c.build_with(&env, ledger).expect("config builds")
}

pub fn request(model: &str, prompt: &str) -> CompletionRequest {
    CompletionRequest {
        model: model.into(),
        messages: vec![
            ChatMessage {
                role: "system".into(),
                content: "You are terse.".into(),
            },
            ChatMessage {
                role: "user".into(),
                content: prompt.into(),
            },
        ],
        temperature: Some(0.2),
        max_tokens: Some(64),
    }
}

pub fn ctx(plugin: &str) -> CallContext {
    CallContext::new(plugin)
}

/// A `MakeWriter` that appends every log line to a shared buffer.
#[derive(Clone, Default)]
pub struct LogBuffer(pub Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
