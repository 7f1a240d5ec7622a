//! The message bus: routes messages between agents, gathers fan-in, and puts every
//! message through the policy gate.
//!
//! A message goes to one agent (`recipient`) or to every agent subscribed to its
//! topic. A message with several recipients (a fan-out) becomes one task per
//! delivery in the question's own [`JoinSet`], so the recipients run in parallel
//! on tokio's workers. A message with one recipient is delivered by the
//! question's own task (a future it polls next to the others), not spawned.
//! Dropping the question's future (the caller went away) drops both, which stops
//! every pending call: nothing the question started outlives it except the
//! background work on the answer (the judge), which is spawned on purpose with
//! its own deadline.
//!
//! Why a lone delivery is not a task: most of a pipeline is a chain of single
//! hops, and a spawned hop hands the question from task to task, and so, once
//! tokio's same-worker fast path (its LIFO slot) is spent after a few polls, from
//! worker to worker: a wake-up and a cold cache per hop for no parallelism at all.
//! Polled in place, a chain runs on one worker, and only a real fan-out pays for
//! spreading out (docs/performance.md has the figures).
//!
//! Why the limits: agents are untrusted code, so a question is bounded three ways.
//! The deadline bounds time; the hop limit stops a chain that feeds itself
//! (`a → b → a …`); the message budget stops a storm (one reply fanning out into
//! thousands). A global semaphore bounds concurrent calls across questions; a call
//! waits for a permit (backpressure) rather than being dropped. Whatever does not
//! get delivered is listed in the result, never dropped silently.
//!
//! The host, not the plugin, stamps every emitted message with a fresh id, the
//! emitting agent as `sender` and the question's correlation id, so a plugin cannot
//! pose as another agent or leak into another question.

pub mod correlator;
pub mod events;
pub mod gate;
pub mod result;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::audit::{AuditEvent, AuditKind, AuditSink, NullAudit};
use crate::runtime::{Message, Plugin, PluginKind, RiskLevel, Stage};
pub use correlator::Correlator;
pub use events::{BusEvent, EventSender};
pub use gate::{Denial, GateDecision, PolicyGate};
pub use result::{
    AgentCall, AskResult, AskStatus, BackgroundReport, BranchTiming, FailedBranch, Output, Payload,
    StageTiming, Undelivered, VerdictRecord,
};

/// Metadata key: deliver to every subscriber, wait for all, emit one message on this topic.
pub const GATHER_KEY: &str = "djinn-gather";
/// The topic of the user's question.
pub const QUESTION_TOPIC: &str = "question";
/// The topic that ends a question.
pub const ANSWER_TOPIC: &str = "answer";

/// The order the bundled policies judge in (docs/policies.md): cheap structural
/// checks first, `pii` after `prompt-injection` so the injection screen sees the
/// raw text. Policies not listed here come after these, in the order added.
pub const DEFAULT_POLICY_ORDER: [&str; 9] = [
    "max-length",
    "required-metadata",
    "rbac",
    "schema",
    "prompt-injection",
    "pii",
    "classification",
    "residency",
    "explainability",
];

/// Where a policy id falls in [`DEFAULT_POLICY_ORDER`] (unlisted ids sort last).
pub fn default_policy_rank(id: &str) -> usize {
    DEFAULT_POLICY_ORDER
        .iter()
        .position(|p| *p == id)
        .unwrap_or(DEFAULT_POLICY_ORDER.len())
}
/// The `sender` of messages the bus itself emits (gathers) and of the question.
pub const BUS_SENDER: &str = "bus";

/// Bus limits. The defaults fit the bundled pipeline with room to spare.
#[derive(Debug, Clone)]
pub struct BusConfig {
    /// A question that has no answer by then ends with [`AskStatus::Deadline`].
    pub question_timeout: Duration,
    /// A gather branch still running after this is reported failed and the gather
    /// completes with the other branches.
    pub gather_timeout: Duration,
    /// A message more than this many hops from the question is not delivered.
    pub max_hops: u32,
    /// Messages one question may route before it is stopped.
    pub message_budget: u32,
    /// Plugin deliveries running at once across all questions.
    pub max_in_flight: usize,
    /// Deadline for the background subscribers of the answer (the judge).
    pub background_timeout: Duration,
    /// Enabled policies in order; `None` enables every policy in the order added.
    pub policy_order: Option<Vec<String>>,
    /// Agent id → the agent that takes over a delivery when it fails (fault,
    /// error or denial). The failure is still reported; the fallback's replies
    /// are routed (or gathered) in its place.
    pub fallbacks: HashMap<String, String>,
    /// Policies judging one message at once: 1 (the default) judges them one
    /// after another; 0 uses as many lanes as the tokio runtime has workers. The
    /// verdicts are the same either way (see `gate.rs`). Lanes pay only when a
    /// message's policies cost more than waking another worker: on the bundled
    /// chain and a 2-core VM they made the question slower (docs/performance.md).
    pub gate_lanes: usize,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            question_timeout: Duration::from_secs(30),
            gather_timeout: Duration::from_secs(10),
            max_hops: 16,
            message_budget: 256,
            max_in_flight: 32,
            background_timeout: Duration::from_secs(15),
            policy_order: None,
            fallbacks: HashMap::new(),
            gate_lanes: 1,
        }
    }
}

