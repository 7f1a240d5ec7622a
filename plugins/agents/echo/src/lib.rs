//! The smallest useful agent: answers every `echo` message with its payload.

use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError};

struct Echo;

impl Agent for Echo {
    fn info() -> AgentInfo {
        AgentInfo::new("echo", "Echo")
            .subscribes(["echo"])
            .capabilities(["echo"])
    }

    fn handle(msg: Message) -> Result<Vec<Message>, PluginError> {
        Ok(vec![msg.reply("echo.reply", msg.payload.clone())])
    }
}

djinn_sdk::export_agent!(Echo);
