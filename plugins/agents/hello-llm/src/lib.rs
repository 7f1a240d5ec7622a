//! Answers a question with one LLM call and counts the questions it has seen in kv.

use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError, kv, llm};

struct HelloLlm;

impl Agent for HelloLlm {
    fn info() -> AgentInfo {
        AgentInfo::new("hello-llm", "Hello LLM")
            .subscribes(["hello"])
            .capabilities(["chat"])
    }

    fn handle(msg: Message) -> Result<Vec<Message>, PluginError> {
        let question = msg.json()?["question"]
            .as_str()
            .ok_or_else(|| PluginError::InvalidInput("payload needs a string `question`".into()))?
            .to_owned();
        let seen = kv::get("seen")
            .ok()
            .flatten()
            .and_then(|v| String::from_utf8(v).ok()?.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        kv::set("seen", seen.to_string().as_bytes())
            .map_err(|e| PluginError::Failed(format!("kv: {e:?}")))?;
        let answer = llm::ask(&question).map_err(|e| PluginError::Failed(format!("llm: {e:?}")))?;
        let payload = serde_json::json!({ "answer": answer, "seen": seen });
        Ok(vec![msg.reply("hello.answer", payload.to_string())])
    }
}

djinn_sdk::export_agent!(HelloLlm);