/// Why a bus could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("plugin `{0}` is a policy, not an agent; add it with `policy(...)`")]
    NotAnAgent(String),
    #[error("plugin `{0}` is an agent, not a policy; add it with `agent(...)`")]
    NotAPolicy(String),
    #[error("two agents are registered as `{0}`; give one another id")]
    DuplicateAgent(String),
    #[error("policy order names `{policy}`, which is not loaded (loaded: {loaded:?})")]
    UnknownPolicy { policy: String, loaded: Vec<String> },
    #[error("fallback `{agent}` → `{fallback}` names an agent that is not registered")]
    UnknownFallback { agent: String, fallback: String },
}

/// An agent as the bus routes to it. By default the id, subscriptions and risk
/// come from the plugin's `info()`; a deployment (or a test topology) may register
/// the same plugin under another id or other subscriptions.
#[derive(Clone)]
pub struct AgentEntry {
    pub id: String,
    pub plugin: Arc<Plugin>,
    pub subscribes: Vec<String>,
    pub risk: RiskLevel,
}

impl AgentEntry {
    /// The agent as its `info()` describes it.
    pub fn from_plugin(plugin: Arc<Plugin>) -> Result<Self, BusError> {
        let info = plugin
            .agent_info()
            .ok_or_else(|| BusError::NotAnAgent(plugin.id().to_owned()))?;
        Ok(Self {
            id: info.id.clone(),
            subscribes: info.subscribes.clone(),
            risk: info.risk,
            plugin,
        })
    }

    /// The same agent under another id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// The same agent subscribed to these topics instead.
    pub fn subscribing<I: IntoIterator<Item = S>, S: Into<String>>(mut self, topics: I) -> Self {
        self.subscribes = topics.into_iter().map(Into::into).collect();
        self
    }
}

/// Collects agents and policies, then builds an immutable [`Bus`].
pub struct BusBuilder {
    config: BusConfig,
    agents: Vec<AgentEntry>,
    policies: Vec<Arc<Plugin>>,
    audit: Arc<dyn AuditSink>,
}

impl BusBuilder {
    /// Adds an agent as its `info()` describes it.
    pub fn agent(self, plugin: Arc<Plugin>) -> Result<Self, BusError> {
        Ok(self.agent_entry(AgentEntry::from_plugin(plugin)?))
    }

    /// Adds an agent under an explicit id and subscriptions.
    pub fn agent_entry(mut self, entry: AgentEntry) -> Self {
        self.agents.push(entry);
        self
    }

    /// Adds a policy (judged in the order added unless `policy_order` says otherwise).
    pub fn policy(mut self, plugin: Arc<Plugin>) -> Result<Self, BusError> {
        if plugin.kind() != PluginKind::Policy {
            return Err(BusError::NotAPolicy(plugin.id().to_owned()));
        }
        self.policies.push(plugin);
        Ok(self)
    }

    /// Adds a loaded plugin of either kind.
    pub fn plugin(self, plugin: Arc<Plugin>) -> Result<Self, BusError> {
        match plugin.kind() {
            PluginKind::Agent => self.agent(plugin),
            PluginKind::Policy => self.policy(plugin),
        }
    }

    /// Where verdicts, faults and background outputs are recorded.
    pub fn audit(mut self, audit: Arc<dyn AuditSink>) -> Self {
        self.audit = audit;
        self
    }

    pub fn build(self) -> Result<Bus, BusError> {
        let mut agents = HashMap::new();
        let mut subscribers: HashMap<String, Vec<String>> = HashMap::new();
        for entry in self.agents {
            if agents.contains_key(&entry.id) {
                return Err(BusError::DuplicateAgent(entry.id));
            }
            for topic in &entry.subscribes {
                subscribers
                    .entry(topic.clone())
                    .or_default()
                    .push(entry.id.clone());
            }
            agents.insert(entry.id.clone(), entry);
        }
        for (agent, fallback) in &self.config.fallbacks {
            if !agents.contains_key(agent) || !agents.contains_key(fallback) {
                return Err(BusError::UnknownFallback {
                    agent: agent.clone(),
                    fallback: fallback.clone(),
                });
            }
        }
        let policies = match &self.config.policy_order {
            None => self.policies,
            Some(order) => {
                let mut chain = Vec::with_capacity(order.len());
                for id in order {
                    let p = self.policies.iter().find(|p| p.id() == id).ok_or_else(|| {
                        BusError::UnknownPolicy {
                            policy: id.clone(),
                            loaded: self.policies.iter().map(|p| p.id().to_owned()).collect(),
                        }
                    })?;
                    chain.push(p.clone());
                }
                chain
            }
        };
        let gate = PolicyGate::new(policies).with_lanes(self.config.gate_lanes);
        Ok(Bus {
            inner: Arc::new(Inner {
                permits: Arc::new(Semaphore::new(self.config.max_in_flight.max(1))),
                config: self.config,
                agents,
                subscribers,
                gate,
                audit: self.audit,
                correlator: Arc::new(Correlator::default()),
                msg_seq: AtomicU64::new(0),
            }),
        })
    }
}

