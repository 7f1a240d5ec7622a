//! OpenAI-compatible Chat Completions: `POST {base}/v1/chat/completions`.
//!
//! The same wire format is served by vLLM, llama.cpp's server, LiteLLM and
//! others, so the base URL and the key are both optional settings: local
//! servers usually take no key, and then no `Authorization` header is sent.
//!
//! The token cap goes out as `max_completion_tokens` to OpenAI itself (its
//! reasoning models reject the deprecated `max_tokens`) and as `max_tokens`
//! to every other base URL, since older compatible servers only know that one.

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use serde_json::{Map, Value, json};

use super::{HttpSettings, client, malformed, post_json, secret_header, tokens};
use crate::{CallContext, CompletionRequest, CompletionResponse, LlmError, Provider};

/// A client for an OpenAI-compatible `/v1/chat/completions` endpoint.
#[derive(Debug)]
pub struct OpenAiProvider {
    settings: HttpSettings,
    client: reqwest::Client,
    url: String,
    max_tokens_field: &'static str,
}

impl OpenAiProvider {
    /// Fails only if the HTTP client cannot be built or the key cannot be a header.
    pub fn new(settings: HttpSettings) -> Result<Self, String> {
        if let Some(k) = &settings.api_key {
            secret_header("authorization", k, "Bearer ")?;
        }
        let official = settings
            .base_url
            .trim_end_matches('/')
            .eq_ignore_ascii_case("https://api.openai.com");
        Ok(Self {
            client: client(&settings)?,
            url: settings.url("/v1/chat/completions"),
            max_tokens_field: if official {
                "max_completion_tokens"
            } else {
                "max_tokens"
            },
            settings,
        })
    }

    fn body(&self, req: &CompletionRequest) -> Value {
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
        if let Some(t) = req.temperature {
            body.insert("temperature".into(), json!(super::temperature(t)));
        }
        if let Some(n) = req.max_tokens {
            body.insert(self.max_tokens_field.into(), json!(n));
        }
        Value::Object(body)
    }

    fn parse(&self, req: &CompletionRequest, v: &Value) -> Result<CompletionResponse, LlmError> {
        let name = &self.settings.name;
        let message = &v["choices"][0]["message"];
        if !message.is_object() {
            return Err(malformed(name, "no `choices[0].message`", v));
        }
        // `content` is null when the model only made a tool call or refused.
        let text = match &message["content"] {
            Value::String(s) => s.clone(),
            Value::Null => message["refusal"].as_str().unwrap_or_default().to_owned(),
            _ => {
                return Err(malformed(
                    name,
                    "`choices[0].message.content` is not a string",
                    v,
                ));
            }
        };
        let usage = &v["usage"];
        Ok(CompletionResponse {
            text,
            model: v["model"].as_str().unwrap_or(&req.model).to_owned(),
            input_tokens: tokens(&usage["prompt_tokens"]),
            output_tokens: tokens(&usage["completion_tokens"]),
        })
    }
}

#[async_trait]
impl Provider for OpenAiProvider {
    fn name(&self) -> &str {
        &self.settings.name
    }

    async fn complete(
        &self,
        _ctx: &CallContext,
        req: &CompletionRequest,
    ) -> Result<CompletionResponse, LlmError> {
        let mut headers = HeaderMap::new();
        if let Some(k) = &self.settings.api_key {
            let (n, v) = secret_header("authorization", k, "Bearer ").map_err(|m| {
                LlmError::Unauthorized {
                    provider: self.settings.name.clone(),
                    message: m,
                }
            })?;
            headers.insert(n, v);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_cap_field_depends_on_the_server() {
        let req = CompletionRequest {
            model: "o3-mini".into(),
            messages: vec![],
            temperature: None,
            max_tokens: Some(7),
        };
        let official =
            OpenAiProvider::new(HttpSettings::new("openai", "https://api.openai.com/")).unwrap();
        let body = official.body(&req);
        assert_eq!(body["max_completion_tokens"], 7);
        assert!(body.get("max_tokens").is_none());
        let local =
            OpenAiProvider::new(HttpSettings::new("vllm", "http://127.0.0.1:8000")).unwrap();
        assert_eq!(local.body(&req)["max_tokens"], 7);
    }
}
