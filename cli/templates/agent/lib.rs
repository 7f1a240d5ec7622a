//! {{name}}: a djinn agent. Handles `{{name}}` messages and replies on `{{name}}.reply`.

use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError};

struct Plugin;

impl Agent for Plugin {
    fn info() -> AgentInfo {
        AgentInfo::new("{{name}}", "{{name}}").subscribes(["{{name}}"])
    }

    fn handle(msg: Message) -> Result<Vec<Message>, PluginError> {
        let input = msg.json()?;
        let reply = djinn_sdk::serde_json::json!({ "received": input });
        Ok(vec![msg.reply("{{name}}.reply", reply.to_string())])
    }
}

djinn_sdk::export_agent!(Plugin);
