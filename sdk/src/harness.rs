//! Run a built component in the real djinn runtime from a native `#[test]`.
//!
//! The harness uses the same runtime as `djinn serve` (same engine settings,
//! grants check, limits), with the deterministic mock LLM and an in-memory kv, so
//! a plugin's own tests exercise exactly what the host will run.
//!
//! ```ignore
//! use djinn_sdk::harness::{Harness, message};
//!
//! #[test]
//! fn echoes() {
//!     let h = Harness::from_files("target/wasm32-wasip2/release/echo.wasm", "djinn.toml").unwrap();
//!     let report = h.handle(message("echo", r#"{"hi":1}"#));
//!     assert_eq!(report.outcome.unwrap()[0].payload, r#"{"hi":1}"#);
//! }
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use anyhow::{Context, bail};
pub use djinn::runtime::{
    CallReport, Fault, GateContext, Manifest, Message, Plugin, PluginInfo, RiskLevel, Stage,
    Verdict,
};
use djinn::{Runtime, RuntimeConfig, capabilities::Services};
pub use djinn_llm::MockConfig;
use djinn_llm::MockProvider;
pub use djinn_store::MemoryKv;

/// One loaded plugin in a private runtime.
pub struct Harness {
    rt: tokio::runtime::Runtime,
    plugin: Arc<Plugin>,
    kv: Arc<MemoryKv>,
    // Keeps the engine (and its epoch ticker) alive.
    _runtime: Runtime,
}

/// A message as the bus would deliver it, with a fixed correlation id.
pub fn message(topic: &str, payload: &str) -> Message {
    Message {
        id: "msg-1".into(),
        correlation_id: "test-correlation".into(),
        topic: topic.into(),
        sender: "test".into(),
        recipient: None,
        payload: payload.into(),
        metadata: Vec::new(),
    }
}

/// The context of a hop to `recipient`, for policy tests.
pub fn hop(recipient: &str, risk: RiskLevel) -> GateContext {
    GateContext {
        stage: Stage::Hop,
        recipient: Some(recipient.into()),
        recipient_risk: Some(risk),
    }
}

impl Harness {
    /// Loads component bytes under a manifest text, with the mock LLM at defaults.
    pub fn from_bytes(wasm: &[u8], manifest: &str) -> anyhow::Result<Self> {
        Self::with_mock(wasm, manifest, MockConfig::default())
    }

    /// Like [`Harness::from_bytes`] with a configured mock LLM (latency, failures).
    pub fn with_mock(wasm: &[u8], manifest: &str, mock: MockConfig) -> anyhow::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let kv = Arc::new(MemoryKv::new());
        let services = Services {
            kv: kv.clone(),
            llm: Arc::new(MockProvider::new(mock)),
            ..Services::default()
        };
        let config = RuntimeConfig {
            cache_dir: Some(default_cache_dir()),
            ..RuntimeConfig::default()
        };
        let runtime = Runtime::new(config, services)?;
        let manifest = Manifest::parse(manifest)?;
        let plugin = rt.block_on(runtime.load(wasm, manifest))?;
        Ok(Self {
            rt,
            plugin,
            kv,
            _runtime: runtime,
        })
    }

    /// Loads a component file under a `djinn.toml`.
    pub fn from_files(wasm: impl AsRef<Path>, manifest: impl AsRef<Path>) -> anyhow::Result<Self> {
        let (wasm, manifest) = (wasm.as_ref(), manifest.as_ref());
        let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
        let text = std::fs::read_to_string(manifest)
            .with_context(|| format!("reading {}", manifest.display()))?;
        Self::from_bytes(&bytes, &text)
    }

    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    pub fn info(&self) -> &PluginInfo {
        self.plugin.info()
    }

    /// The in-memory kv behind the plugin's `kv` capability.
    pub fn kv(&self) -> &MemoryKv {
        &self.kv
    }

    /// Calls the agent's `handle`.
    pub fn handle(&self, msg: Message) -> CallReport<Vec<Message>> {
        self.rt.block_on(self.plugin.handle(&msg))
    }

    /// Calls the policy's `evaluate`.
    pub fn evaluate(&self, msg: Message, ctx: GateContext) -> CallReport<Verdict> {
        self.rt.block_on(self.plugin.evaluate(&msg, &ctx))
    }
}

/// Shared by every harness in a checkout so each component compiles once.
fn default_cache_dir() -> PathBuf {
    std::env::var_os("DJINN_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("djinn-harness-cache"))
}

/// Builds the plugin crate in `crate_dir` for `wasm32-wasip2` (release) and
/// returns the component's path. For plugin authors outside this workspace.
pub fn build(crate_dir: impl AsRef<Path>) -> anyhow::Result<PathBuf> {
    let dir = crate_dir.as_ref();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = dir.join("target");
    let status = Command::new(cargo)
        .current_dir(dir)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("cargo build for wasm32-wasip2 failed in {}", dir.display());
    }
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))?;
    let name = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("name = "))
        .map(|n| n.trim_matches('"').replace('-', "_"))
        .context("Cargo.toml has no package name")?;
    let wasm = target_dir.join(format!("wasm32-wasip2/release/{name}.wasm"));
    if !wasm.exists() {
        bail!("expected {} after the build", wasm.display());
    }
    Ok(wasm)
}
