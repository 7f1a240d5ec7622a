//! A loaded plugin and its calls.
//!
//! By default every call gets a fresh `Store` from the plugin's pre-linked
//! `InstancePre`: fuel, deadline and memory cap come from the manifest, and nothing
//! survives the call. Instantiation from the pooling allocator with copy-on-write
//! memory images costs tens of microseconds for a Rust component, which is what
//! makes this affordable.
//!
//! Interpreter components cost 1-2 ms per fresh instance, so a manifest may ask
//! for `[limits] pool = N`: a call then takes an idle instance from the plugin's
//! [`InstancePool`] (or instantiates one when none is idle), gets fresh fuel, a
//! fresh deadline and fresh per-call host state, and gives the instance back only
//! if it ended without a sandbox fault. Reuse keeps guest memory across calls;
//! `runtime::pool` explains why that is opt-in and how it is bounded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{Store, Trap, UpdateDeadline};

use super::bindings::agent::{AgentPlugin, AgentPluginPre};
use super::bindings::policy::{PolicyPlugin, PolicyPluginPre};
use super::bindings::{AgentInfo, GateContext, Message, PolicyInfo, Verdict};
use super::cache::CacheStatus;
use super::inspect::Interfaces;
use super::manifest::{Manifest, PluginKind};
use super::outcome::{CallReport, Fault};
use super::pool::InstancePool;
use super::state::{HostState, PluginContext};
use crate::metrics::PoolEvent;

/// Fuel between two voluntary yields to the async executor, so a busy plugin
/// shares its tokio worker instead of holding it for its whole budget.
const FUEL_YIELD_INTERVAL: u64 = 2_000_000;
/// Grace on top of a call's deadline for the outer timeout, which only matters
/// while the guest is inside a host call (wasm itself is stopped by epochs).
const DEADLINE_GRACE: Duration = Duration::from_millis(50);

pub(crate) enum Pre {
    Agent(AgentPluginPre<HostState>),
    Policy(PolicyPluginPre<HostState>),
}

/// The exports of one live instance, bound to its store.
pub(crate) enum Bound {
    Agent(AgentPlugin),
    Policy(PolicyPlugin),
}

impl Bound {
    // A plugin's `Pre` decides its `Bound`, and each call checks `Pre` first, so
    // these errors cannot happen; they are errors rather than panics all the same.
    fn agent(&self) -> wasmtime::Result<&AgentPlugin> {
        match self {
            Bound::Agent(a) => Ok(a),
            Bound::Policy(_) => Err(wasmtime::Error::msg("a policy instance called as an agent")),
        }
    }
    fn policy(&self) -> wasmtime::Result<&PolicyPlugin> {
        match self {
            Bound::Policy(p) => Ok(p),
            Bound::Agent(_) => Err(wasmtime::Error::msg("an agent instance called as a policy")),
        }
    }
}

/// An instance with its store, idle in a pool between calls.
pub(crate) struct Warm {
    store: Store<HostState>,
    bound: Bound,
}

/// What the plugin says about itself.
#[derive(Debug, Clone)]
pub enum PluginInfo {
    Agent(AgentInfo),
    Policy(PolicyInfo),
}

impl PluginInfo {
    pub fn id(&self) -> &str {
        match self {
            PluginInfo::Agent(i) => &i.id,
            PluginInfo::Policy(i) => &i.id,
        }
    }
    pub fn name(&self) -> &str {
        match self {
            PluginInfo::Agent(i) => &i.name,
            PluginInfo::Policy(i) => &i.name,
        }
    }
    pub fn version(&self) -> &str {
        match self {
            PluginInfo::Agent(i) => &i.version,
            PluginInfo::Policy(i) => &i.version,
        }
    }
}

