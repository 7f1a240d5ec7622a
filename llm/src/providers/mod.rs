//! Real HTTP providers, one module per wire format.
//!
//! Every provider shares `post_json`, so HTTP failures map to the same typed
//! errors everywhere:
//!
//! | what happened                     | error                        | retried |
//! |-----------------------------------|------------------------------|---------|
//! | 401, 403                          | [`LlmError::Unauthorized`]   | no      |
//! | 429 (`retry-after[-ms]` honoured) | [`LlmError::RateLimited`]    | yes     |
//! | 408, 5xx, 529, connection failure | [`LlmError::Provider`]       | yes     |
//! | request timeout                   | [`LlmError::Timeout`]        | yes     |
//! | other 4xx                         | [`LlmError::Rejected`]       | no      |
//! | 2xx with an unexpected body       | [`LlmError::Malformed`]      | no      |
//!
//! Error messages carry the status and the provider's own error message
//! (truncated, key scrubbed), never the request headers.

pub mod anthropic;
pub mod gemini;
pub mod ollama;
pub mod openai;

pub use anthropic::AnthropicProvider;
pub use gemini::GeminiProvider;
pub use ollama::OllamaProvider;
pub use openai::OpenAiProvider;

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::{ApiKey, LlmError};

/// Longest provider error text we copy into an [`LlmError`].
const MAX_ERROR_TEXT: usize = 300;

/// Settings every HTTP provider takes.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Name used in errors, logs, metrics and cache keys (`openai`, `vllm`, ...).
    pub name: String,
    /// Scheme, host and optional path prefix, without the API path (`https://api.openai.com`).
    pub base_url: String,
    /// The key, if this API takes one.
    pub api_key: Option<ApiKey>,
    /// Upper bound for one HTTP request; the chain's deadline usually cuts sooner.
    pub request_timeout: Duration,
}

impl HttpSettings {
    pub fn new(name: impl Into<String>, base_url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            base_url: base_url.into(),
            api_key: None,
            request_timeout: Duration::from_secs(60),
        }
    }

    pub fn with_key(mut self, key: ApiKey) -> Self {
        self.api_key = Some(key);
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The key, for APIs that cannot be called without one.
    pub(crate) fn required_key(&self) -> Result<&ApiKey, LlmError> {
        self.api_key.as_ref().ok_or_else(|| LlmError::Unauthorized {
            provider: self.name.clone(),
            message: "no API key configured".into(),
        })
    }

    /// `base_url` + `path`, without doubled slashes.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url.trim_end_matches('/'), path)
    }
}

/// Builds the shared HTTP client (rustls, no proxy lookups from the environment
/// beyond reqwest's defaults).
pub(crate) fn client(settings: &HttpSettings) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(settings.request_timeout)
        .connect_timeout(settings.request_timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("djinn-llm/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build HTTP client for `{}`: {e}", settings.name))
}

/// A header whose value is a secret: marked sensitive so reqwest/hyper never log it.
pub(crate) fn secret_header(
    name: &'static str,
    key: &ApiKey,
    prefix: &str,
) -> Result<(HeaderName, HeaderValue), String> {
    let mut v = HeaderValue::from_str(&format!("{prefix}{}", key.expose())).map_err(|_| {
        format!("the API key for header `{name}` contains characters not allowed in a header")
    })?;
    v.set_sensitive(true);
    Ok((HeaderName::from_static(name), v))
}

/// POSTs `body` as JSON and returns the parsed JSON answer, or a typed error.
pub(crate) async fn post_json(
    client: &reqwest::Client,
    settings: &HttpSettings,
    url: &str,
    headers: HeaderMap,
    body: &Value,
) -> Result<Value, LlmError> {
    let provider = settings.name.as_str();
    let scrub = |s: &str| match &settings.api_key {
        Some(k) => k.scrub(s),
        None => s.to_owned(),
    };
    let resp = client
        .post(url)
        .headers(headers)
        .json(body)
        .send()
        .await
        .map_err(|e| transport_error(provider, settings.request_timeout, &e, &scrub))?;
    let status = resp.status();
    let retry_after = retry_after(resp.headers());
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| transport_error(provider, settings.request_timeout, &e, &scrub))?;
    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|e| LlmError::Malformed {
            provider: provider.to_owned(),
            message: format!("body is not JSON ({e}): {}", scrub(&snippet(&bytes))),
        });
    }
    let message = scrub(&format!("HTTP {}: {}", status.as_u16(), error_text(&bytes)));
    let provider = provider.to_owned();
    Err(match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            LlmError::Unauthorized { provider, message }
        }
        StatusCode::TOO_MANY_REQUESTS => LlmError::RateLimited {
            provider,
            retry_after,
        },
        StatusCode::REQUEST_TIMEOUT => LlmError::Provider { provider, message },
        s if s.is_server_error() || s.as_u16() == 529 => LlmError::Provider { provider, message },
        _ => LlmError::Rejected { provider, message },
    })
}

fn transport_error(
    provider: &str,
    timeout: Duration,
    e: &reqwest::Error,
    scrub: &dyn Fn(&str) -> String,
) -> LlmError {
    if e.is_timeout() {
        return LlmError::Timeout(timeout);
    }
    // reqwest's Display includes the URL; ours never carry keys, but scrub anyway.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_decode() || e.is_body() {
        return LlmError::Malformed {
            provider: provider.to_owned(),
            message: scrub(&message),
        };
    }
    LlmError::Provider {
        provider: provider.to_owned(),
        message: scrub(&message),
    }
}

/// `retry-after-ms` (OpenAI) or `retry-after` in seconds. HTTP-date forms are ignored.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    get("retry-after")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// The provider's own error message when the body is the usual
/// `{"error": {"message": ...}}` (OpenAI, Anthropic, Gemini) or
/// `{"error": "..."}` (Ollama); otherwise the start of the body.
fn error_text(bytes: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        let e = &v["error"];
        if let Some(m) = e["message"].as_str() {
            return truncate(m);
        }
        if let Some(m) = e.as_str() {
            return truncate(m);
        }
    }
    snippet(bytes)
}

fn snippet(bytes: &[u8]) -> String {
    truncate(String::from_utf8_lossy(bytes).trim())
}

fn truncate(s: &str) -> String {
    if s.len() <= MAX_ERROR_TEXT {
        return s.to_owned();
    }
    let mut end = MAX_ERROR_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// A 2xx body without the field we need.
pub(crate) fn malformed(provider: &str, what: &str, body: &Value) -> LlmError {
    LlmError::Malformed {
        provider: provider.to_owned(),
        message: format!("{what}; body: {}", truncate(&body.to_string())),
    }
}

/// `f32` → `f64` through its shortest decimal form, so `0.2f32` is sent as
/// `0.2`, not `0.20000000298023224`.
pub(crate) fn temperature(t: f32) -> f64 {
    t.to_string().parse().unwrap_or(f64::from(t))
}

/// A token count from JSON, saturating into `u32`; absent means 0.
pub(crate) fn tokens(v: &Value) -> u32 {
    v.as_u64()
        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_prefers_ms_and_parses_seconds() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn error_text_takes_provider_message() {
        assert_eq!(
            error_text(br#"{"error":{"message":"bad model"}}"#),
            "bad model"
        );
        assert_eq!(
            error_text(br#"{"error":"model not found"}"#),
            "model not found"
        );
        assert_eq!(error_text(b"<html>oops</html>"), "<html>oops</html>");
        assert_eq!(truncate(&"é".repeat(400)).chars().count(), 151);
    }
}
