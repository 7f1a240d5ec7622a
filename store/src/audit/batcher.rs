//! Group commit for audit appends.
//!
//! A commit on SQLite with `synchronous=FULL` costs an fsync (~1 ms), so one record per
//! transaction caps the log near a thousand appends per second. The host appends from
//! many tasks at once (verdicts, faults, messages); [`AuditBatcher`] funnels them into
//! one writer task that commits whatever has queued up as a single
//! [`AuditLog::append_batch`], so concurrent callers share each commit. Each caller still
//! gets its own record back only after it is durable.

use tokio::sync::{mpsc, oneshot};

use super::{AuditLog, AuditRecord, NewAuditRecord};
use crate::store::StoreError;

type Reply = oneshot::Sender<Result<AuditRecord, StoreError>>;

/// A handle to the group-commit writer; cheap to clone. The writer task ends when the
/// last handle is dropped.
#[derive(Debug, Clone)]
pub struct AuditBatcher {
    tx: mpsc::Sender<(NewAuditRecord, Reply)>,
}

impl AuditBatcher {
    /// Spawns the writer task on the current tokio runtime. `max_batch` bounds the records
    /// per transaction (and the queue, at twice that).
    pub fn spawn(log: AuditLog, max_batch: usize) -> Self {
        let max_batch = max_batch.max(1);
        let (tx, mut rx) = mpsc::channel::<(NewAuditRecord, Reply)>(max_batch * 2);
        tokio::spawn(async move {
            let mut pending = Vec::with_capacity(max_batch);
            while rx.recv_many(&mut pending, max_batch).await > 0 {
                let (records, replies): (Vec<_>, Vec<_>) = pending.drain(..).unzip();
                match log.append_batch(records).await {
                    Ok(stored) => {
                        for (reply, record) in replies.into_iter().zip(stored) {
                            let _ = reply.send(Ok(record));
                        }
                    }
                    Err(e) => {
                        // The batch was rolled back as a whole: nobody's record is stored.
                        let message = e.to_string();
                        for reply in replies {
                            let _ = reply.send(Err(StoreError::BatchFailed(message.clone())));
                        }
                    }
                }
            }
        });
        Self { tx }
    }

    /// Appends `record`, sharing a transaction with whatever other appends are queued;
    /// returns once it is committed. If the caller stops waiting (the future is dropped)
    /// after the record was queued, the record is still written.
    pub async fn append(&self, record: NewAuditRecord) -> Result<AuditRecord, StoreError> {
        let (reply, answer) = oneshot::channel();
        let closed = || StoreError::BatchFailed("the audit writer task has stopped".into());
        self.tx.send((record, reply)).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}