/// The bus. Cheap to clone; immutable once built.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

struct Inner {
    config: BusConfig,
    agents: HashMap<String, AgentEntry>,
    subscribers: HashMap<String, Vec<String>>,
    gate: PolicyGate,
    audit: Arc<dyn AuditSink>,
    correlator: Arc<Correlator>,
    permits: Arc<Semaphore>,
    msg_seq: AtomicU64,
}

impl Inner {
    fn fresh_message_id(&self, correlation: &str) -> String {
        let n = self.msg_seq.fetch_add(1, Ordering::Relaxed);
        format!("{correlation}/m{n}")
    }
}

/// Builds the inbound `question` message from a question and a context object.
///
/// `context` may hold `statement` (`{"csv": ...}` or the CSV text), `csv` (the CSV
/// text), `metadata` (an object of string values: `user_id`, `user_roles`,
/// `classification`, `region`, ...) and anything else (`task`, `params`), which
/// goes to the payload's `context`.
pub fn question_message(question: &str, context: &Value) -> Message {
    let mut payload = json!({ "question": question });
    let mut metadata = Vec::new();
    if let Some(obj) = context.as_object() {
        match obj.get("statement") {
            Some(Value::String(csv)) => payload["statement"] = json!({ "csv": csv }),
            Some(s @ Value::Object(_)) => payload["statement"] = s.clone(),
            _ => {
                if let Some(csv) = obj.get("csv").and_then(Value::as_str) {
                    payload["statement"] = json!({ "csv": csv });
                }
            }
        }
        let rest: serde_json::Map<String, Value> = obj
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "statement" | "csv" | "metadata"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !rest.is_empty() {
            payload["context"] = Value::Object(rest);
        }
        if let Some(meta) = obj.get("metadata").and_then(Value::as_object) {
            for (k, v) in meta {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                metadata.push((k.clone(), v));
            }
        }
    }
    Message {
        id: String::new(),
        correlation_id: String::new(),
        topic: QUESTION_TOPIC.to_owned(),
        sender: BUS_SENDER.to_owned(),
        recipient: None,
        payload: payload.to_string(),
        metadata,
    }
}

impl Bus {
    pub fn builder(config: BusConfig) -> BusBuilder {
        BusBuilder {
            config,
            agents: Vec::new(),
            policies: Vec::new(),
            audit: Arc::new(NullAudit),
        }
    }

    pub fn config(&self) -> &BusConfig {
        &self.inner.config
    }

    /// Policy ids in the order they judge.
    pub fn policies(&self) -> Vec<&str> {
        self.inner.gate.ids()
    }

    /// Registered agent ids, sorted.
    pub fn agents(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.inner.agents.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    /// Questions in flight (0 when idle: their state is always evicted).
    pub fn pending(&self) -> usize {
        self.inner.correlator.pending()
    }

    /// The correlation ids of the questions in flight.
    pub fn in_flight(&self) -> Vec<String> {
        self.inner.correlator.ids()
    }

    /// Stops the question `correlation`; false when it is not in flight.
    pub fn cancel(&self, correlation: &str) -> bool {
        self.inner.correlator.cancel(correlation)
    }

    /// The policy gate (for callers that judge messages outside a question).
    pub fn gate(&self) -> &PolicyGate {
        &self.inner.gate
    }

    /// Asks a question: builds the `question` message ([`question_message`]) and
    /// runs it to the first `answer` (see [`Bus::publish`]).
    pub async fn ask(&self, question: &str, context: Value) -> AskResult {
        self.publish(question_message(question, &context)).await
    }

    /// [`Bus::ask`], also sending each verdict, agent call, failed branch and
    /// finished stage to `events` as it happens (for streaming). The sender is
    /// dropped when the question ends, so the receiver sees the end of the stream.
    pub async fn ask_with_events(
        &self,
        question: &str,
        context: Value,
        events: EventSender,
    ) -> AskResult {
        let correlation = self.inner.correlator.fresh_id();
        let span = tracing::info_span!("question", correlation = %correlation);
        let mut run = Run::new(self.inner.clone(), correlation);
        run.events = Some(events);
        run.execute(question_message(question, &context))
            .instrument(span)
            .await
    }

    /// Publishes `msg` as a new question (inbound gate first) and runs it until an
    /// `answer` crosses the outbound gate, or nothing is left to run, or a limit
    /// stops it. Never fails: every failure is in the result.
    pub async fn publish(&self, msg: Message) -> AskResult {
        let correlation = self.inner.correlator.fresh_id();
        let span = tracing::info_span!("question", correlation = %correlation);
        Run::new(self.inner.clone(), correlation)
            .execute(msg)
            .instrument(span)
            .await
    }
}

/// One delivery to run: an agent, the message, its hop count and its gather.
struct Job {
    agent: AgentEntry,
    msg: Message,
    hop: u32,
    gather: Option<u64>,
    gather_deadline: Option<tokio::time::Instant>,
}

/// What a delivery task returns to the question's loop.
struct Delivered {
    agent: String,
    topic_in: String,
    hop: u32,
    gather: Option<u64>,
    calls: Vec<AgentCall>,
    /// The agent that failed first and why, when a fallback took over.
    fallback_from: Option<(String, String)>,
    verdicts: Vec<VerdictRecord>,
    outcome: Result<Vec<Message>, String>,
    elapsed: Duration,
}

/// An open fan-in.
struct Gather {
    origin: Message,
    origin_hop: u32,
    topic: String,
    remaining: usize,
    started: Instant,
    results: Vec<GatheredResult>,
    failed: Vec<Value>,
    branches: Vec<BranchTiming>,
}

/// The gathered message's payload (`{"failed", "origin", "results"}`, keys in
/// this order, as a JSON object's were printed before payloads were kept as text).
#[derive(Serialize)]
struct Gathered<'a> {
    failed: &'a [Value],
    origin: Payload,
    results: &'a [GatheredResult],
}

