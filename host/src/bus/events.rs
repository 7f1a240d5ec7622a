//! A question as it happens: the events [`super::Bus::ask_with_events`] sends,
//! which `POST /v1/ask/stream` forwards as Server-Sent Events.
//!
//! Why unbounded: a question's events are bounded by its own limits (the message
//! budget times the policies, plus one per call), and the bus must never wait on
//! a slow reader while it holds delivery permits other questions need. A reader
//! that goes away drops the question with it (see `api::routes::ask_stream`).

use serde::Serialize;
use utoipa::ToSchema;

use super::result::{AgentCall, FailedBranch, StageTiming, VerdictRecord};

/// Where a question's events go.
pub type EventSender = tokio::sync::mpsc::UnboundedSender<BusEvent>;

/// One thing that happened in a question, in the order the bus saw it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum BusEvent {
    /// The question entered the bus under this correlation id.
    Started { correlation_id: String },
    /// A policy judged a message.
    Verdict(VerdictRecord),
    /// An agent handled a message (its outputs, or its fault).
    Message(AgentCall),
    /// A branch failed (fault, error, denial, limit) and why.
    Branch(FailedBranch),
    /// A fan-out/fan-in stage finished.
    Stage(StageTiming),
}

impl BusEvent {
    /// The event's name on the wire (the SSE `event:` field).
    pub fn name(&self) -> &'static str {
        match self {
            BusEvent::Started { .. } => "started",
            BusEvent::Verdict(_) => "verdict",
            BusEvent::Message(_) => "message",
            BusEvent::Branch(_) => "branch",
            BusEvent::Stage(_) => "stage",
        }
    }
}
