//! The policy gate: every message crosses the enabled policies, in order, before it
//! enters the bus (inbound), before each delivery to an agent (hop) and before the
//! answer leaves (outbound).
//!
//! Why these rules: the first deny wins and is named, so the caller knows which rule
//! to satisfy; redactions apply in order and the redacted message is what later
//! policies (and the recipient) see; a policy that faults is a deny, because a rule
//! that silently did not run would look like a rule that passed (fail closed). A
//! redacting policy may change the payload and metadata only: the host keeps the
//! id, correlation, topic, sender and recipient, so a policy cannot re-route a message.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::result::VerdictRecord;
use crate::audit::{AuditEvent, AuditKind, AuditSink};
use crate::runtime::{CallReport, GateContext, Message, Plugin, RiskLevel, Stage, Verdict};

/// The ordered policy chain.
#[derive(Clone, Default)]
pub struct PolicyGate {
    policies: Vec<Arc<Plugin>>,
    /// How many policies judge a message at once (see [`PolicyGate::judge`]).
    lanes: usize,
}

/// A deny: which policy and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub policy: String,
    pub reason: String,
}

/// What the chain decided about one message.
#[derive(Debug)]
pub struct GateDecision {
    /// The message as it continues (redacted if a policy redacted it).
    pub message: Message,
    pub verdicts: Vec<VerdictRecord>,
    pub denied: Option<Denial>,
}

/// The stage name used in results and audit records.
pub fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Inbound => "inbound",
        Stage::Hop => "hop",
        Stage::Outbound => "outbound",
    }
}

impl PolicyGate {
    /// A chain of these policies, judged in this order.
    pub fn new(policies: Vec<Arc<Plugin>>) -> Self {
        Self { policies, lanes: 1 }
    }

    /// Judges with at most `lanes` policies running at once: 1 (the default) is
    /// one after another; 0 is as many as the tokio runtime has workers. A bus
    /// sets this from `BusConfig::gate_lanes`.
    pub fn with_lanes(mut self, lanes: usize) -> Self {
        self.lanes = lanes;
        self
    }

    /// The policy ids, in order.
    pub fn ids(&self) -> Vec<&str> {
        self.policies.iter().map(|p| p.id()).collect()
    }