/// One branch's reply in a gathered message.
#[derive(Serialize)]
struct GatheredResult {
    agent: String,
    payload: Payload,
    topic: String,
}

/// A delivery polled by the question's task: its key and its result, or the
/// message of the panic it caught (a panicking delivery fails its branch, as a
/// panicking task does, instead of taking the question down with it).
type InlineDelivery = Pin<Box<dyn Future<Output = (u64, Result<Delivered, String>)> + Send>>;

enum Routed {
    Continue,
    Answer(Message),
    Stop(AskStatus),
}

struct Run {
    inner: Arc<Inner>,
    correlation: Arc<str>,
    started: Instant,
    /// Fan-out deliveries, one task each.
    tasks: JoinSet<Delivered>,
    in_flight: HashMap<tokio::task::Id, (String, String)>,
    /// Lone deliveries, polled by this task (see the module docs); each yields its
    /// key in `inline_pending` with its result, or the panic it caught.
    inline: FuturesUnordered<InlineDelivery>,
    inline_pending: HashMap<u64, (String, String)>,
    next_inline: u64,
    gathers: HashMap<u64, Gather>,
    next_gather: u64,
    outbox: VecDeque<(Message, u32)>,
    calls: Vec<AgentCall>,
    verdicts: Vec<VerdictRecord>,
    failed: Vec<FailedBranch>,
    stages: Vec<StageTiming>,
    undelivered: Vec<Undelivered>,
    messages: u32,
    /// Where a streaming caller watches the question (see [`Bus::ask_with_events`]).
    events: Option<EventSender>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl Run {
    fn new(inner: Arc<Inner>, correlation: String) -> Self {
        Self {
            inner,
            correlation: correlation.into(),
            started: Instant::now(),
            tasks: JoinSet::new(),
            in_flight: HashMap::new(),
            inline: FuturesUnordered::new(),
            inline_pending: HashMap::new(),
            next_inline: 0,
            gathers: HashMap::new(),
            next_gather: 0,
            outbox: VecDeque::new(),
            calls: Vec::new(),
            verdicts: Vec::new(),
            failed: Vec::new(),
            stages: Vec::new(),
            undelivered: Vec::new(),
            messages: 0,
            events: None,
        }
    }

    /// Sends an event to a streaming caller, if there is one. A caller that went
    /// away is not an error: the question's future is dropped with it.
    fn emit(&self, event: impl FnOnce() -> BusEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(event());
        }
    }

    fn add_verdicts(&mut self, verdicts: Vec<VerdictRecord>) {
        for v in &verdicts {
            self.emit(|| BusEvent::Verdict(v.clone()));
        }
        self.verdicts.extend(verdicts);
    }

    fn add_failed(&mut self, failed: FailedBranch) {
        self.emit(|| BusEvent::Branch(failed.clone()));
        self.failed.push(failed);
    }

