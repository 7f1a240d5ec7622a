//! `max-length`: denies a message whose payload plus metadata exceed `max_bytes`
//! (config, default 256 KiB), before any agent spends work on it.

use djinn_sdk::{GateContext, Message, Policy, PolicyInfo, Verdict, config};

const DEFAULT_MAX_BYTES: usize = 256 * 1024;

/// The size a message counts as: payload plus metadata keys and values.
fn size(msg: &Message) -> usize {
    msg.payload.len()
        + msg
            .metadata
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>()
}

fn judge(msg: &Message, max: usize) -> Verdict {
    let n = size(msg);
    if n > max {
        Verdict::Deny(format!(
            "message on `{}` is {n} bytes; the limit is {max}",
            msg.topic
        ))
    } else {
        Verdict::Allow
    }
}

struct MaxLength;

impl Policy for MaxLength {
    fn info() -> PolicyInfo {
        PolicyInfo {
            id: "max-length".into(),
            name: "Maximum message size".into(),
            version: "0.1.0".into(),
        }
    }

    fn evaluate(msg: Message, _ctx: GateContext) -> Verdict {
        let max = config::get("max_bytes")
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_MAX_BYTES);
        judge(&msg, max)
    }
}

djinn_sdk::export_policy!(MaxLength);

#[cfg(test)]
mod tests {
    use super::*;
    use djinn_sdk::MessageExt;

    #[test]
    fn counts_payload_and_metadata() {
        let m = Message::new("q", "x".repeat(10)).with_meta("k", "vv");
        assert_eq!(size(&m), 13);
        assert_eq!(judge(&m, 13), Verdict::Allow);
        assert!(matches!(judge(&m, 12), Verdict::Deny(r) if r.contains("13 bytes")));
    }
}
