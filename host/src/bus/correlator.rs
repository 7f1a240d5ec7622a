//! Per-question state the bus shares: which correlations are in flight and how to
//! cancel one.
//!
//! The state itself (open gathers, pending calls) lives inside the question's
//! future; this registry only holds a [`Registration`] whose `Drop` removes the
//! entry. Completion, deadline, cancel and a caller dropping the future all end by
//! dropping it, so no path can leak an entry (Genie's supervisor kept a session map
//! that was never evicted).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

/// The in-flight correlations.
#[derive(Debug, Default)]
pub struct Correlator {
    open: Mutex<HashMap<String, Arc<Notify>>>,
    seq: AtomicU64,
}

impl Correlator {
    /// A fresh, process-unique correlation id.
    pub fn fresh_id(&self) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        format!("q-{nanos:x}-{n}")
    }

    /// Registers `id`; the entry lives as long as the returned guard.
    pub fn register(self: &Arc<Self>, id: &str) -> Registration {
        let cancel = Arc::new(Notify::new());
        if let Ok(mut open) = self.open.lock() {
            open.insert(id.to_owned(), cancel.clone());
        }
        Registration {
            correlator: self.clone(),
            id: id.to_owned(),
            cancel,
        }
    }

    /// How many questions are in flight.
    pub fn pending(&self) -> usize {
        self.open.lock().map(|o| o.len()).unwrap_or(0)
    }

    /// The correlation ids in flight, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .open
            .lock()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// Asks the question `id` to stop; false when it is not in flight.
    pub fn cancel(&self, id: &str) -> bool {
        let notify = self.open.lock().ok().and_then(|o| o.get(id).cloned());
        match notify {
            Some(n) => {
                n.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Keeps one correlation registered; dropping it evicts the entry.
#[derive(Debug)]
pub struct Registration {
    correlator: Arc<Correlator>,
    id: String,
    cancel: Arc<Notify>,
}

impl Registration {
    /// Resolves when [`Correlator::cancel`] is called for this correlation.
    pub async fn cancelled(&self) {
        self.cancel.notified().await;
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut open) = self.correlator.open.lock() {
            open.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_registration_evicts_the_entry() {
        let c = Arc::new(Correlator::default());
        let id = c.fresh_id();
        let r = c.register(&id);
        assert_eq!(c.pending(), 1);
        assert!(c.cancel(&id));
        drop(r);
        assert_eq!(c.pending(), 0);
        assert!(!c.cancel(&id));
    }

    #[test]
    fn ids_are_unique() {
        let c = Correlator::default();
        assert_ne!(c.fresh_id(), c.fresh_id());
    }
}
