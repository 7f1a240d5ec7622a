//! Response cache: identical requests to the same provider within a TTL are
//! answered from memory.
//!
//! The key is the SHA-256 of the provider name, model, every message (role and
//! content, length-prefixed so no two requests collide by concatenation),
//! temperature and `max_tokens`. `max_tokens` is in the key as well because a
//! short answer cached for a small cap must not be served to a caller with a
//! larger one. Only successes are cached. The size bound evicts the least
//! recently used entry; expired entries are dropped when met.
//!
//! Concurrent identical misses are coalesced: the first caller (the leader)
//! asks the provider, the others wait for its answer (bounded by their own
//! deadline) and count as cache hits, so a fan-out of agents asking the same
//! thing costs one call. If the leader fails or is cancelled, the waiters fall
//! back to asking the provider themselves; errors are not shared.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::time::Instant;

use super::CallRecord;
use crate::{CallContext, CompletionRequest, CompletionResponse, LlmError, Provider};

/// Cache settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CacheConfig {
    /// How long an answer stays valid, in milliseconds.
    pub ttl_ms: u64,
    /// Most entries kept (across all providers); 0 disables caching.
    pub max_entries: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl_ms: 300_000,
            max_entries: 1024,
        }
    }
}

type Key = [u8; 32];

struct Entry {
    response: CompletionResponse,
    expires: Instant,
    seq: u64,
}

#[derive(Default)]
struct State {
    map: HashMap<Key, Entry>,
    /// Recency order: smallest `seq` is least recently used.
    order: BTreeMap<u64, Key>,
    next_seq: u64,
}

/// Answers being fetched right now, by key.
type InFlight = HashMap<Key, watch::Receiver<Option<CompletionResponse>>>;

/// The bounded, TTL'd store behind [`Cached`]; one can be shared by many chains.
pub struct ResponseCache {
    ttl: Duration,
    max_entries: usize,
    state: Mutex<State>,
    in_flight: Mutex<InFlight>,
}

enum Join<'a> {
    Leader(Flight<'a>),
    Follower(watch::Receiver<Option<CompletionResponse>>),
}

/// The leader's claim on a key; dropping it (success, failure or cancellation)
/// ends the flight, and waiters that got no answer fall back to their own call.
struct Flight<'a> {
    cache: &'a ResponseCache,
    key: Key,
    tx: watch::Sender<Option<CompletionResponse>>,
}

impl Flight<'_> {
    fn finish(self, response: &CompletionResponse) {
        // Into the cache before the flight ends, so no caller misses both.
        self.cache.put(self.key, response.clone());
        self.tx.send_replace(Some(response.clone()));
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        self.cache.flights().remove(&self.key);
    }
}

