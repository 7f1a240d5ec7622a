//! Google Gemini: `POST {base}/v1beta/models/{model}:generateContent`.
//!
//! The key goes in the `x-goog-api-key` header rather than the `?key=` query
//! parameter, so it never appears in a URL (and so never in a reqwest error,
//! which prints the URL). Roles are `user` and `model`; system messages go to
//! `systemInstruction`.

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use serde_json::{Map, Value, json};

use super::{HttpSettings, client, malformed, post_json, secret_header, tokens};
use crate::{CallContext, CompletionRequest, CompletionResponse, LlmError, Provider};

/// A client for the Gemini `generateContent` endpoint.
#[derive(Debug)]
pub struct GeminiProvider {
    settings: HttpSettings,
    client: reqwest::Client,
}

impl GeminiProvider {
    pub fn new(settings: HttpSettings) -> Result<Self, String> {
        match &settings.api_key {
            Some(k) => {
                secret_header("x-goog-api-key", k, "")?;
            }
            None => {
                return Err(format!(
                    "provider `{}` (gemini) needs an API key",
                    settings.name
                ));
            }
        }
        Ok(Self {
            client: client(&settings)?,
            settings,
        })
    }

    fn body(req: &CompletionRequest) -> Value {
        let system: Vec<Value> = req
            .messages
            .iter()
            .filter(|m| m.role == "system")
            .map(|m| json!({"text": m.content}))
            .collect();
        let contents: Vec<Value> = req
            .messages
            .iter()
            .filter(|m| m.role != "system")
            .map(|m| {
                let role = if m.role == "assistant" || m.role == "model" {
                    "model"
                } else {
                    "user"
                };
                json!({"role": role, "parts": [{"text": m.content}]})
            })
            .collect();
        let mut body = Map::new();
        body.insert("contents".into(), Value::Array(contents));
        if !system.is_empty() {
            body.insert("systemInstruction".into(), json!({"parts": system}));
        }
        let mut gen_config = Map::new();
        if let Some(t) = req.temperature {
            gen_config.insert("temperature".into(), json!(super::temperature(t)));
        }
        if let Some(n) = req.max_tokens {
            gen_config.insert("maxOutputTokens".into(), json!(n));
        }
        if !gen_config.is_empty() {
            body.insert("generationConfig".into(), Value::Object(gen_config));
        }
        Value::Object(body)
    }

    fn parse(&self, req: &CompletionRequest, v: &Value) -> Result<CompletionResponse, LlmError> {
        let name = &self.settings.name;
        let Some(candidate) = v["candidates"].get(0) else {
            if let Some(reason) = v["promptFeedback"]["blockReason"].as_str() {
                return Err(LlmError::Rejected {
                    provider: name.clone(),
                    message: format!("prompt blocked: {reason}"),
                });
            }
            return Err(malformed(name, "no `candidates[0]`", v));
        };
        let text: String = candidate["content"]["parts"]
            .as_array()
            .map(|parts| parts.iter().filter_map(|p| p["text"].as_str()).collect())
            .unwrap_or_default();
        let usage = &v["usageMetadata"];
        if !usage.is_object() {
            return Err(malformed(name, "no `usageMetadata`", v));
        }
        Ok(CompletionResponse {
            text,
            model: v["modelVersion"].as_str().unwrap_or(&req.model).to_owned(),
            input_tokens: tokens(&usage["promptTokenCount"]),
            output_tokens: tokens(&usage["candidatesTokenCount"]),
        })
    }
}

/// Model names go into the URL path; refuse anything that could change the path.
fn valid_model(model: &str) -> bool {
    !model.is_empty()
        && model
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[async_trait]
impl Provider for GeminiProvider {
    fn name(&self) -> &str {
        &self.settings.name
    }

    async fn complete(
        &self,
        _ctx: &CallContext,
        req: &CompletionRequest,
    ) -> Result<CompletionResponse, LlmError> {
        if !valid_model(&req.model) {
            return Err(LlmError::Rejected {
                provider: self.settings.name.clone(),
                message: format!("model name `{}` is not a valid Gemini model id", req.model),
            });
        }
        let mut headers = HeaderMap::new();
        let (n, v) =
            secret_header("x-goog-api-key", self.settings.required_key()?, "").map_err(|m| {
                LlmError::Unauthorized {
                    provider: self.settings.name.clone(),
                    message: m,
                }
            })?;
        headers.insert(n, v);
        let url = self
            .settings
            .url(&format!("/v1beta/models/{}:generateContent", req.model));
        let v = post_json(
            &self.client,
            &self.settings,
            &url,
            headers,
            &Self::body(req),
        )
        .await?;
        self.parse(req, &v)
    }
}
