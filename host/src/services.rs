//! Building [`Services`] for a long-running host: store-backed kv, a usage ledger
//! that makes LLM budgets survive restarts, the LLM chain from config, and an
//! audit sink writing the hash-chained log.

use std::sync::Arc;

use async_trait::async_trait;
use djinn_llm::{LlmStack, Usage, UsageLedger, UtcDay};
use djinn_store::Store;
use djinn_store::chrono::NaiveDate;
use tokio::sync::{mpsc, oneshot};

use crate::audit::{AuditEvent, AuditSink};
use crate::capabilities::Services;
use crate::config::HostConfig;

/// The LLM budget's ledger over the store's `usage` table.
pub struct StoreUsage(pub djinn_store::UsageLedger);

fn to_date(day: UtcDay) -> Result<NaiveDate, String> {
    let (y, m, d) = day.ymd();
    i32::try_from(y)
        .ok()
        .and_then(|y| NaiveDate::from_ymd_opt(y, m, d))
        .ok_or_else(|| format!("day {day} is out of range"))
}

#[async_trait]
impl UsageLedger for StoreUsage {
    async fn usage(&self, plugin_id: &str, day: UtcDay) -> Result<Usage, String> {
        let u = self
            .0
            .usage(plugin_id, to_date(day)?)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Usage {
            calls: 0,
            input_tokens: u.tokens_in,
            output_tokens: u.tokens_out,
            cost_micros: u.cost_micros,
        })
    }

    async fn record(&self, plugin_id: &str, day: UtcDay, usage: Usage) -> Result<(), String> {
        let u = djinn_store::Usage {
            tokens_in: usage.input_tokens,
            tokens_out: usage.output_tokens,
            cost_micros: usage.cost_micros,
        };
        self.0
            .add_usage(plugin_id, to_date(day)?, u)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Audit events queued to one writer task that appends them to the store's log
/// in batches (one transaction per batch: the chain stays linear and appends stay
/// cheap). `record` never blocks; if the queue is full the event is counted and
/// logged as lost rather than stalling a request.
pub struct StoreAudit {
    events: mpsc::Sender<AuditEvent>,
    flushes: mpsc::UnboundedSender<oneshot::Sender<()>>,
    lost: std::sync::atomic::AtomicU64,
}

const AUDIT_QUEUE: usize = 65_536;
const AUDIT_BATCH: usize = 512;
/// How long the writer lets a batch fill after its first event.
const AUDIT_LINGER: std::time::Duration = std::time::Duration::from_millis(10);

impl StoreAudit {
    /// Starts the writer task on the current tokio runtime.
    ///
    /// The writer commits group-wise: after the first event of a batch it sleeps
    /// for [`AUDIT_LINGER`] (cut short by a `flush`), then takes everything queued
    /// (up to [`AUDIT_BATCH`]) and writes it in one transaction. Why: an append
    /// costs per transaction (the write lock, the chain head, a commit and an
    /// fsync), not per record, and a question's events arrive spread over its
    /// whole run, one or two per gate; written as they came, that was ~16
    /// transactions a question, and a wake-up of the writer per event. The answer
    /// never waits for its audit either way; the linger only delays when its
    /// records reach the disk, by at most 10 ms.
    pub fn spawn(log: djinn_store::AuditLog) -> Arc<Self> {
        let (events, mut rx) = mpsc::channel::<AuditEvent>(AUDIT_QUEUE);
        let (flushes, mut flush_rx) = mpsc::unbounded_channel::<oneshot::Sender<()>>();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(AUDIT_BATCH);
            let mut waiters = Vec::new();
            let mut open = true;
            while open || !batch.is_empty() {
                if waiters.is_empty() && batch.is_empty() {
                    // Idle: wait for an event or a flush.
                    tokio::select! {
                        event = rx.recv() => match event {
                            Some(e) => batch.push(e),
                            None => open = false,
                        },
                        Some(w) = flush_rx.recv() => waiters.push(w),
                    }
                    if open && waiters.is_empty() {
                        // Let the batch fill; events queue without waking us.
                        tokio::select! {
                            () = tokio::time::sleep(AUDIT_LINGER) => {}
                            Some(w) = flush_rx.recv() => waiters.push(w),
                        }
                    }
                }
                // Flushes first: every event recorded before a flush is queued
                // before it, so it is in the drain below.
                while let Ok(w) = flush_rx.try_recv() {
                    waiters.push(w);
                }
                let mut drained = false;
                while batch.len() < AUDIT_BATCH {
                    match rx.try_recv() {
                        Ok(e) => batch.push(e),
                        Err(mpsc::error::TryRecvError::Empty) => {
                            drained = true;
                            break;
                        }
                        Err(mpsc::error::TryRecvError::Disconnected) => {
                            drained = true;
                            open = false;
                            break;
                        }
                    }
                }
                if !batch.is_empty() {
                    let n = batch.len();
                    if let Err(e) = log.append_batch(std::mem::take(&mut batch)).await {
                        tracing::error!(target: "djinn::audit", records = n, "audit append failed: {e}");
                    }
                }
                if drained {
                    for w in waiters.drain(..) {
                        let _ = w.send(());
                    }
                }
            }
            for w in waiters.drain(..) {
                let _ = w.send(());
            }
        });
        Arc::new(Self {
            events,
            flushes,
            lost: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Waits until everything recorded before this call is written.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.flushes.send(tx).is_ok() {
            let _ = rx.await;
        }
    }

    /// Events dropped because the queue was full.
    pub fn lost(&self) -> u64 {
        self.lost.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl AuditSink for StoreAudit {
    fn record(&self, event: AuditEvent) {
        if self.events.try_send(event).is_err() {
            self.lost.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::error!(target: "djinn::audit", "audit queue full or closed; event lost");
        }
    }

    fn flush(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(StoreAudit::flush(self))
    }
}

/// What a long-running host holds besides the runtime.
pub struct HostServices {
    pub services: Services,
    pub store: Store,
    pub llm: LlmStack,
    pub audit: Arc<StoreAudit>,
}

/// Opens the database (running migrations), builds the LLM chain with the
/// store-backed ledger, and wires kv and audit to the store.
pub async fn open(config: &HostConfig) -> anyhow::Result<HostServices> {
    let url = config.database_url();
    if let Some(path) = url.strip_prefix("sqlite://")
        && let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    let options = djinn_store::StoreOptions {
        sqlite_synchronous_full: config.sqlite_synchronous == crate::config::SqliteSync::Full,
        ..Default::default()
    };
    let store = Store::open_with(&url, &options).await?;
    let ledger = Arc::new(StoreUsage(store.usage()));
    let llm = config.llm.build_with(&|k| std::env::var(k).ok(), ledger)?;
    for (provider, why) in &llm.unavailable {
        tracing::info!(target: "djinn::llm", provider, "provider not configured: {why}");
    }
    let audit = StoreAudit::spawn(store.audit());
    let services = Services {
        kv: Arc::new(store.kv()),
        llm: llm.provider.clone(),
        audit: audit.clone(),
        metrics: Arc::new(crate::metrics::HostMetrics::new()),
    };
    Ok(HostServices {
        services,
        store,
        llm,
        audit,
    })
}