impl ResponseCache {
    pub fn new(config: CacheConfig) -> Self {
        Self {
            ttl: Duration::from_millis(config.ttl_ms),
            max_entries: config.max_entries,
            state: Mutex::new(State::default()),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    fn flights(&self) -> std::sync::MutexGuard<'_, InFlight> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn join(&self, key: Key) -> Join<'_> {
        let mut flights = self.flights();
        if let Some(rx) = flights.get(&key) {
            return Join::Follower(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        flights.insert(key, rx);
        Join::Leader(Flight {
            cache: self,
            key,
            tx,
        })
    }

    /// Entries currently held (expired ones included until met).
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cache key of a request to `provider`.
    pub fn key(provider: &str, req: &CompletionRequest) -> Key {
        let mut h = Sha256::new();
        let mut field = |b: &[u8]| {
            h.update((b.len() as u64).to_le_bytes());
            h.update(b);
        };
        field(provider.as_bytes());
        field(req.model.as_bytes());
        field(&(req.messages.len() as u64).to_le_bytes());
        for m in &req.messages {
            field(m.role.as_bytes());
            field(m.content.as_bytes());
        }
        match req.temperature {
            Some(t) => field(&t.to_bits().to_le_bytes()),
            None => field(b"none"),
        }
        match req.max_tokens {
            Some(n) => field(&n.to_le_bytes()),
            None => field(b"none"),
        }
        h.finalize().into()
    }

    fn get(&self, key: &Key) -> Option<CompletionResponse> {
        let now = Instant::now();
        let mut s = self.lock();
        let State {
            map,
            order,
            next_seq,
        } = &mut *s;
        let entry = map.get_mut(key)?;
        if entry.expires <= now {
            order.remove(&entry.seq);
            map.remove(key);
            return None;
        }
        order.remove(&entry.seq);
        entry.seq = *next_seq;
        *next_seq += 1;
        order.insert(entry.seq, *key);
        Some(entry.response.clone())
    }

    fn put(&self, key: Key, response: CompletionResponse) {
        if self.max_entries == 0 {
            return;
        }
        let now = Instant::now();
        let mut s = self.lock();
        let State {
            map,
            order,
            next_seq,
        } = &mut *s;
        if let Some(old) = map.remove(&key) {
            order.remove(&old.seq);
        }
        while map.len() >= self.max_entries {
            let Some((_, victim)) = order.pop_first() else {
                break;
            };
            map.remove(&victim);
        }
        let seq = *next_seq;
        *next_seq += 1;
        order.insert(seq, key);
        map.insert(
            key,
            Entry {
                response,
                expires: now + self.ttl,
                seq,
            },
        );
    }
}

/// Serves repeated requests from a [`ResponseCache`].
pub struct Cached {
    inner: Arc<dyn Provider>,
    cache: Arc<ResponseCache>,
}

impl Cached {
    pub fn new(inner: Arc<dyn Provider>, cache: Arc<ResponseCache>) -> Self {
        Self { inner, cache }
    }
}

#[async_trait]
impl Provider for Cached {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn complete(
        &self,
        ctx: &CallContext,
        req: &CompletionRequest,
    ) -> Result<CompletionResponse, LlmError> {
        let key = ResponseCache::key(self.inner.name(), req);
        if let Some(hit) = self.cache.get(&key) {
            CallRecord::set_cache_hit(true);
            return Ok(hit);
        }
        match self.cache.join(key) {
            Join::Leader(flight) => {
                CallRecord::set_cache_hit(false);
                let resp = self.inner.complete(ctx, req).await?;
                flight.finish(&resp);
                Ok(resp)
            }
            Join::Follower(mut rx) => {
                let wait = async {
                    rx.wait_for(Option::is_some)
                        .await
                        .ok()
                        .and_then(|v| v.clone())
                };
                let answer = match ctx.deadline {
                    Some(d) => {
                        let left = d.saturating_duration_since(Instant::now());
                        match tokio::time::timeout_at(d, wait).await {
                            Ok(a) => a,
                            Err(_) => return Err(LlmError::Timeout(left)),
                        }
                    }
                    None => wait.await,
                };
                if let Some(resp) = answer {
                    CallRecord::set_cache_hit(true);
                    return Ok(resp);
                }
                // The leader failed or was cancelled: ask ourselves.
                CallRecord::set_cache_hit(false);
                let resp = self.inner.complete(ctx, req).await?;
                self.cache.put(key, resp.clone());
                Ok(resp)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ChatMessage;

    fn resp(t: &str) -> CompletionResponse {
        CompletionResponse {
            text: t.into(),
            model: "m".into(),
            input_tokens: 1,
            output_tokens: 1,
        }
    }

    fn req(content: &str) -> CompletionRequest {
        CompletionRequest {
            model: "m".into(),
            messages: vec![ChatMessage {
                role: "user".into(),
                content: content.into(),
            }],
            temperature: None,
            max_tokens: None,
        }
    }

    #[test]
    fn key_separates_fields_and_providers() {
        let a = req("ab");
        let mut b = req("a");
        b.messages[0].role = "userb".into(); // concatenation would collide without length prefixes
        assert_ne!(ResponseCache::key("p", &a), ResponseCache::key("p", &b));
        assert_ne!(ResponseCache::key("p", &a), ResponseCache::key("q", &a));
        let mut t = a.clone();
        t.temperature = Some(0.0);
        assert_ne!(ResponseCache::key("p", &a), ResponseCache::key("p", &t));
        assert_eq!(
            ResponseCache::key("p", &a),
            ResponseCache::key("p", &a.clone())
        );
    }

    #[test]
    fn evicts_least_recently_used() {
        let c = ResponseCache::new(CacheConfig {
            ttl_ms: 60_000,
            max_entries: 2,
        });
        let (k1, k2, k3) = ([1; 32], [2; 32], [3; 32]);
        c.put(k1, resp("1"));
        c.put(k2, resp("2"));
        assert!(c.get(&k1).is_some()); // k1 now most recent
        c.put(k3, resp("3")); // evicts k2
        assert_eq!(c.len(), 2);
        assert!(c.get(&k2).is_none());
        assert!(c.get(&k1).is_some());
        assert!(c.get(&k3).is_some());
    }
}