    /// Judges `msg` at `stage` by every policy whose `[[scope]]` matches it; stops
    /// at the first deny. Every verdict is recorded in `audit` under
    /// `correlation`: each deny and redact in a record of its own (`plugin` = the
    /// policy, so denials are found by policy name), and each run of consecutive
    /// allows in one record listing the policies (`policies`), in the order they
    /// judged; the first such record also lists the policies the message was out
    /// of scope for (`out_of_scope`), which were not asked. Why grouped: allows are
    /// most of the verdicts (~9 of 10), and a hash-chained record each was most of
    /// the audit's cost per question.
    ///
    /// With lanes (see [`PolicyGate::judge`]) the policies judge concurrently; the
    /// verdicts are taken in chain order, so the decision, the records and the
    /// redactions are exactly those of judging one after another.
    pub async fn check(
        &self,
        msg: Message,
        stage: Stage,
        recipient: Option<(&str, RiskLevel)>,
        audit: &dyn AuditSink,
        correlation: &str,
    ) -> GateDecision {
        let ctx = Arc::new(GateContext {
            stage,
            recipient: recipient.map(|(id, _)| id.to_owned()),
            recipient_risk: recipient.map(|(_, r)| r),
        });
        // Policies whose `[[scope]]` does not match are not asked (see
        // `ScopeRule`); the topic cannot change here, as a redaction keeps it.
        let risk = recipient.map(|(_, r)| risk_name(r));
        let (applicable, mut out_of_scope): (Vec<&Arc<Plugin>>, Vec<&Arc<Plugin>>) = self
            .policies
            .iter()
            .partition(|p| p.manifest().in_scope(stage_name(stage), &msg.topic, risk));
        let policies: Vec<Arc<Plugin>> = applicable.into_iter().cloned().collect();
        let mut current = msg;
        let mut verdicts = Vec::with_capacity(policies.len());
        let mut allowed: Vec<&str> = Vec::new();
        // One record for a run of allows, listing too (once) the policies this
        // message was out of scope for, so every policy in the chain is accounted for.
        let mut flush_allowed = |allowed: &mut Vec<&str>, topic: &str| {
            if allowed.is_empty() && out_of_scope.is_empty() {
                return;
            }
            let mut data = json!({
                "stage": stage_name(stage),
                "topic": topic,
                "recipient": ctx.recipient,
                "verdict": "allow",
                "policies": std::mem::take(allowed),
            });
            if !out_of_scope.is_empty() {
                let ids: Vec<&str> = out_of_scope.drain(..).map(|p| p.id()).collect();
                data["out_of_scope"] = json!(ids);
            }
            audit.record(
                AuditEvent::new(AuditKind::PolicyVerdict, "bus", data).correlation(correlation),
            );
        };
        let mut next = 0;
        'judging: while next < policies.len() {
            let (message, reports) = self.judge(&policies[next..], current, &ctx).await;
            current = message;
            for (offset, (report, elapsed)) in reports.into_iter().enumerate() {
                let policy = &policies[next + offset];
                let (verdict, reason) = match report.outcome {
                    Ok(Verdict::Allow) => ("allow", None),
                    Ok(Verdict::Deny(reason)) => ("deny", Some(reason)),
                    Ok(Verdict::Redact(redacted)) => {
                        current.payload = redacted.payload;
                        current.metadata = redacted.metadata;
                        ("redact", None)
                    }
                    Err(fault) => (
                        "deny",
                        Some(format!(
                            "policy `{}` faulted ({fault}); failing closed",
                            policy.id()
                        )),
                    ),
                };
                let record = VerdictRecord {
                    policy: policy.id().to_owned(),
                    stage: stage_name(stage).to_owned(),
                    topic: current.topic.clone(),
                    recipient: ctx.recipient.clone(),
                    verdict: verdict.to_owned(),
                    reason: reason.clone(),
                    fuel: report.fuel_consumed,
                    duration_ms: elapsed.as_secs_f64() * 1e3,
                };
                if verdict == "allow" {
                    allowed.push(policy.id());
                } else {
                    flush_allowed(&mut allowed, &current.topic);
                    audit.record(
                        AuditEvent::new(
                            AuditKind::PolicyVerdict,
                            "bus",
                            json!({
                                "stage": record.stage,
                                "topic": record.topic,
                                "recipient": record.recipient,
                                "verdict": record.verdict,
                                "reason": record.reason,
                            }),
                        )
                        .plugin(policy.id())
                        .correlation(correlation),
                    );
                }
                if verdict == "deny" {
                    tracing::info!(
                        correlation,
                        policy = policy.id(),
                        stage = stage_name(stage),
                        topic = %current.topic,
                        reason = reason.as_deref().unwrap_or(""),
                        "policy denied a message"
                    );
                }
                verdicts.push(record);
                if let Some(reason) = reason {
                    return GateDecision {
                        message: current,
                        verdicts,
                        denied: Some(Denial {
                            policy: policy.id().to_owned(),
                            reason,
                        }),
                    };
                }
                if verdict == "redact" {
                    // The policies after this one judged the message before the
                    // redaction; they judge the redacted message again.
                    next += offset + 1;
                    continue 'judging;
                }
            }
            break;
        }
        flush_allowed(&mut allowed, &current.topic);
        GateDecision {
            message: current,
            verdicts,
            denied: None,
        }
    }

    /// Runs `policies` on `msg` and returns the message with the reports
    /// in chain order up to and including the first that is not an allow (after it
    /// nothing counts).
    ///
    /// The policies are dealt round-robin to up to `lanes` lanes (see
    /// [`PolicyGate::with_lanes`]), one task each, and each lane judges its
    /// policies in order and stops at its first non-allow.
    ///
    /// Why lanes: policies only read the message (they import nothing but `log` and
    /// `config`), so judging them at once cannot change any verdict, and a gate is
    /// on the question's critical path for every hop; on a serial stretch of the
    /// pipeline the other cores are idle. One task per lane, not per policy, keeps
    /// the cross-thread wake-ups to one per extra lane. The price is speculative
    /// work: a policy after a deny or a redact may already have run, and after a
    /// redact the later policies judge again. Both are rare, and each evaluation is
    /// bounded by its policy's fuel, deadline and memory limits. Off by default
    /// (`BusConfig::gate_lanes` = 1): with the bundled chain on two cores, waking
    /// another worker cost about what a lane saved (docs/performance.md).
    async fn judge(
        &self,
        policies: &[Arc<Plugin>],
        msg: Message,
        ctx: &Arc<GateContext>,
    ) -> (Message, Vec<(CallReport<Verdict>, Duration)>) {
        let lanes = self.effective_lanes().min(policies.len()).max(1);
        if lanes == 1 {
            let reports = judge_lane(policies.iter(), &msg, ctx).await;
            return (msg, reports);
        }
        let shared = Arc::new(msg);
        // Every lane is a task, the first spawned last: tokio runs a task spawned
        // from a worker next on that worker (its LIFO slot, which other workers
        // cannot steal), so a lane run inline here would leave the other lanes
        // waiting behind it. Spawned this way, this worker runs the first lane and
        // the others are in its queue for an idle worker to steal.
        let spawn_lane = |lane: usize| {
            let mine: Vec<Arc<Plugin>> =
                policies.iter().skip(lane).step_by(lanes).cloned().collect();
            let (msg, ctx) = (shared.clone(), ctx.clone());
            // Aborted on drop, so a question that is dropped stops its lanes too.
            AbortOnDrop(tokio::spawn(async move {
                judge_lane(mine.iter(), &msg, &ctx).await
            }))
        };
        let mut tasks: Vec<AbortOnDrop<_>> = (1..lanes).map(spawn_lane).collect();
        tasks.insert(0, spawn_lane(0));
        let mut by_lane = Vec::with_capacity(lanes);
        for (lane, task) in tasks.iter_mut().enumerate() {
            by_lane.push(match (&mut task.0).await {
                Ok(reports) => reports,
                Err(err) => vec![(
                    CallReport::host_fault(format!(
                        "the task judging policy `{}` failed: {err}",
                        policies[lane].id()
                    )),
                    Duration::ZERO,
                )],
            });
        }
        drop(tasks);
        // Back to chain order: policy `i` is lane `i % lanes`, position `i / lanes`.
        let mut lanes_iter: Vec<_> = by_lane.into_iter().map(Vec::into_iter).collect();
        let mut reports = Vec::with_capacity(policies.len());
        for i in 0..policies.len() {
            let Some(report) = lanes_iter[i % lanes].next() else {
                break;
            };
            let decided = ends_judging(&report.0);
            reports.push(report);
            if decided {
                break;
            }
        }
        let msg = Arc::try_unwrap(shared).unwrap_or_else(|still_shared| (*still_shared).clone());
        (msg, reports)
    }

    fn effective_lanes(&self) -> usize {
        if self.lanes == 1 {
            // The default: no need to look the runtime up on every gate.
            return 1;
        }
        let workers = tokio::runtime::Handle::try_current()
            .map(|h| h.metrics().num_workers())
            .unwrap_or(1);
        match self.lanes {
            0 => workers,
            n => n.min(workers),
        }
    }
}

/// The name a manifest's `recipient_risk` uses for `risk`.
fn risk_name(risk: RiskLevel) -> &'static str {
    match risk {
        RiskLevel::Low => "low",
        RiskLevel::Medium => "medium",
        RiskLevel::High => "high",
    }
}

/// Whether a report ends the judging of a message: anything but an allow (a deny,
/// a redaction, a fault). A lane stops there, and so does taking the lanes'
/// reports back in chain order; both must agree on it.
fn ends_judging(report: &CallReport<Verdict>) -> bool {
    !matches!(report.outcome, Ok(Verdict::Allow))
}

/// Judges `policies` one after another on `msg`, stopping after the first report
/// that is not an allow.
async fn judge_lane<'a>(
    policies: impl Iterator<Item = &'a Arc<Plugin>>,
    msg: &Message,
    ctx: &GateContext,
) -> Vec<(CallReport<Verdict>, Duration)> {
    let mut reports = Vec::new();
    for policy in policies {
        let started = Instant::now();
        let report = policy.evaluate(msg, ctx).await;
        let decided = ends_judging(&report);
        reports.push((report, started.elapsed()));
        if decided {
            break;
        }
    }
    reports
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
