//! Bounded pools of idle, pre-instantiated plugin instances (`[limits] pool = N`).
//!
//! A fresh instance per call is the default and the safe choice: nothing a plugin
//! writes into its linear memory or globals can outlive the call. For interpreter
//! components (CPython, StarlingMonkey) instantiation and the first touch of
//! their memory image cost a millisecond or two per call, so a plugin may opt in
//! to reuse: after a call that ended cleanly its `Store` and instance go back to
//! its pool and a later call picks them up.
//!
//! Why it is opt-in per plugin, never a host default: **a reused instance keeps
//! its guest memory between calls, and so between questions and users.** A plugin
//! that caches the last message in a global will see it in the next call, which
//! may come from another tenant. Only pool plugins whose authors treat module state
//! as shared across callers (as a server process would).
//!
//! What keeps reuse safe otherwise:
//! - an instance is owned by one call at a time: [`InstancePool::take`] removes it
//!   from the pool, so two calls can never share one;
//! - a call never waits for an instance: when none is idle it makes a fresh one,
//!   so a pool only bounds how many idle instances are *kept*, not concurrency;
//! - an instance whose call faulted (trap, fuel, deadline, memory, output limit,
//!   host fault) is dropped, never returned: a guest interrupted half-way may have
//!   broken invariants, and wasmtime refuses to re-enter a trapped instance;
//! - per-call store state (fuel, deadline, captured output, log counters, the
//!   memory limiter's fault flag) is reset before each call; the memory cap stays.
//!
//! Idle instances hold pooling-allocator slots (a component instance, its core
//! instances, memories and tables; not a stack, which is taken per call). An
//! [`IdleBudget`] shared by every plugin caps the idle instances host-wide
//! (`max_idle_instances`), and the engine is given that many slots on top of
//! `max_concurrent_instances` (`engine::build`), so pools can never take the slots
//! calls in flight need: when the budget is used up a finished instance is
//! dropped instead of kept.
//!
//! A load pre-warms a pooled plugin: it fills the pool with instances that have
//! answered `info()`, so the first calls after a load or hot swap are warm too.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// The host-wide number of idle instances all pools together may still keep.
#[derive(Debug)]
pub(crate) struct IdleBudget {
    free: AtomicU32,
}

impl IdleBudget {
    pub(crate) fn new(total: u32) -> Arc<Self> {
        Arc::new(Self {
            free: AtomicU32::new(total),
        })
    }

    /// One unit of the budget, or `None` when every unit is held.
    fn acquire(self: &Arc<Self>) -> Option<IdleSlot> {
        self.free
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .ok()
            .map(|_| IdleSlot(Arc::clone(self)))
    }

    #[cfg(test)]
    fn free(&self) -> u32 {
        self.free.load(Ordering::Acquire)
    }
}

/// One unit of an [`IdleBudget`], held while an instance sits idle and given
/// back when it is dropped (the instance was taken for a call or discarded).
#[derive(Debug)]
struct IdleSlot(Arc<IdleBudget>);

impl Drop for IdleSlot {
    fn drop(&mut self) {
        self.0.free.fetch_add(1, Ordering::AcqRel);
    }
}

/// At most `limit` idle instances of one plugin.
pub(crate) struct InstancePool<W> {
    limit: usize,
    idle: Mutex<Vec<(W, IdleSlot)>>,
    budget: Arc<IdleBudget>,
}

impl<W> InstancePool<W> {
    pub(crate) fn new(limit: u32, budget: Arc<IdleBudget>) -> Self {
        Self {
            limit: limit as usize,
            idle: Mutex::new(Vec::new()),
            budget,
        }
    }

    /// Whether this pool keeps instances at all (`limit > 0`).
    pub(crate) fn enabled(&self) -> bool {
        self.limit > 0
    }

    /// The most recently returned idle instance (its memory is the likeliest to
    /// be in cache), now owned by the caller alone.
    pub(crate) fn take(&self) -> Option<W> {
        let taken = self.idle.lock().ok()?.pop();
        // The slot is released here, outside the lock.
        taken.map(|(w, _slot)| w)
    }

    /// Offers a cleanly finished instance back. `Err` hands it back when the pool
    /// already holds its limit or the host-wide budget is spent; the caller drops
    /// it outside the lock (freeing a store returns its slots to the allocator).
    pub(crate) fn put(&self, w: W) -> Result<(), W> {
        if !self.enabled() {
            return Err(w);
        }
        let Ok(mut idle) = self.idle.lock() else {
            return Err(w);
        };
        if idle.len() >= self.limit {
            return Err(w);
        }
        match self.budget.acquire() {
            Some(slot) => {
                idle.push((w, slot));
                Ok(())
            }
            None => Err(w),
        }
    }

    /// Idle instances held now.
    pub(crate) fn idle(&self) -> usize {
        self.idle.lock().map_or(0, |v| v.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_its_limit_and_hands_each_instance_out_once() {
        let pool = InstancePool::new(2, IdleBudget::new(100));
        assert_eq!(pool.put(1), Ok(()));
        assert_eq!(pool.put(2), Ok(()));
        assert_eq!(pool.put(3), Err(3));
        assert_eq!(pool.idle(), 2);
        // Last in, first out; each instance leaves the pool when taken.
        assert_eq!(pool.take(), Some(2));
        assert_eq!(pool.take(), Some(1));
        assert_eq!(pool.take(), None);
    }

    #[test]
    fn a_zero_limit_keeps_nothing() {
        let budget = IdleBudget::new(10);
        let pool = InstancePool::new(0, budget.clone());
        assert!(!pool.enabled());
        assert_eq!(pool.put(1), Err(1));
        assert_eq!(pool.take(), None);
        assert_eq!(budget.free(), 10);
    }

    #[test]
    fn the_host_budget_caps_idle_instances_across_pools() {
        let budget = IdleBudget::new(3);
        let a = InstancePool::new(2, budget.clone());
        let b = InstancePool::new(2, budget.clone());
        assert_eq!(a.put(1), Ok(()));
        assert_eq!(a.put(2), Ok(()));
        assert_eq!(b.put(3), Ok(()));
        assert_eq!(b.put(4), Err(4), "budget spent although b has room");
        assert_eq!(budget.free(), 0);
        // Taking an instance out gives its unit back for any pool.
        assert_eq!(a.take(), Some(2));
        assert_eq!(budget.free(), 1);
        assert_eq!(b.put(4), Ok(()));
        // Dropping a pool (its plugin was unloaded) gives back all it held.
        drop(a);
        drop(b);
        assert_eq!(budget.free(), 3);
    }
}