/// A plugin that passed every load check and is ready to call.
pub struct Plugin {
    pub(crate) ctx: Arc<PluginContext>,
    pub(crate) pre: Pre,
    pub(crate) info: PluginInfo,
    pub(crate) sha256: String,
    pub(crate) interfaces: Interfaces,
    pub(crate) cache: CacheStatus,
    /// Idle instances for reuse; never holds any when `limits.pool` is 0.
    pub(crate) pool: InstancePool<Warm>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("id", &self.id())
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    pub fn id(&self) -> &str {
        self.ctx.id()
    }
    pub fn kind(&self) -> PluginKind {
        self.ctx.manifest.kind
    }
    pub fn manifest(&self) -> &Manifest {
        &self.ctx.manifest
    }
    pub fn limits(&self) -> &super::manifest::EffectiveLimits {
        &self.ctx.limits
    }
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }
    /// The agent's info, if this is an agent.
    pub fn agent_info(&self) -> Option<&AgentInfo> {
        match &self.info {
            PluginInfo::Agent(i) => Some(i),
            PluginInfo::Policy(_) => None,
        }
    }
    /// Hex SHA-256 of the component bytes.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }
    pub fn interfaces(&self) -> &Interfaces {
        &self.interfaces
    }
    /// Where the compiled code came from when this plugin was loaded.
    pub fn cache_status(&self) -> CacheStatus {
        self.cache
    }

    /// Idle pooled instances held now (always 0 without `[limits] pool`).
    pub fn idle_instances(&self) -> usize {
        self.pool.idle()
    }

    fn engine(&self) -> &wasmtime::Engine {
        match &self.pre {
            Pre::Agent(p) => p.engine(),
            Pre::Policy(p) => p.engine(),
        }
    }

    fn new_store(&self, deadline: Instant) -> Store<HostState> {
        let mut store = Store::new(self.engine(), HostState::new(self.ctx.clone(), deadline));
        store.limiter(|s| &mut s.limiter);
        // Only fails when fuel is disabled in the engine config, which it never is.
        let _ = store.fuel_async_yield_interval(Some(FUEL_YIELD_INTERVAL));
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            if Instant::now() >= state.deadline {
                state.deadline_hit = true;
                Err(Trap::Interrupt.into())
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        self.arm(&mut store);
        store
    }

    /// Gives a store this call's budget: full fuel and an epoch deadline one tick
    /// away (the callback then checks the wall-clock deadline on every tick).
    fn arm(&self, store: &mut Store<HostState>) {
        // Only fails when fuel is disabled in the engine config, which it never is.
        let _ = store.set_fuel(self.ctx.limits.fuel);
        store.set_epoch_deadline(1);
    }

    async fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<Bound> {
        Ok(match &self.pre {
            Pre::Agent(p) => Bound::Agent(p.instantiate_async(store).await?),
            Pre::Policy(p) => Bound::Policy(p.instantiate_async(store).await?),
        })
    }

    /// Fills the pool with idle instances up to its limit (and the host's idle
    /// budget), so the first calls after a load skip instantiation. Each instance
    /// also answers `info()`, as the load's smoke call did: a first call into an
    /// interpreter component pays for touching its memory image and for lazy
    /// set-up, and a never-called instance would leave that to a real call
    /// (measured in docs/performance.md). Made under the plugin's fuel and
    /// deadline like a call; a failure stops warming and is left for a real call
    /// to report.
    pub(crate) async fn prewarm(&self) {
        if !self.pool.enabled() {
            return;
        }
        let timeout = Duration::from_millis(self.ctx.limits.timeout_ms);
        while self.pool.idle() < self.ctx.limits.pool as usize {
            let mut store = self.new_store(Instant::now() + timeout);
            let warm = async {
                let bound = self.instantiate(&mut store).await?;
                match &bound {
                    Bound::Agent(a) => {
                        a.djinn_plugin_agent().call_info(&mut store).await?;
                    }
                    Bound::Policy(p) => {
                        p.djinn_plugin_policy().call_info(&mut store).await?;
                    }
                }
                wasmtime::Result::<Bound>::Ok(bound)
            };
            let Ok(Ok(bound)) = tokio::time::timeout(timeout + DEADLINE_GRACE, warm).await else {
                return;
            };
            if self.pool.put(Warm { store, bound }).is_err() {
                return;
            }
        }
    }

    /// Runs `f` under this plugin's limits, on an idle pooled instance or a fresh
    /// one, classifies the result and pools the instance again if it ended cleanly.
    async fn run<T, F>(&self, f: F) -> CallReport<T>
    where
        F: AsyncFnOnce(&mut Store<HostState>, &Bound) -> wasmtime::Result<Result<T, Fault>>,
    {
        let start = Instant::now();
        let limits = &self.ctx.limits;
        let deadline = start + Duration::from_millis(limits.timeout_ms);
        let pooled = self.pool.enabled();
        let (mut store, idle) = match self.pool.take() {
            Some(Warm { mut store, bound }) => {
                store.data_mut().reset(deadline);
                self.arm(&mut store);
                (store, Some(bound))
            }
            None => (self.new_store(deadline), None),
        };
        if pooled {
            let event = if idle.is_some() {
                PoolEvent::Hit
            } else {
                PoolEvent::Miss
            };
            self.ctx.services.metrics.plugin_pool(self.id(), event);
        }
        let hard_limit = deadline.saturating_duration_since(start) + DEADLINE_GRACE;
        let call = async {
            let bound = match idle {
                Some(b) => b,
                None => self.instantiate(&mut store).await?,
            };
            let r = f(&mut store, &bound).await?;
            Ok((bound, r))
        };
        let result = tokio::time::timeout(hard_limit, call).await;
        let duration = start.elapsed();
        let fuel_consumed = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        let (outcome, bound) = match result {
            Ok(Ok((bound, r))) => (r, Some(bound)),
            Err(_elapsed) => (
                Err(Fault::Deadline {
                    timeout_ms: limits.timeout_ms,
                }),
                None,
            ),
            Ok(Err(err)) => (Err(classify(&err, store.data(), limits)), None),
        };
        self.emit_output(&store, &outcome);
        let kind = match &outcome {
            Ok(_) => "ok",
            Err(f) => f.kind(),
        };
        self.ctx
            .services
            .metrics
            .plugin_call(self.id(), kind, fuel_consumed);
        if pooled {
            // A plugin's own error is an answer, not misbehaviour: the instance
            // is intact. Any sandbox fault may have left it half-way through.
            let clean = outcome.as_ref().err().is_none_or(|f| !f.is_sandbox_fault());
            let event = match bound {
                Some(bound) if clean => match self.pool.put(Warm { store, bound }) {
                    Ok(()) => None,
                    Err(_full) => Some(PoolEvent::Overflow),
                },
                _ => Some(PoolEvent::Discard),
            };
            if let Some(event) = event {
                self.ctx.services.metrics.plugin_pool(self.id(), event);
            }
        }
        CallReport {
            outcome,
            fuel_consumed,
            duration,
        }
    }

    /// Forwards what the guest wrote to stdout/stderr into the host log.
    fn emit_output<T>(&self, store: &Store<HostState>, outcome: &Result<T, Fault>) {
        let state = store.data();
        let plugin = self.id();
        for (stream, capture) in [("stdout", &state.stdout), ("stderr", &state.stderr)] {
            let (text, dropped) = capture.contents();
            for line in text.lines().filter(|l| !l.is_empty()) {
                tracing::info!(target: "djinn::plugin", plugin, stream, "{line}");
            }
            if dropped > 0 {
                tracing::warn!(target: "djinn::plugin", plugin, stream, dropped, "plugin output truncated");
            }
        }
        if state.log_dropped > 0 {
            tracing::warn!(target: "djinn::plugin", plugin, dropped = state.log_dropped, "plugin log lines dropped");
        }
        if let Err(fault) = outcome {
            tracing::debug!(target: "djinn::plugin", plugin, fault = %fault, "call failed");
        }
    }

    /// Calls the agent's `info`.
    pub async fn call_agent_info(&self) -> CallReport<AgentInfo> {
        let Pre::Agent(_) = &self.pre else {
            return not_this_kind(self.id(), "agent");
        };
        self.run(async |store: &mut Store<HostState>, bound: &Bound| {
            let inst = bound.agent()?;
            Ok(Ok(inst.djinn_plugin_agent().call_info(&mut *store).await?))
        })
        .await
    }

    /// Calls the agent's `handle` with one message.
    pub async fn handle(&self, msg: &Message) -> CallReport<Vec<Message>> {
        let Pre::Agent(_) = &self.pre else {
            return not_this_kind(self.id(), "agent");
        };
        let limits = self.ctx.limits;
        self.run(async |store: &mut Store<HostState>, bound: &Bound| {
            let inst = bound.agent()?;
            let out = inst
                .djinn_plugin_agent()
                .call_handle(&mut *store, msg)
                .await?;
            Ok(match out {
                Ok(msgs) => {
                    check_output(&msgs, limits.max_messages, limits.max_output_bytes).map(|()| msgs)
                }
                Err(e) => Err(Fault::from_plugin_error(e)),
            })
        })
        .await
    }

    /// Calls the policy's `info`.
    pub async fn call_policy_info(&self) -> CallReport<PolicyInfo> {
        let Pre::Policy(_) = &self.pre else {
            return not_this_kind(self.id(), "policy");
        };
        self.run(async |store: &mut Store<HostState>, bound: &Bound| {
            let inst = bound.policy()?;
            Ok(Ok(inst
                .djinn_plugin_policy()
                .call_info(&mut *store)
                .await?))
        })
        .await
    }

    /// Calls the policy's `evaluate`.
    pub async fn evaluate(&self, msg: &Message, ctx: &GateContext) -> CallReport<Verdict> {
        let Pre::Policy(_) = &self.pre else {
            return not_this_kind(self.id(), "policy");
        };
        let limits = self.ctx.limits;
        self.run(async |store: &mut Store<HostState>, bound: &Bound| {
            let inst = bound.policy()?;
            let verdict = inst
                .djinn_plugin_policy()
                .call_evaluate(&mut *store, msg, ctx)
                .await?;
            Ok(match &verdict {
                Verdict::Redact(m) => {
                    check_output(std::slice::from_ref(m), 1, limits.max_output_bytes)
                        .map(|()| verdict)
                }
                _ => Ok(verdict),
            })
        })
        .await
    }
}

