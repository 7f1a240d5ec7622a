//! What one question produced: the answer, every call and verdict, every failure
//! and the timings. Serializable as is, so `djinn ask --json` prints it whole.

use serde::Serialize;
use utoipa::ToSchema;

/// How a question ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AskStatus {
    /// An `answer` crossed the outbound gate.
    Answered,
    /// A policy denied the question (inbound) or the answer (outbound).
    Denied {
        policy: String,
        stage: String,
        reason: String,
    },
    /// The question's deadline passed before an answer.
    Deadline { timeout_ms: u64 },
    /// The question emitted more messages than its budget allows (a storm).
    BudgetExhausted { budget: u32 },
    /// The caller cancelled the question.
    Cancelled,
    /// Every branch finished and none produced an `answer`.
    NoAnswer,
}

/// One agent call.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentCall {
    pub agent: String,
    /// Hex SHA-256 of the component that ran: which version answered, across hot swaps.
    pub sha256: String,
    pub topic_in: String,
    pub topics_out: Vec<String>,
    /// What the agent emitted (payloads as JSON).
    pub outputs: Vec<Output>,
    /// `ok` or the fault kind (`trap`, `out_of_fuel`, `deadline`, `plugin_error`, ...).
    pub outcome: String,
    pub fault: Option<String>,
    pub fuel: u64,
    /// Since the question started.
    pub started_ms: f64,
    pub duration_ms: f64,
}

/// One policy's verdict on one message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerdictRecord {
    pub policy: String,
    /// `inbound`, `hop` or `outbound`.
    pub stage: String,
    pub topic: String,
    pub recipient: Option<String>,
    /// `allow`, `deny` or `redact`.
    pub verdict: String,
    pub reason: Option<String>,
    pub fuel: u64,
    pub duration_ms: f64,
}

/// A branch (or a hop) that did not deliver, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FailedBranch {
    pub agent: String,
    /// The topic the agent was handling.
    pub topic: String,
    pub reason: String,
}

/// One branch of a gather.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BranchTiming {
    pub agent: String,
    pub outcome: String,
    pub duration_ms: f64,
}

/// A `djinn-gather` fan-out/fan-in stage.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StageTiming {
    /// The topic of the message that was fanned out (`analysis.result`).
    pub origin_topic: String,
    /// The topic of the gathered message (`analysis.gathered`).
    pub gather_topic: String,
    /// Since the question started.
    pub started_ms: f64,
    /// From fan-out to the last branch: the slowest branch, not the sum.
    pub wall_ms: f64,
    pub branches: Vec<BranchTiming>,
}

/// A message no agent received (no subscriber); listed rather than dropped silently.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Undelivered {
    pub topic: String,
    pub sender: String,
    pub reason: String,
}

/// Everything one [`super::Bus::ask`] produced.
#[derive(Debug, Serialize, ToSchema)]
#[schema(
    description = "Everything one question produced: how it ended (`status` and the \
fields of that status, flattened in), the answer, every call and verdict, every failure and \
the timings."
)]
pub struct AskResult {
    pub correlation_id: String,
    #[serde(flatten)]
    pub status: AskStatus,
    /// The answer payload (JSON; a non-JSON payload becomes a JSON string), kept
    /// as checked text like every other payload: the answer is ~10 KB, and
    /// parsing it into a tree only to print it again cost ~25 µs a question.
    #[schema(value_type = Option<serde_json::Value>)]
    pub answer: Option<Payload>,
    pub calls: Vec<AgentCall>,
    pub verdicts: Vec<VerdictRecord>,
    pub failed: Vec<FailedBranch>,
    pub stages: Vec<StageTiming>,
    pub undelivered: Vec<Undelivered>,
    /// Messages routed for this question.
    pub messages: u32,
    pub elapsed_ms: f64,
    /// The background work on the answer (the judge): await it for its report.
    /// Dropping it leaves the work running to its own deadline.
    #[serde(skip)]
    pub background: Option<tokio::task::JoinHandle<BackgroundReport>>,
}

impl AskResult {
    /// The answer's `text`, if the answer has one.
    pub fn answer_text(&self) -> Option<String> {
        #[derive(serde::Deserialize)]
        struct Text {
            text: String,
        }
        serde_json::from_str::<Text>(self.answer.as_ref()?.json())
            .ok()
            .map(|t| t.text)
    }
}

/// What the background subscribers of the answer (the judge) did.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct BackgroundReport {
    pub calls: Vec<AgentCall>,
    pub verdicts: Vec<VerdictRecord>,
    pub failed: Vec<FailedBranch>,
    /// Messages they emitted (`judge.score`), payload as JSON.
    pub outputs: Vec<Output>,
}

/// A message an agent emitted, payload as JSON.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Output {
    pub agent: String,
    pub topic: String,
    pub payload: Payload,
}

/// A message payload in a result: the JSON text the plugin wrote, checked to be
/// JSON and kept as text, or, when it is not JSON, that text as a JSON string.
///
/// Why text and not a `serde_json::Value`: a question's results carry ~100 KB
/// of payloads that are only ever written out again (as the HTTP response, an
/// SSE event, a gathered message); parsing each into a tree and printing the tree
/// again was a measurable part of a question. [`Payload::value`] parses on demand.
#[derive(Debug, Clone)]
pub struct Payload(Box<serde_json::value::RawValue>);

impl Payload {
    pub fn from_text(text: &str) -> Self {
        Self(
            serde_json::value::RawValue::from_string(text.to_owned())
                .or_else(|_| serde_json::value::to_raw_value(text))
                .expect("a string always serializes"),
        )
    }

    /// The payload's JSON text.
    pub fn json(&self) -> &str {
        self.0.get()
    }

    /// The payload parsed.
    pub fn value(&self) -> serde_json::Value {
        // It was checked to be JSON when it was made.
        serde_json::from_str(self.0.get()).unwrap_or_default()
    }
}

impl std::fmt::Display for Payload {
    /// The JSON text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.get())
    }
}

impl Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl utoipa::PartialSchema for Payload {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <serde_json::Value as utoipa::PartialSchema>::schema()
    }
}

impl ToSchema for Payload {}