    async fn execute(mut self, mut msg: Message) -> AskResult {
        let registration = self.inner.correlator.register(&self.correlation);
        let deadline = tokio::time::Instant::now() + self.inner.config.question_timeout;
        msg.id = self.inner.fresh_message_id(&self.correlation);
        msg.correlation_id = self.correlation.to_string();
        if msg.sender.is_empty() {
            msg.sender = BUS_SENDER.to_owned();
        }
        tracing::info!(topic = %msg.topic, "question received");
        self.emit(|| BusEvent::Started {
            correlation_id: self.correlation.to_string(),
        });
        self.inner.audit.record(
            AuditEvent::new(AuditKind::Question, "bus", json!({ "topic": msg.topic }))
                .correlation(self.correlation.as_ref()),
        );

        let inbound = self
            .inner
            .gate
            .check(
                msg,
                Stage::Inbound,
                None,
                &*self.inner.audit,
                &self.correlation,
            )
            .await;
        self.add_verdicts(inbound.verdicts);
        if let Some(d) = inbound.denied {
            return self.finish(
                AskStatus::Denied {
                    policy: d.policy,
                    stage: "inbound".into(),
                    reason: d.reason,
                },
                None,
            );
        }
        self.outbox.push_back((inbound.message, 0));

        let status = loop {
            // Route everything queued before waiting on deliveries.
            let mut stop = None;
            while let Some((m, hop)) = self.outbox.pop_front() {
                match self.route(m, hop) {
                    Routed::Continue => {}
                    Routed::Answer(answer) => {
                        stop = Some(self.answer(answer).await);
                        break;
                    }
                    Routed::Stop(s) => {
                        stop = Some(Err(s));
                        break;
                    }
                }
            }
            match stop {
                Some(Ok(answer)) => {
                    let (inner, correlation, started) =
                        (self.inner.clone(), self.correlation.clone(), self.started);
                    let mut result = self.finish(AskStatus::Answered, Some(answer.clone()));
                    result.background = spawn_background(inner, correlation, started, answer);
                    return result;
                }
                Some(Err(status)) => break status,
                None => {}
            }
            if self.tasks.is_empty() && self.inline.is_empty() {
                break AskStatus::NoAnswer;
            }
            tokio::select! {
                biased;
                () = registration.cancelled() => break AskStatus::Cancelled,
                () = tokio::time::sleep_until(deadline) => break AskStatus::Deadline {
                    timeout_ms: self.inner.config.question_timeout.as_millis() as u64,
                },
                Some((key, outcome)) = self.inline.next(), if !self.inline.is_empty() => {
                    let (agent, topic) = self.inline_pending.remove(&key).unwrap_or_default();
                    match outcome {
                        Ok(delivered) => self.on_delivered(delivered),
                        Err(panic) => self.add_failed(FailedBranch {
                            agent,
                            topic,
                            reason: format!("delivery panicked: {panic}"),
                        }),
                    }
                }
                next = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => match next {
                    None => {}
                    Some(Ok((id, delivered))) => {
                        self.in_flight.remove(&id);
                        self.on_delivered(delivered);
                    }
                    Some(Err(err)) => {
                        let (agent, topic) = self.in_flight.remove(&err.id()).unwrap_or_default();
                        self.add_failed(FailedBranch {
                            agent,
                            topic,
                            reason: format!("delivery task failed: {err}"),
                        });
                    }
                },
            }
        };
        drop(registration);
        self.finish(status, None)
    }

    /// Assembles the result; anything still running is aborted and listed.
    fn finish(mut self, status: AskStatus, answer: Option<Message>) -> AskResult {
        self.tasks.abort_all();
        if status != AskStatus::Answered {
            let why = match &status {
                AskStatus::Deadline { timeout_ms } => {
                    format!("stopped: the question's deadline of {timeout_ms} ms passed")
                }
                AskStatus::BudgetExhausted { budget } => {
                    format!("stopped: the question's message budget of {budget} is spent")
                }
                AskStatus::Cancelled => "stopped: the question was cancelled".to_owned(),
                _ => "stopped".to_owned(),
            };
            let mut pending: Vec<(String, String)> = self
                .in_flight
                .drain()
                .map(|(_, v)| v)
                .chain(self.inline_pending.drain().map(|(_, v)| v))
                .collect();
            pending.sort();
            for (agent, topic) in pending {
                self.add_failed(FailedBranch {
                    agent,
                    topic,
                    reason: why.clone(),
                });
            }
        }
        match &status {
            AskStatus::Answered => tracing::info!("question answered"),
            other => tracing::warn!(status = ?other, "question ended without an answer"),
        }
        AskResult {
            correlation_id: self.correlation.to_string(),
            status,
            answer: answer.map(|m| Payload::from_text(&m.payload)),
            calls: std::mem::take(&mut self.calls),
            verdicts: std::mem::take(&mut self.verdicts),
            failed: std::mem::take(&mut self.failed),
            stages: std::mem::take(&mut self.stages),
            undelivered: std::mem::take(&mut self.undelivered),
            messages: self.messages,
            elapsed_ms: ms(self.started.elapsed()),
            background: None,
        }
    }

    /// Outbound gate on the answer: `Ok(answer)` or the denial as a status.
    async fn answer(&mut self, msg: Message) -> Result<Message, AskStatus> {
        let decision = self
            .inner
            .gate
            .check(
                msg,
                Stage::Outbound,
                None,
                &*self.inner.audit,
                &self.correlation,
            )
            .await;
        self.add_verdicts(decision.verdicts);
        match decision.denied {
            Some(d) => Err(AskStatus::Denied {
                policy: d.policy,
                stage: "outbound".into(),
                reason: d.reason,
            }),
            None => Ok(decision.message),
        }
    }

