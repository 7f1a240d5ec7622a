//! Anthropic Messages API: `POST {base}/v1/messages`.
//!
//! Differences from the OpenAI shape that matter here: the key goes in
//! `x-api-key` with a pinned `anthropic-version`, system prompts are a
//! top-level `system` string rather than a message, only `user` and
//! `assistant` roles exist, and `max_tokens` is required.

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};

use super::{HttpSettings, client, malformed, post_json, secret_header, tokens};
use crate::{CallContext, CompletionRequest, CompletionResponse, LlmError, Provider};

/// The API version this client speaks.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// A client for the Anthropic Messages API.
#[derive(Debug)]
pub struct AnthropicProvider {
    settings: HttpSettings,
    client: reqwest::Client,
    url: String,
    default_max_tokens: u32,
}

impl AnthropicProvider {
    /// `default_max_tokens` fills the required `max_tokens` when the request has none.
    pub fn new(settings: HttpSettings, default_max_tokens: u32) -> Result<Self, String> {
        match &settings.api_key {
            Some(k) => {
                secret_header("x-api-key", k, "")?;
            }
            None => {
                return Err(format!(
                    "provider `{}` (anthropic) needs an API key",
                    settings.name
                ));
            }
        }
        Ok(Self {
            client: client(&settings)?,
            url: settings.url("/v1/messages"),
            settings,
            default_max_tokens,
        })
    }

    fn body(&self, req: &CompletionRequest) -> Value {
        let system: Vec<&str> = req
            .messages
            .iter()
            .filter(|m| m.role == "system")
            .map(|m| m.content.as_str())
            .collect();
        let messages: Vec<Value> = req
            .messages
            .iter()
            .filter(|m| m.role != "system")
            .map(|m| {
                let role = if m.role == "assistant" {
                    "assistant"
                } else {
                    "user"
                };
                json!({"role": role, "content": m.content})
            })
            .collect();
        let mut body = Map::new();
        body.insert("model".into(), json!(req.model));
        body.insert(
            "max_tokens".into(),
            json!(req.max_tokens.unwrap_or(self.default_max_tokens)),
        );
        if !system.is_empty() {
            body.insert("system".into(), json!(system.join("\n\n")));
        }
        body.insert("messages".into(), Value::Array(messages));
        if let Some(t) = req.temperature {
            body.insert("temperature".into(), json!(super::temperature(t)));
        }
        Value::Object(body)
    }

    fn parse(&self, req: &CompletionRequest, v: &Value) -> Result<CompletionResponse, LlmError> {
        let name = &self.settings.name;
        let Some(blocks) = v["content"].as_array() else {
            return Err(malformed(name, "no `content` array", v));
        };
        let text: String = blocks
            .iter()
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str())
            .collect();
        let usage = &v["usage"];
        if !usage.is_object() {
            return Err(malformed(name, "no `usage`", v));
        }
        Ok(CompletionResponse {
            text,
            model: v["model"].as_str().unwrap_or(&req.model).to_owned(),
            input_tokens: tokens(&usage["input_tokens"]),
            output_tokens: tokens(&usage["output_tokens"]),
        })
    }
}

#[async_trait]
impl Provider for AnthropicProvider {
    fn name(&self) -> &str {
        &self.settings.name
    }

    async fn complete(
        &self,
        _ctx: &CallContext,
        req: &CompletionRequest,
    ) -> Result<CompletionResponse, LlmError> {
        let mut headers = HeaderMap::new();
        let (n, v) =
            secret_header("x-api-key", self.settings.required_key()?, "").map_err(|m| {
                LlmError::Unauthorized {
                    provider: self.settings.name.clone(),
                    message: m,
                }
            })?;
        headers.insert(n, v);
        headers.insert(
            "anthropic-version",
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
        let v = post_json(
            &self.client,
            &self.settings,
            &self.url,
            headers,
            &self.body(req),
        )
        .await?;
        self.parse(req, &v)
    }
}