fn not_this_kind<T>(id: &str, wanted: &str) -> CallReport<T> {
    CallReport::host_fault(format!("plugin `{id}` is not an {wanted}"))
}

/// Bytes a message costs against the output limit.
pub(crate) fn message_bytes(m: &Message) -> u64 {
    let meta: usize = m.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    (m.payload.len()
        + meta
        + m.topic.len()
        + m.id.len()
        + m.correlation_id.len()
        + m.sender.len()
        + m.recipient.as_ref().map_or(0, String::len)) as u64
}

fn check_output(msgs: &[Message], max_messages: u32, max_bytes: u64) -> Result<(), Fault> {
    if msgs.len() > max_messages as usize {
        return Err(Fault::OutputLimit {
            message: format!(
                "reply has {} messages; the limit is {max_messages}",
                msgs.len()
            ),
        });
    }
    let total: u64 = msgs.iter().map(message_bytes).sum();
    if total > max_bytes {
        return Err(Fault::OutputLimit {
            message: format!("reply is {total} bytes; the limit is {max_bytes}"),
        });
    }
    Ok(())
}

/// Turns a wasmtime error into the fault that caused it.
fn classify(
    err: &wasmtime::Error,
    state: &HostState,
    limits: &super::manifest::EffectiveLimits,
) -> Fault {
    if let Some(wanted) = state.limiter.memory_hit {
        return Fault::MemoryLimit {
            limit_mib: limits.memory_mib,
            wanted_bytes: wanted as u64,
        };
    }
    if state.deadline_hit {
        return Fault::Deadline {
            timeout_ms: limits.timeout_ms,
        };
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Fault::OutOfFuel {
            budget: limits.fuel,
        },
        Some(Trap::Interrupt) => Fault::Deadline {
            timeout_ms: limits.timeout_ms,
        },
        Some(trap) => {
            // A Rust guest prints its panic message to stderr before aborting;
            // that is what the plugin author needs to see.
            let (stderr, _) = state.stderr.contents();
            let said: Vec<&str> = stderr
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
                .collect();
            let said = said.join(" ");
            let mut start = said.len().saturating_sub(512);
            while !said.is_char_boundary(start) {
                start += 1;
            }
            Fault::Trap {
                message: if said.is_empty() {
                    trap.to_string()
                } else {
                    format!("{trap}; guest stderr: {}", &said[start..])
                },
            }
        }
        None => {
            let text = format!("{err:#}");
            if text.contains("pooling allocator") || text.contains("maximum concurrent") {
                Fault::Host { message: text }
            } else {
                Fault::Trap { message: text }
            }
        }
    }
}