    /// Decides where one message goes and starts its deliveries.
    fn route(&mut self, msg: Message, hop: u32) -> Routed {
        if msg.topic == ANSWER_TOPIC {
            return Routed::Answer(msg);
        }
        self.messages += 1;
        let inner = self.inner.clone();
        let config = &inner.config;
        if self.messages > config.message_budget {
            tracing::warn!(budget = config.message_budget, topic = %msg.topic, sender = %msg.sender, "message budget spent");
            let budget = config.message_budget;
            self.add_failed(FailedBranch {
                agent: msg.sender.clone(),
                topic: msg.topic.clone(),
                reason: format!(
                    "message budget of {budget} spent: `{}` from `{}` was not delivered",
                    msg.topic, msg.sender
                ),
            });
            return Routed::Stop(AskStatus::BudgetExhausted { budget });
        }
        if hop > config.max_hops {
            tracing::warn!(max_hops = config.max_hops, topic = %msg.topic, sender = %msg.sender, "hop limit reached");
            let max_hops = config.max_hops;
            self.add_failed(FailedBranch {
                agent: msg.sender.clone(),
                topic: msg.topic.clone(),
                reason: format!(
                    "hop limit of {max_hops} reached: `{}` from `{}` was not delivered",
                    msg.topic, msg.sender
                ),
            });
            return Routed::Continue;
        }
        let recipients: Vec<AgentEntry> = match &msg.recipient {
            Some(id) => match self.inner.agents.get(id) {
                Some(a) => vec![a.clone()],
                None => {
                    self.undelivered.push(Undelivered {
                        topic: msg.topic.clone(),
                        sender: msg.sender.clone(),
                        reason: format!("no agent `{id}`"),
                    });
                    return Routed::Continue;
                }
            },
            None => self
                .inner
                .subscribers
                .get(&msg.topic)
                .into_iter()
                .flatten()
                .filter_map(|id| self.inner.agents.get(id).cloned())
                .collect(),
        };
        let gather_topic = msg
            .metadata
            .iter()
            .find(|(k, _)| k == GATHER_KEY)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        let gather = match gather_topic {
            Some(topic) => {
                let id = self.next_gather;
                self.next_gather += 1;
                self.gathers.insert(
                    id,
                    Gather {
                        origin: msg.clone(),
                        origin_hop: hop,
                        topic,
                        remaining: recipients.len(),
                        started: Instant::now(),
                        results: Vec::new(),
                        failed: Vec::new(),
                        branches: Vec::new(),
                    },
                );
                if recipients.is_empty() {
                    self.complete_gather(id);
                    return Routed::Continue;
                }
                Some(id)
            }
            None => None,
        };
        if recipients.is_empty() {
            self.undelivered.push(Undelivered {
                topic: msg.topic.clone(),
                sender: msg.sender.clone(),
                reason: "no agent subscribes to this topic".into(),
            });
            return Routed::Continue;
        }
        let gather_deadline = gather.map(|_| tokio::time::Instant::now() + config.gather_timeout);
        let lone = recipients.len() == 1;
        for agent in recipients {
            let key = (agent.id.clone(), msg.topic.clone());
            let job = Job {
                agent,
                msg: msg.clone(),
                hop,
                gather,
                gather_deadline,
            };
            let delivery = deliver(
                self.inner.clone(),
                self.correlation.clone(),
                self.started,
                job,
            );
            if lone {
                let id = self.next_inline;
                self.next_inline += 1;
                self.inline_pending.insert(id, key);
                self.inline.push(Box::pin(
                    AssertUnwindSafe(delivery)
                        .catch_unwind()
                        .map(move |r| (id, r.map_err(|p| panic_message(&*p)))),
                ));
            } else {
                let handle = self.tasks.spawn(delivery);
                self.in_flight.insert(handle.id(), key);
            }
        }
        Routed::Continue
    }

