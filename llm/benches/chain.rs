//! Overhead of the standard wrapper chain over calling the mock provider
//! directly, measured in the same run: a cache hit (the common repeat) and a
//! cache miss (every wrapper runs, then the mock).
//!
//! `cargo bench -p djinn-llm -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use djinn_llm::chain::CacheConfig;
use djinn_llm::{
    CallContext, ChainBuilder, ChatMessage, CompletionRequest, MockProvider, Provider,
};

fn request() -> CompletionRequest {
    CompletionRequest {
        model: "mock".into(),
        messages: vec![
            ChatMessage {
                role: "system".into(),
                content: "You are a careful financial analyst. Answer in two sentences.".into(),
            },
            ChatMessage {
                role: "user".into(),
                content: "How much did we spend on cloud hosting last quarter compared to the one before?".into(),
            },
        ],
        temperature: Some(0.2),
        max_tokens: Some(256),
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let req = request();
    // A plugin with a budget, so the miss path reads and writes the ledger.
    let ctx = CallContext::new("analyzer").with_daily_token_budget(Some(u64::MAX));

    let mock: Arc<dyn Provider> = Arc::new(MockProvider::default());
    let hit_chain = ChainBuilder::new().wrap(mock.clone());
    // TTL 0: every lookup finds the entry expired, so every call misses and re-inserts.
    let miss_chain = ChainBuilder::new()
        .cache(Some(CacheConfig {
            ttl_ms: 0,
            max_entries: 1024,
        }))
        .wrap(mock.clone());
    rt.block_on(hit_chain.complete(&ctx, &req))
        .expect("warm the cache");

    let mut g = c.benchmark_group("chain");
    g.bench_function("mock_direct", |b| {
        b.iter(|| {
            rt.block_on(mock.complete(black_box(&ctx), black_box(&req)))
                .expect("mock")
        })
    });
    g.bench_function("chain_cache_hit", |b| {
        b.iter(|| {
            rt.block_on(hit_chain.complete(black_box(&ctx), black_box(&req)))
                .expect("hit")
        })
    });
    g.bench_function("chain_cache_miss", |b| {
        b.iter(|| {
            rt.block_on(miss_chain.complete(black_box(&ctx), black_box(&req)))
                .expect("miss")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
