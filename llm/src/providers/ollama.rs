//! Ollama's native chat API: `POST {base}/api/chat` with `stream: false`.
//!
//! No key. Token counts are `prompt_eval_count` and `eval_count`; Ollama omits
//! `prompt_eval_count` when the prompt was served from its own KV cache, which
//! we report as 0 input tokens.

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use serde_json::{Map, Value, json};

use super::{HttpSettings, client, malformed, post_json, tokens};
use crate::{CallContext, CompletionRequest, CompletionResponse, LlmError, Provider};

/// A client for a local or remote Ollama server.
#[derive(Debug)]
pub struct OllamaProvider {
    settings: HttpSettings,
    client: reqwest::Client,
    url: String,
}

impl OllamaProvider {
    pub fn new(settings: HttpSettings) -> Result<Self, String> {
        Ok(Self {
            client: client(&settings)?,
            url: settings.url("/api/chat"),
            settings,
        })
    }

    fn body(req: &CompletionRequest) -> Value {
        let mut options = Map::new();
        if let Some(t) = req.temperature {
            options.insert("temperature".into(), json!(super::temperature(t)));
        }
        if let Some(n) = req.max_tokens {
            options.insert("num_predict".into(), json!(n));
        }
        let mut body = Map::new();
        body.insert("model".into(), json!(req.model));
        body.insert(
            "messages".into(),
            Value::Array(
                req.messages
                    .iter()
                    .map(|m| json!({"role": m.role, "content": m.content}))
                    .collect(),
            ),
        );
        body.insert("stream".into(), json!(false));
        if !options.is_empty() {
            body.insert("options".into(), Value::Object(options));
        }
        Value::Object(body)
    }

    fn parse(&self, req: &CompletionRequest, v: &Value) -> Result<CompletionResponse, LlmError> {
        let Some(text) = v["message"]["content"].as_str() else {
            return Err(malformed(&self.settings.name, "no `message.content`", v));
        };
        Ok(CompletionResponse {
            text: text.to_owned(),
            model: v["model"].as_str().unwrap_or(&req.model).to_owned(),
            input_tokens: tokens(&v["prompt_eval_count"]),
            output_tokens: tokens(&v["eval_count"]),
        })
    }
}

#[async_trait]
impl Provider for OllamaProvider {
    fn name(&self) -> &str {
        &self.settings.name
    }

    async fn complete(
        &self,
        _ctx: &CallContext,
        req: &CompletionRequest,
    ) -> Result<CompletionResponse, LlmError> {
        let v = post_json(
            &self.client,
            &self.settings,
            &self.url,
            HeaderMap::new(),
            &Self::body(req),
        )
        .await?;
        self.parse(req, &v)
    }
}
