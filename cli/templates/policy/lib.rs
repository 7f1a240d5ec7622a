//! {{name}}: a djinn policy. Denies messages whose payload contains `forbidden`.

use djinn_sdk::{GateContext, Message, Policy, PolicyInfo, Verdict};

struct Plugin;

impl Policy for Plugin {
    fn info() -> PolicyInfo {
        PolicyInfo {
            id: "{{name}}".into(),
            name: "{{name}}".into(),
            version: "0.1.0".into(),
        }
    }

    fn evaluate(msg: Message, _ctx: GateContext) -> Verdict {
        if msg.payload.contains("forbidden") {
            Verdict::Deny(format!("`{}` contains a forbidden word", msg.topic))
        } else {
            Verdict::Allow
        }
    }
}

djinn_sdk::export_policy!(Plugin);
