//! The store data: WASI context, limiter, deadline and captured output.
//!
//! By default a fresh [`HostState`] (and `Store`) is made for every call, so nothing
//! a plugin writes into memory or host state outlives the call or reaches another
//! caller. A plugin with `[limits] pool = N` reuses stores; [`HostState::reset`]
//! then clears everything per call here before the next call (see `runtime::pool`).

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::manifest::{EffectiveLimits, Manifest};
use crate::capabilities::Services;

/// What every call of one plugin shares: identity, grants and host services.
pub struct PluginContext {
    pub manifest: Arc<Manifest>,
    pub limits: EffectiveLimits,
    /// Manifest `[config]` merged with the host's overrides, as text.
    pub config: BTreeMap<String, String>,
    pub services: Services,
}

impl PluginContext {
    pub fn id(&self) -> &str {
        self.manifest.id.as_str()
    }
}

/// Bytes of stdout/stderr kept per call; the rest is counted and dropped.
const CAPTURE_BYTES: usize = 16 * 1024;
/// `log` calls honoured per call; the rest are counted and dropped.
pub(crate) const MAX_LOG_LINES: u32 = 256;
/// Longest `log` message kept, in bytes.
pub(crate) const MAX_LOG_BYTES: usize = 4096;

/// Store data for one call, or for consecutive calls of one pooled instance.
pub struct HostState {
    pub(crate) plugin: Arc<PluginContext>,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) deadline: Instant,
    pub(crate) deadline_hit: bool,
    pub(crate) log_lines: u32,
    pub(crate) log_dropped: u32,
    pub(crate) stdout: Capture,
    pub(crate) stderr: Capture,
}

impl HostState {
    pub(crate) fn new(plugin: Arc<PluginContext>, deadline: Instant) -> Self {
        let stdout = Capture::default();
        let stderr = Capture::default();
        // The narrowest WASI: no args, no environment, no preopened directories,
        // no sockets or name lookups, empty stdin. Clocks and randomness stay:
        // they reveal nothing and std needs them (e.g. HashMap seeds).
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let limiter = Limiter::new(&plugin.limits);
        Self {
            plugin,
            wasi,
            table: ResourceTable::new(),
            limiter,
            deadline,
            deadline_hit: false,
            log_lines: 0,
            log_dropped: 0,
            stdout,
            stderr,
        }
    }
}

impl HostState {
    /// Makes a reused store look fresh to the host for the next call: a new
    /// deadline, no fault flags, empty output captures and log counters. The
    /// WASI context and resource table stay, because the guest holds handles
    /// into them (e.g. its stdout stream); the memory cap stays too.
    pub(crate) fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        self.deadline_hit = false;
        self.limiter.memory_hit = None;
        self.log_lines = 0;
        self.log_dropped = 0;
        self.stdout.clear();
        self.stderr.clear();
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Memory, table and instance caps for one store. Hitting the memory cap is
/// recorded so the call's outcome says "memory limit", not a bare trap.
pub(crate) struct Limiter {
    memory_bytes: usize,
    pub(crate) memory_hit: Option<usize>,
}

/// Tables and instances are not plugin-tunable: a component needs a handful.
const MAX_TABLE_ELEMENTS: usize = 100_000;
const MAX_INSTANCES: usize = 64;
const MAX_TABLES: usize = 64;
const MAX_MEMORIES: usize = 16;

impl Limiter {
    fn new(limits: &EffectiveLimits) -> Self {
        Self {
            memory_bytes: usize::try_from(limits.memory_mib << 20).unwrap_or(usize::MAX),
            memory_hit: None,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.memory_hit = Some(desired);
            // Trap rather than let `memory.grow` return -1: the guest could only
            // abort anyway, and a host-side error names the cause.
            return Err(wasmtime::Error::msg(format!(
                "memory limit: growing to {desired} bytes exceeds the cap of {} bytes",
                self.memory_bytes
            )));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }
    fn tables(&self) -> usize {
        MAX_TABLES
    }
    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// A bounded in-memory sink for the guest's stdout or stderr.
#[derive(Clone, Default)]
pub(crate) struct Capture(Arc<Mutex<CaptureBuf>>);

#[derive(Default)]
struct CaptureBuf {
    bytes: Vec<u8>,
    dropped: usize,
}

impl Capture {
    /// The captured text and how many bytes were dropped past the cap.
    pub(crate) fn contents(&self) -> (String, usize) {
        match self.0.lock() {
            Ok(b) => (String::from_utf8_lossy(&b.bytes).into_owned(), b.dropped),
            Err(_) => (String::new(), 0),
        }
    }

    /// Empties the buffer for the next call of a pooled instance, so each call
    /// gets the whole cap and its log shows only its own output.
    fn clear(&self) {
        if let Ok(mut b) = self.0.lock() {
            b.bytes.clear();
            b.dropped = 0;
        }
    }

    fn append(&self, data: &[u8]) {
        if let Ok(mut b) = self.0.lock() {
            let room = CAPTURE_BYTES.saturating_sub(b.bytes.len());
            let keep = room.min(data.len());
            b.bytes.extend_from_slice(&data[..keep]);
            b.dropped += data.len() - keep;
        }
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        // Accept everything so a chatty guest never blocks or fails; keep the first bytes.
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::Services;
    use crate::runtime::{Manifest, RuntimeConfig};

    #[test]
    fn reset_clears_every_per_call_field_and_keeps_the_memory_cap() {
        let manifest = Manifest::parse("id = \"a\"\nkind = \"agent\"").unwrap();
        let limits = RuntimeConfig::default().defaults;
        let ctx = Arc::new(PluginContext {
            manifest: Arc::new(manifest),
            limits,
            config: BTreeMap::new(),
            services: Services::default(),
        });
        let first = Instant::now();
        let mut state = HostState::new(ctx, first);
        state.deadline_hit = true;
        state.limiter.memory_hit = Some(1 << 30);
        state.log_lines = MAX_LOG_LINES;
        state.log_dropped = 7;
        state.stdout.append(&vec![b'x'; CAPTURE_BYTES + 10]);
        state.stderr.append(b"panicked");

        let next = first + std::time::Duration::from_secs(1);
        state.reset(next);
        assert_eq!(state.deadline, next);
        assert!(!state.deadline_hit);
        assert_eq!(state.limiter.memory_hit, None);
        assert_eq!((state.log_lines, state.log_dropped), (0, 0));
        assert_eq!(state.stdout.contents(), (String::new(), 0));
        assert_eq!(state.stderr.contents(), (String::new(), 0));
        assert_eq!(
            state.limiter.memory_bytes,
            (limits.memory_mib << 20) as usize
        );
        // The guest's stream handles still write into the same (now empty) buffers.
        state.stdout.append(b"next call");
        assert_eq!(state.stdout.contents().0, "next call");
    }
}
