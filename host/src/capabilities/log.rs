//! `log`: plugin log lines into the host's tracing, tagged with the plugin id.
//!
//! Bounded per call (line count and length) so a plugin cannot flood the host's logs.

use crate::runtime::bindings::agent::djinn::plugin::log::{Host, Level};
use crate::runtime::state::{HostState, MAX_LOG_BYTES, MAX_LOG_LINES};

impl Host for HostState {
    async fn log(&mut self, level: Level, msg: String) {
        if self.log_lines >= MAX_LOG_LINES {
            self.log_dropped += 1;
            return;
        }
        self.log_lines += 1;
        let msg = truncate(&msg, MAX_LOG_BYTES);
        let plugin = self.plugin.id();
        match level {
            Level::Trace => tracing::trace!(target: "djinn::plugin", plugin, "{msg}"),
            Level::Debug => tracing::debug!(target: "djinn::plugin", plugin, "{msg}"),
            Level::Info => tracing::info!(target: "djinn::plugin", plugin, "{msg}"),
            Level::Warn => tracing::warn!(target: "djinn::plugin", plugin, "{msg}"),
            Level::Error => tracing::error!(target: "djinn::plugin", plugin, "{msg}"),
        }
    }
}

/// The longest prefix of `s` that fits in `max` bytes on a char boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
