//! The one wasmtime `Engine` and its epoch ticker.

use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

use super::RuntimeConfig;

/// Builds the engine every plugin shares: fuel and epoch interruption on, the
/// pooling allocator sized from the host config.
pub(crate) fn build(cfg: &RuntimeConfig) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .cranelift_opt_level(OptLevel::Speed);

    // Idle pooled instances (`[limits] pool`) get slots of their own on top of
    // the ones for calls in flight, so a full set of pools can never leave a
    // fresh call without a slot.
    let slots = cfg.max_concurrent_instances + cfg.idle_instance_budget()?;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(slots)
        // Interpreter components have many core instances each: a componentize-py
        // one does not fit in 8 (its load fails with "maximum concurrent limit of
        // 8 for core instances") and fits in 16.
        .total_core_instances(slots * 16)
        .total_memories(slots * 4)
        .total_tables(slots * 8)
        .total_stacks(slots)
        .max_memory_size(usize::try_from(cfg.ceilings.memory_mib << 20)?);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Ok(Engine::new(&config)?)
}

/// Advances the engine's epoch every `tick` until the engine is dropped. Deadlines
/// are counted in ticks, so `tick` is their resolution.
pub(crate) fn spawn_ticker(engine: &Engine, tick: Duration) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("djinn-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(tick);
            }
        });
    if let Err(e) = spawned {
        // Without the ticker deadlines cannot fire; fuel still bounds every call.
        tracing::error!("could not start the epoch ticker thread: {e}");
    }
}