    /// Takes in one finished delivery.
    fn on_delivered(&mut self, d: Delivered) {
        // Stream order: the gate before each call, the calls, then the gate on
        // the replies (verdicts without a recipient).
        let (before, replies): (Vec<_>, Vec<_>) =
            d.verdicts.into_iter().partition(|v| v.recipient.is_some());
        self.add_verdicts(before);
        for call in &d.calls {
            self.emit(|| BusEvent::Message(call.clone()));
        }
        self.calls.extend(d.calls);
        self.add_verdicts(replies);
        if let Some((primary, reason)) = &d.fallback_from {
            self.add_failed(FailedBranch {
                agent: primary.clone(),
                topic: d.topic_in.clone(),
                reason: format!("{reason} (fallback `{}` took over)", d.agent),
            });
        }
        if let Err(reason) = &d.outcome {
            self.add_failed(FailedBranch {
                agent: d.agent.clone(),
                topic: d.topic_in.clone(),
                reason: reason.clone(),
            });
        }
        match d.gather {
            Some(g) => {
                let Some(gather) = self.gathers.get_mut(&g) else {
                    return;
                };
                gather.branches.push(BranchTiming {
                    agent: d.agent.clone(),
                    outcome: if d.outcome.is_ok() { "ok" } else { "failed" }.into(),
                    duration_ms: ms(d.elapsed),
                });
                match d.outcome {
                    Ok(msgs) => {
                        for m in msgs {
                            gather.results.push(GatheredResult {
                                agent: d.agent.clone(),
                                payload: Payload::from_text(&m.payload),
                                topic: m.topic,
                            });
                        }
                    }
                    Err(reason) => gather
                        .failed
                        .push(json!({ "agent": d.agent, "reason": reason })),
                }
                gather.remaining = gather.remaining.saturating_sub(1);
                if gather.remaining == 0 {
                    self.complete_gather(g);
                }
            }
            None => {
                if let Ok(msgs) = d.outcome {
                    for m in msgs {
                        self.outbox.push_back((m, d.hop + 1));
                    }
                }
            }
        }
    }

    /// Emits the gathered message and evicts the gather.
    fn complete_gather(&mut self, g: u64) {
        let Some(gather) = self.gathers.remove(&g) else {
            return;
        };
        let stage = StageTiming {
            origin_topic: gather.origin.topic.clone(),
            gather_topic: gather.topic.clone(),
            started_ms: ms(gather.started.duration_since(self.started)),
            wall_ms: ms(gather.started.elapsed()),
            branches: gather.branches,
        };
        self.emit(|| BusEvent::Stage(stage.clone()));
        self.stages.push(stage);
        let payload = Gathered {
            failed: &gather.failed,
            origin: Payload::from_text(&gather.origin.payload),
            results: &gather.results,
        };
        let msg = Message {
            id: self.inner.fresh_message_id(&self.correlation),
            correlation_id: self.correlation.to_string(),
            topic: gather.topic,
            sender: BUS_SENDER.to_owned(),
            recipient: None,
            payload: serde_json::to_string(&payload).expect("plain data serializes"),
            metadata: gather
                .origin
                .metadata
                .into_iter()
                .filter(|(k, _)| k != GATHER_KEY)
                .collect(),
        };
        self.outbox.push_back((msg, gather.origin_hop + 1));
    }
}

/// The text of a caught panic (a `&str` or `String` payload, as `panic!` makes).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// Starts the answer's subscribers (the judge) off the caller's path.
fn spawn_background(
    inner: Arc<Inner>,
    correlation: Arc<str>,
    started: Instant,
    answer: Message,
) -> Option<tokio::task::JoinHandle<BackgroundReport>> {
    let entries: Vec<AgentEntry> = inner
        .subscribers
        .get(ANSWER_TOPIC)
        .into_iter()
        .flatten()
        .filter_map(|id| inner.agents.get(id).cloned())
        .collect();
    if entries.is_empty() {
        return None;
    }
    let timeout = inner.config.background_timeout;
    let span = tracing::info_span!("background", correlation = %correlation);
    Some(tokio::spawn(
        async move {
            let mut set = JoinSet::new();
            for agent in entries {
                let job = Job {
                    agent,
                    msg: answer.clone(),
                    hop: 0,
                    gather: None,
                    gather_deadline: None,
                };
                set.spawn(deliver(inner.clone(), correlation.clone(), started, job));
            }
            let mut report = BackgroundReport::default();
            let collect = async {
                while let Some(Ok(d)) = set.join_next().await {
                    report.verdicts.extend(d.verdicts);
                    report.calls.extend(d.calls);
                    match d.outcome {
                        Ok(msgs) => {
                            for m in msgs {
                                let out = Output {
                                    agent: d.agent.clone(),
                                    topic: m.topic.clone(),
                                    payload: Payload::from_text(&m.payload),
                                };
                                inner.audit.record(
                                    AuditEvent::new(
                                        AuditKind::Message,
                                        d.agent.clone(),
                                        json!({ "topic": out.topic, "payload": out.payload }),
                                    )
                                    .plugin(d.agent.clone())
                                    .correlation(correlation.as_ref()),
                                );
                                report.outputs.push(out);
                            }
                        }
                        Err(reason) => report.failed.push(FailedBranch {
                            agent: d.agent,
                            topic: d.topic_in,
                            reason,
                        }),
                    }
                }
            };
            if tokio::time::timeout(timeout, collect).await.is_err() {
                report.failed.push(FailedBranch {
                    agent: "background".into(),
                    topic: ANSWER_TOPIC.into(),
                    reason: format!(
                        "background work exceeded its deadline of {} ms",
                        timeout.as_millis()
                    ),
                });
            }
            report
        }
        .instrument(span),
    ))
}

