//! The sandboxed plugin runtime.
//!
//! One [`Runtime`] owns the wasmtime `Engine` (fuel, epochs, pooling allocator),
//! the compiled-component cache and the host services. [`Runtime::load`] turns a
//! component plus its manifest into a [`Plugin`] after every check passes:
//!
//! 1. the manifest parses strictly and its limits fit the host ceilings;
//! 2. the bytes are a component (not a core module, not garbage) and compile;
//! 3. its exports match its `kind`, and every import is granted ([`grants::plan`]);
//! 4. it links against only the granted capabilities;
//! 5. a smoke call to `info()` succeeds within the plugin's limits and returns
//!    the manifest's id.
//!
//! Loading does the slow work (compiling) off the async workers; calling is a
//! fresh instance per call, or a reused one for plugins that opt in with
//! `[limits] pool = N` (see [`plugin`] and [`pool`]).

pub mod bindings;
pub mod cache;
mod engine;
pub mod grants;
pub mod inspect;
pub mod manifest;
pub mod outcome;
pub mod plugin;
pub(crate) mod pool;
pub(crate) mod state;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::Engine;
use wasmtime::component::Linker;

pub use bindings::{
    AgentInfo, GateContext, Message, PluginError, PolicyInfo, RiskLevel, Stage, Verdict,
};
pub use cache::CacheStatus;
pub use grants::GrantError;
pub use inspect::Interfaces;
pub use manifest::{EffectiveLimits, Manifest, ManifestError, PluginId, PluginKind, ScopeRule};
pub use outcome::{CallReport, Fault};
pub use plugin::{Plugin, PluginInfo};

use crate::capabilities::{self, Services};
use inspect::BinaryKind;
use state::PluginContext;

/// Host-wide runtime settings. The defaults run out of the box.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are cached; `None` keeps them in memory only.
    pub cache_dir: Option<PathBuf>,
    /// Limits for plugins whose manifest leaves a value unset.
    pub defaults: EffectiveLimits,
    /// No manifest may ask for more than this.
    pub ceilings: EffectiveLimits,
    /// Instances that may exist at once across all plugins (pooling allocator slots).
    pub max_concurrent_instances: u32,
    /// Idle pooled instances all plugins together may keep. The allocator gets
    /// this many slots on top of `max_concurrent_instances`, so idle instances
    /// never take the slots calls in flight need. `None`: a quarter of
    /// `max_concurrent_instances`; at most `max_concurrent_instances`.
    pub max_idle_instances: Option<u32>,
    /// Epoch tick: the resolution of deadlines.
    pub epoch_tick: Duration,
    /// Per-plugin config values that override the manifest's `[config]`.
    pub plugin_config: HashMap<String, BTreeMap<String, String>>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            defaults: EffectiveLimits {
                fuel: 100_000_000,
                timeout_ms: 2_000,
                memory_mib: 64,
                max_output_bytes: 1 << 20,
                max_messages: 64,
                pool: 0,
            },
            ceilings: EffectiveLimits {
                fuel: 10_000_000_000,
                timeout_ms: 60_000,
                memory_mib: 512,
                max_output_bytes: 16 << 20,
                max_messages: 1024,
                pool: 16,
            },
            max_concurrent_instances: 256,
            max_idle_instances: None,
            epoch_tick: Duration::from_millis(10),
            plugin_config: HashMap::new(),
        }
    }
}

/// Why a plugin was not loaded. Nothing is changed when loading fails.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("plugin `{plugin}`: {problem}")]
    NotAComponent { plugin: String, problem: String },
    #[error("plugin `{plugin}`: the component does not compile: {message}")]
    Compile { plugin: String, message: String },
    #[error(
        "plugin `{plugin}` is declared as {declared} but its component {found}; \
         build it against the `{declared}-plugin` world"
    )]
    WrongKind {
        plugin: String,
        declared: PluginKind,
        found: String,
    },
    #[error(transparent)]
    Grants(#[from] GrantError),
    #[error("plugin `{plugin}`: linking failed: {message}")]
    Link { plugin: String, message: String },
    #[error("plugin `{plugin}`: the info() smoke call failed: {fault}")]
    Smoke { plugin: String, fault: Fault },
    #[error(
        "plugin id mismatch: the manifest says `{manifest}` but the component's info() says `{info}`"
    )]
    IdMismatch { manifest: String, info: String },
}

impl RuntimeConfig {
    /// The host-wide cap on idle pooled instances (see `max_idle_instances`).
    pub fn idle_instance_budget(&self) -> anyhow::Result<u32> {
        let slots = self.max_concurrent_instances;
        let idle = self.max_idle_instances.unwrap_or(slots / 4);
        if idle > slots {
            anyhow::bail!(
                "max_idle_instances = {idle} exceeds max_concurrent_instances = {slots}; \
                 each idle pooled instance reserves allocator slots (and address space) \
                 of its own, so keep it at or below the number of calls in flight"
            );
        }
        Ok(idle)
    }
}

/// The plugin runtime: one engine, one cache, shared host services.
pub struct Runtime {
    engine: Engine,
    cache: cache::ComponentCache,
    config: RuntimeConfig,
    services: Services,
    /// Shared by every plugin's instance pool.
    idle_budget: Arc<pool::IdleBudget>,
}

