//! API keys: held in one type that cannot be printed.
//!
//! `ApiKey` has no `Display` and its `Debug` prints `ApiKey(***)`, so a key can
//! reach a log line or an error only through an explicit [`ApiKey::expose`],
//! which the providers call only to fill a request header. Provider error
//! bodies go through [`ApiKey::scrub`] because some APIs echo the rejected key.

use std::fmt;

/// A provider API key. Cloning is cheap enough (one string) and never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key; surrounding whitespace (a stray newline from a secrets file) is trimmed.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into().trim().to_owned())
    }

    /// The key itself, for a request header only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of the key (and of its first 8+ characters,
    /// which APIs echo as `sk-abc...`) in `text`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let key = self.0.as_str();
        if key.is_empty() {
            return text.to_owned();
        }
        let mut out = text.replace(key, "[redacted]");
        if key.len() > 12 {
            // A prefix long enough to identify the key but short enough to be echoed.
            let prefix: String = key.chars().take(8).collect();
            out = out.replace(&prefix, "[redacted]");
        }
        out
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_and_scrub_removes_key_and_prefix() {
        let k = ApiKey::new(" sk-test-0123456789abcdef\n");
        assert_eq!(format!("{k:?}"), "ApiKey(***)");
        let s = k.scrub("Incorrect API key provided: sk-test-0123456789abcdef; also sk-test-0***");
        assert!(!s.contains("sk-test-0"), "{s}");
        assert!(!s.contains("0123456789"), "{s}");
    }
}