/// One delivery: hop gate, the call, host stamping of the replies, and (for a
/// gather branch) the gate on each reply, all bounded by the gather deadline.
async fn deliver(
    inner: Arc<Inner>,
    correlation: Arc<str>,
    started: Instant,
    job: Job,
) -> Delivered {
    let begun = Instant::now();
    let mut d = Delivered {
        agent: job.agent.id.clone(),
        topic_in: job.msg.topic.clone(),
        hop: job.hop,
        gather: job.gather,
        calls: Vec::new(),
        fallback_from: None,
        verdicts: Vec::new(),
        outcome: Ok(Vec::new()),
        elapsed: Duration::ZERO,
    };
    let deadline = job.gather_deadline;
    let fallback = inner
        .config
        .fallbacks
        .get(&job.agent.id)
        .and_then(|id| inner.agents.get(id))
        .cloned()
        .map(|agent| Job {
            agent,
            msg: job.msg.clone(),
            hop: job.hop,
            gather: job.gather,
            gather_deadline: job.gather_deadline,
        });
    let work = async {
        let first = deliver_inner(&inner, &correlation, started, job, &mut d).await;
        match (first, fallback) {
            (Err(reason), Some(fb)) => {
                tracing::warn!(agent = %d.agent, fallback = %fb.agent.id, %reason, "agent failed; its fallback takes over");
                d.fallback_from = Some((d.agent.clone(), reason));
                d.agent = fb.agent.id.clone();
                deliver_inner(&inner, &correlation, started, fb, &mut d).await
            }
            (outcome, _) => outcome,
        }
    };
    let outcome = match deadline {
        Some(at) => match tokio::time::timeout_at(at, work).await {
            Ok(o) => o,
            Err(_) => Err(format!(
                "missed the gather deadline of {} ms",
                inner.config.gather_timeout.as_millis()
            )),
        },
        None => work.await,
    };
    d.outcome = outcome;
    d.elapsed = begun.elapsed();
    d
}

async fn deliver_inner(
    inner: &Inner,
    correlation: &str,
    started: Instant,
    job: Job,
    d: &mut Delivered,
) -> Result<Vec<Message>, String> {
    let _permit = inner
        .permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| "the bus is shutting down".to_owned())?;
    let agent = &job.agent;
    let decision = inner
        .gate
        .check(
            job.msg,
            Stage::Hop,
            Some((&agent.id, agent.risk)),
            &*inner.audit,
            correlation,
        )
        .await;
    d.verdicts.extend(decision.verdicts);
    if let Some(denial) = decision.denied {
        return Err(format!(
            "denied by policy `{}`: {}",
            denial.policy, denial.reason
        ));
    }
    let call_started = Instant::now();
    let report = agent.plugin.handle(&decision.message).await;
    let mut call = AgentCall {
        agent: agent.id.clone(),
        sha256: agent.plugin.sha256().to_owned(),
        topic_in: decision.message.topic.clone(),
        topics_out: Vec::new(),
        outputs: Vec::new(),
        outcome: report.outcome_kind().to_owned(),
        fault: None,
        fuel: report.fuel_consumed,
        started_ms: ms(call_started.duration_since(started)),
        duration_ms: ms(report.duration),
    };
    let mut msgs = match report.outcome {
        Ok(msgs) => msgs,
        Err(fault) => {
            let reason = fault.to_string();
            tracing::warn!(agent = %agent.id, fault = fault.kind(), %reason, "agent call failed");
            inner.audit.record(
                AuditEvent::new(
                    AuditKind::PluginFault,
                    "bus",
                    json!({
                        "fault": fault.kind(),
                        "message": reason,
                        "topic": decision.message.topic,
                        "fuel": report.fuel_consumed,
                    }),
                )
                .plugin(agent.id.clone())
                .correlation(correlation),
            );
            call.fault = Some(reason.clone());
            d.calls.push(call);
            return Err(format!("{}: {reason}", fault.kind()));
        }
    };
    for m in &mut msgs {
        m.id = inner.fresh_message_id(correlation);
        m.sender = agent.id.clone();
        m.correlation_id = correlation.to_owned();
        call.topics_out.push(m.topic.clone());
        call.outputs.push(Output {
            agent: agent.id.clone(),
            topic: m.topic.clone(),
            payload: Payload::from_text(&m.payload),
        });
    }
    d.calls.push(call);
    if job.gather.is_some() {
        // A branch's reply goes to the bus, not to an agent: judge it as a hop
        // without a recipient, so e.g. `explainability` still sees it.
        let mut passed = Vec::with_capacity(msgs.len());
        for m in msgs {
            let decision = inner
                .gate
                .check(m, Stage::Hop, None, &*inner.audit, correlation)
                .await;
            d.verdicts.extend(decision.verdicts);
            if let Some(denial) = decision.denied {
                return Err(format!(
                    "reply `{}` denied by policy `{}`: {}",
                    decision.message.topic, denial.policy, denial.reason
                ));
            }
            passed.push(decision.message);
        }
        msgs = passed;
    }
    Ok(msgs)
}