impl Runtime {
    /// Builds the engine and starts its epoch ticker.
    pub fn new(config: RuntimeConfig, services: Services) -> anyhow::Result<Self> {
        let idle_budget = pool::IdleBudget::new(config.idle_instance_budget()?);
        let engine = engine::build(&config)?;
        engine::spawn_ticker(&engine, config.epoch_tick);
        let cache = cache::ComponentCache::new(&engine, config.cache_dir.clone());
        Ok(Self {
            engine,
            cache,
            config,
            services,
            idle_budget,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Compiles (or fetches from cache) a component and lists its interfaces,
    /// without a manifest: what `djinn plugin inspect` shows.
    pub async fn inspect(&self, bytes: &[u8]) -> Result<(Interfaces, CacheStatus), LoadError> {
        let (component, status, _) = self.compile("(inspect)", bytes).await?;
        Ok((Interfaces::of(&self.engine, &component), status))
    }

    async fn compile(
        &self,
        plugin: &str,
        bytes: &[u8],
    ) -> Result<(wasmtime::component::Component, CacheStatus, String), LoadError> {
        let not_component = |problem: &str| LoadError::NotAComponent {
            plugin: plugin.to_owned(),
            problem: problem.to_owned(),
        };
        match inspect::binary_kind(bytes) {
            BinaryKind::Component => {}
            BinaryKind::CoreModule => {
                return Err(not_component(
                    "this is a core WebAssembly module, not a component; build for \
                     wasm32-wasip2 (or run `wasm-tools component new`)",
                ));
            }
            BinaryKind::NotWasm => {
                return Err(not_component(
                    "this is not WebAssembly (no `\\0asm` component header)",
                ));
            }
        }
        let sha = cache::sha256_hex(bytes);
        let (component, status) = self
            .cache
            .get_or_compile(&self.engine, &sha, Arc::from(bytes))
            .await
            .map_err(|e| LoadError::Compile {
                plugin: plugin.to_owned(),
                message: format!("{e:#}"),
            })?;
        Ok((component, status, sha))
    }

    /// Loads a component under its manifest; see the module docs for the checks.
    pub async fn load(&self, bytes: &[u8], manifest: Manifest) -> Result<Arc<Plugin>, LoadError> {
        manifest.validate()?;
        let limits = EffectiveLimits::resolve(
            &manifest.limits,
            &self.config.defaults,
            &self.config.ceilings,
        )?;
        let id = manifest.id.to_string();
        let (component, cache, sha256) = self.compile(&id, bytes).await?;

        let interfaces = Interfaces::of(&self.engine, &component);
        match interfaces.kind() {
            Some(k) if k == manifest.kind => {}
            other => {
                return Err(LoadError::WrongKind {
                    plugin: id,
                    declared: manifest.kind,
                    found: match other {
                        Some(k) => format!("exports the {k} interface"),
                        None => format!(
                            "exports neither djinn:plugin/agent nor djinn:plugin/policy (exports: {:?})",
                            interfaces.exports
                        ),
                    },
                });
            }
        }
        let plan = grants::plan(&manifest, &interfaces.imports)?;

        let mut linker = Linker::new(&self.engine);
        let link_err = |e: wasmtime::Error| LoadError::Link {
            plugin: id.clone(),
            message: format!("{e:#}"),
        };
        capabilities::link(&mut linker, &plan).map_err(link_err)?;
        let instance_pre = linker.instantiate_pre(&component).map_err(link_err)?;
        let pre = match manifest.kind {
            PluginKind::Agent => plugin::Pre::Agent(
                bindings::agent::AgentPluginPre::new(instance_pre).map_err(link_err)?,
            ),
            PluginKind::Policy => plugin::Pre::Policy(
                bindings::policy::PolicyPluginPre::new(instance_pre).map_err(link_err)?,
            ),
        };

        let mut config: BTreeMap<String, String> = manifest
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        if let Some(overrides) = self.config.plugin_config.get(&id) {
            config.extend(overrides.clone());
        }
        let ctx = Arc::new(PluginContext {
            manifest: Arc::new(manifest),
            limits,
            config,
            services: self.services.clone(),
        });

        let mut plugin = Plugin {
            ctx,
            pre,
            info: PluginInfo::Policy(PolicyInfo {
                id: String::new(),
                name: String::new(),
                version: String::new(),
            }),
            sha256,
            interfaces,
            cache,
            pool: pool::InstancePool::new(limits.pool, Arc::clone(&self.idle_budget)),
        };
        let smoke = match plugin.kind() {
            PluginKind::Agent => {
                let r = plugin.call_agent_info().await;
                r.outcome.map(PluginInfo::Agent)
            }
            PluginKind::Policy => {
                let r = plugin.call_policy_info().await;
                r.outcome.map(PluginInfo::Policy)
            }
        };
        let info = smoke.map_err(|fault| LoadError::Smoke {
            plugin: id.clone(),
            fault,
        })?;
        if info.id() != id {
            return Err(LoadError::IdMismatch {
                manifest: id,
                info: info.id().to_owned(),
            });
        }
        plugin.info = info;
        // The smoke call's instance is already pooled; fill the rest now, on the
        // load path, so the first calls after a load or hot swap are warm.
        plugin.prewarm().await;
        tracing::info!(plugin = %id, sha256 = %plugin.sha256, cache = ?plugin.cache, "plugin loaded");
        Ok(Arc::new(plugin))
    }

    /// Drops this process's compiled copy of a component (e.g. after removal).
    pub fn forget(&self, sha256: &str) {
        self.cache.evict(sha256);
    }
}
